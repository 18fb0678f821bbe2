"""Experiment configuration (Model Garden style): one dataclass, recipes as YAML, flag overrides on top.

Resolution order, last wins: dataclass defaults < `--config FILE` (YAML or JSON; a bare recipe name such as
`cpu_minilm_kornli` loads `tf_simcse/configs/<name>.yaml`) < command-line flags. The resolved config is written to
`<output_dir>/config.json` and is what a resumed run is checked against.
"""

import dataclasses
import json
import os
import pathlib
import re
import typing

import yaml

from tf_simcse.data import carve as carve_lib
from tf_simcse.encoders.poolers import POOLERS
from tf_simcse.objectives import DISTILL, OBJECTIVES, TARGET_OBJECTIVES

RECIPES_DIR = pathlib.Path(__file__).parent / "configs"
STRATEGIES = ("auto", "cpu", "gpu", "mirrored", "tpu", "multiworker")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass
class TrainConfig:
    """Every knob of a training run. Defaults are the SimCSE paper's unsupervised BERT-base setting."""

    # --- what to train
    model: str = ""  # HF checkpoint dir, keras-hub preset dir, or a tf_simcse training output / encoder dir
    objective: str = "unsup"  # unsup | sup | pair | cosent | cosine_mse | online_contrastive | contrastive | distill
    pooler: str = "cls"
    mlp_only_train: bool = False  # the paper uses it for unsup with the cls pooler
    reset_mlp: bool = True  # fresh MLP head as in the official code (else start from the checkpoint's pooler)
    dropout: typing.Optional[float] = None  # None: the checkpoint's hidden_dropout_prob (0.1 for BERT)
    # --- data
    train_data: list = dataclasses.field(default_factory=list)  # specs: tfds:NAME[/CONFIG]:SPLIT or local files
    eval_data: list = dataclasses.field(default_factory=list)  # evaluate-style tasks: korsts:dev=PATH
    test_data: list = dataclasses.field(default_factory=list)  # reported once at the end, never used for selection
    max_seq_length: int = 32
    dedupe_in_batch: bool = False
    # Batch texts of similar token length together (within windows of `grouping_window` batches, batch order
    # still random): less padding with dynamic shapes, faster on the CPU recipe (docs/benchmarks.md). It also
    # changes which texts meet as in-batch negatives.
    length_grouping: bool = False
    grouping_window: int = 64
    pad_to_multiple_of: typing.Optional[int] = None  # dynamic shapes + XLA: round lengths up, few compiles
    encode_anchors_apart: bool = False  # sup/pair: anchors and candidates padded and encoded in separate passes
    static_shapes: typing.Optional[bool] = None  # None: on for TPU (pad to max_seq_length, drop_remainder)
    # --- objective
    temperature: float = 0.05
    hard_negative_weight: float = 0.0
    symmetric: bool = False
    do_mlm: bool = False
    mlm_weight: float = 0.1
    # --- pair objectives (scored / labelled pairs, tf_simcse.data.pairs)
    cosent_scale: float = 20.0  # CoSENT's scale (Su, 2022; sentence-transformers' CoSENTLoss)
    margin: float = 0.5  # online_contrastive / contrastive: cosine-distance margin (sentence-transformers)
    max_score: float = 5.0  # cosine_mse regresses cos on score / max_score (KorSTS, KLUE-STS, STS-B: 0-5)
    label_column: typing.Optional[str] = None  # labelled pairs: the label column (default: label / is_duplicate)
    positive_label: typing.Optional[str] = None  # labelled pairs: the value meaning "same" (default "1")
    # --- distill (Reimers & Gurevych, 2020): the student (--model) regresses the teacher's embeddings
    teacher: str = ""  # any --model tf_simcse reads; it embeds each distinct training sentence once (cached)
    student_layers: typing.Optional[str] = None  # "0,2,4": the student keeps these layers of --model
    # --- optimisation
    # GradCache: encode each replica's views this many sequences at a time, with the one-pass step's gradients
    # (tf_simcse.gradcache): big contrastive batches in the memory of one chunk, for one more forward pass.
    gradcache_chunk_size: typing.Optional[int] = None
    batch_size: int = 64  # global batch (all replicas)
    learning_rate: float = 3e-5
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    max_grad_norm: typing.Optional[float] = 1.0  # clip the global gradient norm (Hugging Face Trainer's default)
    epochs: int = 1
    max_steps: typing.Optional[int] = None
    seed: int = 42
    # --- hardware
    strategy: str = "auto"
    tpu: typing.Optional[str] = None
    precision: str = "auto"
    jit_compile: bool = False
    # Train steps per compiled call (Keras `steps_per_execution`); None: 1, or on TPU the gcd of log_steps,
    # eval_steps and checkpoint_steps (fewer host round trips).
    steps_per_execution: typing.Optional[int] = None
    # --- bookkeeping
    output_dir: str = ""
    eval_steps: int = 125
    metric_for_best_model: str = "cosine_spearman"  # a key of the first eval task's figures
    checkpoint_steps: int = 125
    log_steps: int = 10
    export: bool = True

    def validate(self):
        """Raises `tf_simcse.errors.UserInputError` (a ValueError) naming the first bad option."""
        import math

        from tf_simcse.errors import UserInputError

        def bad(name, message):
            raise UserInputError(f"config option {name!r}: {message}")

        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            kinds = set(typing.get_args(field.type) or (field.type,)) - {type(None)}
            if value is None and type(None) in typing.get_args(field.type):
                continue
            if kinds == {float} and (isinstance(value, bool) or not isinstance(value, (int, float))):
                hint = " (YAML reads 3e-5 as text: write 3.0e-5)" if isinstance(value, str) else ""
                bad(field.name, f"expected a number, got {value!r}{hint}")
            if kinds == {int} and (isinstance(value, bool) or not isinstance(value, int)):
                bad(field.name, f"expected an integer, got {value!r}")
            if kinds == {bool} and not isinstance(value, bool):
                bad(field.name, f"expected true or false, got {value!r}")
            # NaN passes every `<=` / `<` check below and inf trains into NaN: refused for every float option.
            if kinds == {float} and not math.isfinite(value):
                bad(field.name, f"must be a finite number, got {value}")

        if not self.model:
            bad("model", "required (a Hugging Face checkpoint dir, a keras-hub preset dir or a tf_simcse output dir)")
        if self.objective not in OBJECTIVES:
            bad("objective", f"{self.objective!r} is not one of {OBJECTIVES}")
        if self.pooler not in POOLERS:
            bad("pooler", f"{self.pooler!r} is not one of {POOLERS}")
        if not self.train_data:
            bad("train_data", "at least one data spec is required")
        if not self.output_dir:
            bad("output_dir", "required")
        if self.strategy not in STRATEGIES:
            bad("strategy", f"{self.strategy!r} is not one of {STRATEGIES}")
        if self.precision not in PRECISIONS:
            bad("precision", f"{self.precision!r} is not one of {PRECISIONS}")
        for name in ("batch_size", "max_seq_length", "epochs", "eval_steps", "checkpoint_steps", "log_steps"):
            if getattr(self, name) < 1:
                bad(name, f"must be >= 1, got {getattr(self, name)}")
        if self.max_seq_length < 3:
            bad("max_seq_length", "must leave room for [CLS], [SEP] and one token")
        if self.grouping_window < 1:
            bad("grouping_window", f"must be >= 1, got {self.grouping_window}")
        if self.pad_to_multiple_of is not None and self.pad_to_multiple_of < 1:
            bad("pad_to_multiple_of", f"must be >= 1 (or null), got {self.pad_to_multiple_of}")
        if self.gradcache_chunk_size is not None and self.gradcache_chunk_size < 1:
            bad("gradcache_chunk_size", f"must be >= 1 (or null), got {self.gradcache_chunk_size}")
        if self.gradcache_chunk_size and self.do_mlm:
            bad("gradcache_chunk_size", "cannot be combined with do_mlm (the MLM loss reads every token's output, "
                "which GradCache does not keep)")
        if self.steps_per_execution is not None and self.steps_per_execution < 1:
            bad("steps_per_execution", f"must be >= 1 (or null), got {self.steps_per_execution}")
        if self.max_steps is not None and self.max_steps < 1:
            bad("max_steps", f"must be >= 1, got {self.max_steps}")
        if self.objective == DISTILL and not self.teacher:
            bad("teacher", "required with objective 'distill' (the model whose embeddings the student learns)")
        if self.objective != DISTILL and (self.teacher or self.student_layers):
            bad("teacher" if self.teacher else "student_layers", "is an option of objective 'distill' only")
        if self.objective in TARGET_OBJECTIVES:
            for name in ("do_mlm", "symmetric", "encode_anchors_apart"):
                if getattr(self, name):
                    bad(name, f"is not an option of objective {self.objective!r} (SimCSE objectives only)")
            if self.hard_negative_weight:
                bad("hard_negative_weight", f"is not an option of objective {self.objective!r}")
        if self.cosent_scale <= 0:
            bad("cosent_scale", f"must be > 0, got {self.cosent_scale}")
        if self.margin <= 0:
            bad("margin", f"must be > 0, got {self.margin}")
        if self.max_score <= 0:
            bad("max_score", f"must be > 0, got {self.max_score}")
        if self.temperature <= 0:
            bad("temperature", f"must be > 0, got {self.temperature}")
        if self.learning_rate <= 0:
            bad("learning_rate", f"must be > 0, got {self.learning_rate}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            bad("warmup_ratio", f"must be in [0, 1), got {self.warmup_ratio}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            bad("max_grad_norm", f"must be > 0 (or null for no clipping), got {self.max_grad_norm}")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            bad("dropout", f"must be in [0, 1), got {self.dropout}")
        selection = [(t, *_task_split(t, "eval_data")) for t in self.eval_data]
        for t in self.test_data:
            split, carve = _task_split(t, "test_data")
            for e, e_split, e_carve in selection:
                if split != e_split or not carve_lib.overlaps(carve, e_carve):
                    continue
                if carve == e_carve:
                    bad("test_data", f"{t!r} is also an eval_data split used to select the best checkpoint")
                bad("test_data", f"{t!r} shares rows with the eval_data split {e!r} used to select the best "
                    f"checkpoint (carve-out {carve_lib.describe(carve)} and {carve_lib.describe(e_carve)} of "
                    f"{split} overlap)")
        _refuse_training_rows(self.train_data, "eval_data", self.eval_data)
        _refuse_training_rows(self.train_data, "test_data", self.test_data)
        return self

    def to_dict(self):
        return dataclasses.asdict(self)


def _task_split(task, option):
    """`korsts:dev=PATH` -> `("korsts:dev", None)`, `korsts:train[:10%]=PATH` -> `("korsts:train", [:10%])`: the
    identity of a split (whatever file it is read from) and the carve-out slice of it (None: all of it)."""
    from tf_simcse.evaluation.tasks import split_task_text

    name, split, carve, _ = split_task_text(str(task), what=f"config option {option!r}: {str(task)!r}")
    return f"{name}:{split}", carve


def _file_identity(path):
    return path if "://" in path else os.path.realpath(path)


def _training_sources(spec):
    """`({source}, CarveSlice or None)` of a training data spec, without reading it: a source is `("file", real
    path)` or `("tfds", name, config, split)` (versions dropped; TFDS row-count slices read as the whole split)."""
    from tf_simcse.data import specs as specs_lib

    text = str(spec)
    if text.startswith(specs_lib.TFDS_PREFIX):
        parsed = specs_lib._parse_tfds(text)
        name = parsed.path_or_name.split(":")[0].lower()
        config = (parsed.config or "").split(":")[0].lower() or None
        parts = {re.sub(r"\[[^\]]*\]", "", part).strip() for part in parsed.split.split("+")}
        return {("tfds", name, config, part) for part in parts}, parsed.carve
    path, carve = specs_lib.split_file_spec(text)
    return {("file", _file_identity(path))}, carve


def _task_source(name, split, path):
    """The source of an evaluation task's split, as `_training_sources` names them (None: not known)."""
    from tf_simcse.evaluation.tasks import TFDS_NAMES

    if path is not None:
        return ("file", _file_identity(path))
    if name not in TFDS_NAMES:
        return None
    tfds_name, _, config = TFDS_NAMES[name].partition("/")
    return ("tfds", tfds_name, config or None, split)


def _refuse_training_rows(train_data, option, tasks):
    """Refuses an eval/test task that reads rows of the training data: the same file (or TFDS split), with
    carve-out slices that overlap (no slice on one side is all of it). A file and a TFDS dataset prepared from
    it are different sources here."""
    from tf_simcse.errors import UserInputError
    from tf_simcse.evaluation.tasks import split_task_text

    training = []
    for spec in train_data:
        try:
            training.append((spec, *_training_sources(spec)))
        except carve_lib.CarveSliceError:
            raise
        except UserInputError:
            continue  # a malformed spec otherwise: its loader says what is wrong
    for task in tasks:
        text = str(task)
        name, split, carve, path = split_task_text(text, what=f"config option {option!r}: {text!r}")
        source = _task_source(name, split, path)
        for spec, sources, train_carve in training:
            if source not in sources or not carve_lib.overlaps(carve, train_carve):
                continue
            where = "the same file" if source[0] == "file" else f"TFDS split {source[1]}:{split}"
            raise UserInputError(
                f"config options {option!r} and 'train_data': {text!r} reads rows the model trains on ({where}, "
                f"{carve_lib.describe(carve)} here and {carve_lib.describe(train_carve)} in train_data {str(spec)!r}); "
                "give the two complementary carve-out slices, e.g. train_data sts-train.tsv[10%:] with eval_data "
                "korsts:train[:10%]=sts-train.tsv"
            )


FIELD_TYPES = {f.name: f for f in dataclasses.fields(TrainConfig)}
# A config file with `stages:` is a multi-stage recipe (tf_simcse.stages): its other keys are every stage's defaults.
STAGES_KEY = "stages"


def load_config_file(path_or_recipe):
    """Reads a YAML/JSON config file (local or any TensorFlow filesystem: gs://...), or a shipped recipe by
    name; returns a dict."""
    from tf_simcse import fileio

    path = str(path_or_recipe)
    if not fileio.exists(path) and not os.path.splitext(path)[1] and "/" not in path:
        recipe = RECIPES_DIR / f"{path}.yaml"
        if recipe.exists():
            path = str(recipe)
    if not fileio.isfile(path):
        names = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))
        raise FileNotFoundError(f"--config {path_or_recipe}: no such file, and not a shipped recipe ({names}).")
    text = fileio.read_text(path)
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ValueError(f"--config {path}: cannot parse: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"--config {path}: expected a mapping of option: value at the top level.")
    unknown = sorted(set(data) - set(FIELD_TYPES) - {STAGES_KEY})
    if unknown:
        raise ValueError(f"--config {path}: unknown option(s) {unknown}; known: {sorted(FIELD_TYPES)}")
    if STAGES_KEY in data:
        stages = data[STAGES_KEY]
        if not isinstance(stages, list) or not stages or not all(isinstance(st, dict) for st in stages):
            raise ValueError(f"--config {path}: '{STAGES_KEY}' must be a list of mappings (one training config each)")
        for k, stage in enumerate(stages, start=1):
            unknown = sorted(set(stage) - set(FIELD_TYPES) - {"name"})
            if unknown:
                raise ValueError(f"--config {path}: stage {k}: unknown option(s) {unknown}")
    return data


def build_config(file_values=None, overrides=None):
    """Defaults < file values < overrides (dicts of option -> value); validated."""
    values = {}
    values.update(file_values or {})
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    config = TrainConfig(**values)
    return config.validate()
