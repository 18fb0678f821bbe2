"""Experiment configuration (Model Garden style): one dataclass, recipes as YAML, flag overrides on top.

Resolution order, last wins: dataclass defaults < `--config FILE` (YAML or JSON; a bare recipe name such as
`cpu_minilm_kornli` loads `tf_simcse/configs/<name>.yaml`) < command-line flags. The resolved config is written to
`<output_dir>/config.json` and is what a resumed run is checked against.

Each option is declared once, with its group (`GROUPS`), its help text and its choices: `--help` of
`python -m tf_simcse.train`, docs/config.md (`python -m tf_simcse.config > docs/config.md`) and `validate` all
read that declaration. A config file may list options flat (`learning_rate: 3.0e-5`) or under their groups
(`optimization: {learning_rate: 3.0e-5}`); the two forms mix.
"""

import dataclasses
import json
import os
import pathlib
import re
import typing

import yaml

from tf_simcse._cli import MODEL_FORMS
from tf_simcse.data import carve as carve_lib
from tf_simcse.encoders.poolers import POOLERS
from tf_simcse.objectives import DISTILL, OBJECTIVES, TARGET_OBJECTIVES

RECIPES_DIR = pathlib.Path(__file__).parent / "configs"
STRATEGIES = ("auto", "cpu", "gpu", "mirrored", "tpu", "multiworker")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


# The option groups, in the order of --help, docs/config.md and a grouped config file.
GROUPS = {
    "model": "what to train: the checkpoint, its pooler and dropout",
    "data": "training data, the dev tasks that select best/, the test tasks reported once; batching",
    "objective": "the loss: SimCSE's contrastive loss and its variants, the pair objectives, distillation",
    "optimization": "optimizer, schedule, batch, steps, seed",
    "hardware": "distribution strategy, precision, compilation",
    "bookkeeping": "output directory, evaluation, checkpoints, logging, export",
}


def option(default, group, help, *, choices=None, factory=None):
    """A `TrainConfig` field with its group and help text (the one source of --help, docs/config.md and the
    choices `validate` checks)."""
    metadata = {"group": group, "help": help, "choices": choices}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class TrainConfig:
    """Every knob of a training run. Defaults are the SimCSE paper's unsupervised BERT-base setting."""

    # --- model
    model: str = option("", "model", f"the model to start from: {MODEL_FORMS}")
    pooler: str = option("cls", "model", "sentence pooler; cls = [CLS] + MLP head (the paper's default)",
                         choices=POOLERS)
    mlp_only_train: bool = option(False, "model",
                                  "with pooler cls: use the MLP head in training only (the paper's unsup setting)")
    reset_mlp: bool = option(True, "model", "start the MLP head from a fresh normal(0.02) init as the official code "
                             "does (else from the checkpoint's pooler)")
    dropout: typing.Optional[float] = option(None, "model", "dropout rate of the encoder (default: the checkpoint's "
                                             "hidden_dropout_prob, 0.1 for BERT)")
    # --- data
    train_data: list = option(None, "data", "training data spec, repeatable: tfds:NAME[/CONFIG]:SPLIT, a .txt file, "
                              "a KorNLI-style TSV or a sent0,sent1[,hard_neg] CSV; pair objectives: scored or "
                              "labelled pairs. A trailing carve-out slice [a%:b%] keeps only the rows whose bucket, "
                              "sha256(sentence1 TAB sentence2)[:8] big-endian mod 100, is in [a, b): "
                              "sts-train.tsv[10%:], tfds:korsts:train[10%:]", factory=list)
    eval_data: list = option(None, "data", "dev task for evaluation and checkpoint selection, repeatable: "
                             "NAME[:SPLIT][[a%:b%]][=PATH] as in tf_simcse.evaluate; select on a carve-out of the "
                             "training file with the complementary slices: --train_data sts-train.tsv[10%:] "
                             "--eval_data korsts:train[:10%]=sts-train.tsv (a task that shares rows with train_data "
                             "is refused)", factory=list)
    test_data: list = option(None, "data", "task reported once at the end with the best checkpoint, repeatable; must "
                             "not share rows with an eval_data split or train_data", factory=list)
    max_seq_length: int = option(32, "data", "tokens per sentence incl. special tokens")
    dedupe_in_batch: bool = option(False, "data",
                                   "keep repeated texts out of one batch (in-batch false negatives; supervised data)")
    # Also changes which texts meet as in-batch negatives (docs/benchmarks.md measures the speed-up).
    length_grouping: bool = option(False, "data", "batch texts of similar token length together, within windows of "
                                   "grouping_window batches, batch order still random (less padding, faster with "
                                   "dynamic shapes)")
    grouping_window: int = option(64, "data", "with length_grouping: batches per window sorted by length (bigger: "
                                  "less padding, less random)")
    pad_to_multiple_of: typing.Optional[int] = option(None, "data", "with dynamic shapes: round each batch's length "
                                                      "up to a multiple of this (few XLA compiles)")
    encode_anchors_apart: bool = option(False, "data", "sup/pair with dynamic shapes: pad and encode the anchors "
                                        "apart from the positives and hard negatives (premises are longer than "
                                        "hypotheses: less padding)")
    static_shapes: typing.Optional[bool] = option(None, "data", "pad every batch to max_seq_length and drop the "
                                                  "last partial batch (TPU/XLA); default: on for TPU only")
    # --- objective
    objective: str = option("unsup", "objective", "training objective (`python -m tf_simcse.train --help` describes each)",
                            choices=OBJECTIVES)
    temperature: float = option(0.05, "objective", "softmax temperature tau of the contrastive loss")
    hard_negative_weight: float = option(0.0, "objective",
                                         "log-weight added to each anchor's own hard-negative logit (sup)")
    symmetric: bool = option(False, "objective", "also add the positive->anchor direction of the loss")
    do_mlm: bool = option(False, "objective", "add the masked-language-model auxiliary loss")
    mlm_weight: float = option(0.1, "objective", "weight of the MLM auxiliary loss")
    cosent_scale: float = option(20.0, "objective",
                                 "cosent: scale of the cosine differences (20 in the paper and sentence-transformers)")
    margin: float = option(0.5, "objective",
                           "online_contrastive / contrastive: margin on the cosine distance 1 - cos")
    max_score: float = option(5.0, "objective", "cosine_mse: the top of the score scale (the cosine regresses "
                              "score / max_score; KorSTS, KLUE-STS, STS-B: 5)")
    label_column: typing.Optional[str] = option(None, "objective",
                                                "labelled pairs: the label column (default: label, or is_duplicate)")
    positive_label: typing.Optional[str] = option(None, "objective",
                                                  "labelled pairs: the label value that means 'same' (default 1)")
    teacher: str = option("", "objective", "distill: the teacher model (any --model form; its own pooler, this "
                          "run's max_seq_length); each distinct training sentence is embedded once (cached)")
    student_layers: typing.Optional[str] = option(None, "objective", "distill: keep only these layers of --model "
                                                  "for the student, e.g. 0,2,4 (DistilKoBERT-style)")
    # --- optimization
    batch_size: int = option(64, "optimization", "global batch size (split over replicas)")
    gradcache_chunk_size: typing.Optional[int] = option(None, "optimization", "GradCache: encode at most this many "
                                                        "sequences at a time per replica, with the same gradients "
                                                        "(batches of negatives larger than memory, for one more "
                                                        "forward pass)")
    learning_rate: float = option(3e-5, "optimization", "peak learning rate (AdamW, linear decay)")
    weight_decay: float = option(0.0, "optimization", "decoupled weight decay (bias and LayerNorm excluded)")
    warmup_ratio: float = option(0.0, "optimization", "fraction of the steps with linear warmup")
    max_grad_norm: typing.Optional[float] = option(1.0, "optimization", "clip the global gradient norm to this "
                                                   "(Hugging Face Trainer's default; null: no clipping)")
    epochs: int = option(1, "optimization", "passes over the training data")
    max_steps: typing.Optional[int] = option(None, "optimization",
                                             "stop after this many steps (batches; overrides epochs when smaller)")
    seed: int = option(42, "optimization", "seed of data order, dropout and initialisation")
    # --- hardware
    strategy: str = option("auto", "hardware", "distribution (multiworker: MultiWorkerMirroredStrategy from "
                           "TF_CONFIG, or Vertex AI's CLUSTER_SPEC)", choices=STRATEGIES)
    tpu: typing.Optional[str] = option(None, "hardware", "TPU name or address for --strategy tpu (default: the "
                                       "local TPU VM, as on Colab)")
    precision: str = option("auto", "hardware", "numeric policy (auto: bf16 on TPU, fp16 on GPU, fp32 on CPU)",
                            choices=PRECISIONS)
    jit_compile: bool = option(False, "hardware", "compile the train step with XLA")
    steps_per_execution: typing.Optional[int] = option(None, "hardware", "train steps per compiled call (Keras "
                                                       "steps_per_execution): fewer host round trips; 1 by default, "
                                                       "on TPU the gcd of log_steps, eval_steps and checkpoint_steps")
    # --- bookkeeping
    output_dir: str = option("", "bookkeeping", "where checkpoints/, best/, logs/, config.json and metrics.json go")
    eval_steps: int = option(125, "bookkeeping", "evaluate on eval_data every this many steps")
    metric_for_best_model: str = option("cosine_spearman", "bookkeeping",
                                        "figure of the first eval task that selects best/ (higher is better)")
    checkpoint_steps: int = option(125, "bookkeeping", "save a resumable checkpoint every this many steps")
    log_steps: int = option(10, "bookkeeping", "print the loss every this many steps (when no progress bar is shown)")
    export: bool = option(True, "bookkeeping", "export TF Hub SavedModels and a keras-hub preset of best/ at the end")

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
        for field in dataclasses.fields(self):
            choices = field.metadata["choices"]
            if choices is not None and getattr(self, field.name) not in choices:
                bad(field.name, f"{getattr(self, field.name)!r} is not one of {choices}")
        if not self.train_data:
            bad("train_data", "at least one data spec is required")
        if not self.output_dir:
            bad("output_dir", "required")
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
    data = _ungrouped(data, f"--config {path}")
    unknown = sorted(set(data) - set(FIELD_TYPES) - {STAGES_KEY})
    if unknown:
        raise ValueError(f"--config {path}: unknown option(s) {unknown}; known: {sorted(FIELD_TYPES)}")
    if STAGES_KEY in data:
        stages = data[STAGES_KEY]
        if not isinstance(stages, list) or not stages or not all(isinstance(st, dict) for st in stages):
            raise ValueError(f"--config {path}: '{STAGES_KEY}' must be a list of mappings (one training config each)")
        for k, stage in enumerate(stages, start=1):
            stage = stages[k - 1] = _ungrouped(stage, f"--config {path}: stage {k}")
            unknown = sorted(set(stage) - set(FIELD_TYPES) - {"name"})
            if unknown:
                raise ValueError(f"--config {path}: stage {k}: unknown option(s) {unknown}")
    return data


def _ungrouped(data, where):
    """A config mapping with its group sections (`optimization: {learning_rate: ...}`) flattened into options.

    `model:` and `objective:` are both groups and options: a mapping there is the group, anything else the option.
    """
    flat = {}
    for key, value in data.items():
        if key in GROUPS and isinstance(value, dict):
            for name, option_value in value.items():
                field = FIELD_TYPES.get(name)
                if field is None or field.metadata["group"] != key:
                    known = sorted(f.name for f in FIELD_TYPES.values() if f.metadata["group"] == key)
                    raise ValueError(f"{where}: {name!r} is not an option of group {key!r} (its options: {known})")
                if name in flat:
                    raise ValueError(f"{where}: option {name!r} is given twice")
                flat[name] = option_value
        else:
            if key in flat:
                raise ValueError(f"{where}: option {key!r} is given twice")
            flat[key] = value
    return flat


def _yaml_literal(value):
    """A default as a config file writes it: floats with a dot (PyYAML reads 3e-05 as a string)."""
    text = json.dumps(value)
    if isinstance(value, float) and "e" in text and "." not in text.split("e")[0]:
        text = text.replace("e", ".0e", 1)
    return text


def markdown_reference():
    """docs/config.md: every option by group, with its default and help text (`python -m tf_simcse.config`)."""
    lines = ["# Training options", "",
             "Generated by `python -m tf_simcse.config > docs/config.md` from `tf_simcse/config.py` (the same text "
             "as `python -m tf_simcse.train --help`). In a config file, options go flat or under their group:",
             "", "```yaml", "model: /path/to/checkpoint", "optimization:", "  learning_rate: 3.0e-5",
             "  batch_size: 64", "```", ""]
    defaults = TrainConfig()
    for group, summary in GROUPS.items():
        lines += [f"## {group}", "", summary[0].upper() + summary[1:] + ".", "", "| option | default | meaning |",
                  "|---|---|---|"]
        for field in dataclasses.fields(TrainConfig):
            if field.metadata["group"] != group:
                continue
            default = getattr(defaults, field.name)
            shown = "-" if default in ("", [], None) else f"`{_yaml_literal(default)}`"
            meaning = field.metadata["help"]
            if field.metadata["choices"]:
                meaning += "; one of " + ", ".join(f"`{c}`" for c in field.metadata["choices"])
            lines.append(f"| `{field.name}` | {shown} | {meaning.replace('|', '&#124;')} |")
        lines.append("")
    return "\n".join(lines)


def build_config(file_values=None, overrides=None):
    """Defaults < file values < overrides (dicts of option -> value); validated."""
    values = {}
    values.update(file_values or {})
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    config = TrainConfig(**values)
    return config.validate()


if __name__ == "__main__":
    print(markdown_reference(), end="")
