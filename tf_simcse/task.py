"""`SimCSETask`: what a training run is built from — data, encoder, model, optimizer, batches (Model Garden's
task / trainer split).

`tf_simcse.trainer.Trainer` adds the loop around it: the strategy, resume, evaluation and selection, checkpoints,
export. Code that needs the run's model without the loop (benchmarks/train_throughput.py, a notebook that steps a
model by hand) builds it here, so that it is the model a run trains:

    task = SimCSETask(build_config({...}))
    examples = task.load_data()
    with strategy.scope():
        encoder = task.build_encoder()
        model = task.build_model(encoder)
        model.compile(optimizer=task.build_optimizer(total_steps, precision="float32"))
    batches = task.dataset(task.train_preprocessor(encoder, static_shapes=False), epoch=0)
"""

import keras
import tensorflow as tf

from tf_simcse.config import TrainConfig
from tf_simcse.errors import UserInputError


class SimCSETask:
    """The pieces of a training run, from a validated `TrainConfig`.

    Attributes (after `load_data`):
        examples: the training examples (`tf_simcse.data.examples`): SimCSE views, or the sentences of pairs or
            of distillation.
        pairs: the scored / labelled pairs of a pair objective, else None.
        teacher: the teacher's embeddings of `examples` for `distill`, else None.
    """

    def __init__(self, config: TrainConfig):
        self.config = config.validate()
        self.examples, self.pairs, self.teacher = None, None, None

    # ------------------------------------------------------------------------------------------------ data
    def load_data(self, output_dir=None, *, write=True, log=print):
        """Reads `train_data` (and, for `distill`, embeds its sentences with the teacher once, cached in
        `output_dir`); returns the training examples."""
        from tf_simcse.data.distillation import load_distillation_sentences, teacher_embeddings
        from tf_simcse.data.examples import load_training_examples
        from tf_simcse.encoders.encoder import Encoder
        from tf_simcse.objectives import DISTILL, pair_kind

        c = self.config
        if c.objective == DISTILL:
            self.examples = load_distillation_sentences(
                c.train_data, label_column=c.label_column, positive_label=c.positive_label
            )
            self.teacher = teacher_embeddings(
                lambda: Encoder.from_pretrained(c.teacher, max_seq_length=c.max_seq_length),
                c.teacher,
                self.examples.anchors,
                output_dir or c.output_dir,
                batch_size=max(64, c.batch_size),
                write=write,
                log=log,
            )
        elif pair_kind(c.objective) is None:
            self.examples = load_training_examples(c.train_data, c.objective)
        else:
            self.pairs = self._load_pairs()
            self.examples = self.pairs.as_training_examples()
            self.examples.report = {**self.pairs.report, "objective": c.objective}
        return self.examples

    def _load_pairs(self):
        """The scored / labelled pairs a pair objective trains on, checked against the objective."""
        from tf_simcse.data.pairs import load_pairs
        from tf_simcse.objectives import pair_kind

        c = self.config
        pairs = load_pairs(c.train_data, label_column=c.label_column, positive_label=c.positive_label)
        wanted = pair_kind(c.objective)
        if pairs.kind != wanted:
            raise UserInputError(
                f"--objective {c.objective} trains on {wanted} pairs, but {c.train_data[0]} holds {pairs.kind} "
                f"pairs (scored: sentence1, sentence2, score; labelled: sentence1, sentence2, label)."
            )
        if c.objective == "cosine_mse" and len(pairs) and not 0 <= pairs.scores.min() <= pairs.scores.max() <= (
            c.max_score
        ):
            raise UserInputError(
                f"--objective cosine_mse scales scores by --max_score {c.max_score:g}, but the scores of "
                f"{', '.join(c.train_data)} span [{pairs.scores.min():g}, {pairs.scores.max():g}]."
            )
        return pairs

    def train_preprocessor(self, encoder, *, static_shapes):
        """The packer of the training batches: the encoder's tokenizer, `max_seq_length`, static (TPU/XLA) or
        dynamic padding."""
        from tf_simcse.preprocessing import TextPreprocessor

        return TextPreprocessor(
            encoder.preprocessor.tokenizer,
            seq_length=self.config.max_seq_length,
            pair_style=encoder.preprocessor.pair_style,
            dynamic=not static_shapes,
        )

    def dataset(self, preprocessor, epoch, start_batch=0, *, examples=None, drop_remainder=True):
        """The batches of `epoch` from batch `start_batch` on, in the seeded order of the run (exact resume).

        `examples` defaults to `load_data`'s (SimCSE objectives may pass their own)."""
        from tf_simcse.data.distillation import make_distillation_dataset
        from tf_simcse.data.pairs import make_pair_dataset
        from tf_simcse.data.pipelines import make_training_dataset

        c = self.config
        examples = self.examples if examples is None else examples
        if examples is None:
            raise ValueError("call load_data() first (or pass examples)")
        common = dict(
            batch_size=c.batch_size,
            seed=c.seed,
            epoch=epoch,
            start_batch=start_batch,
            drop_remainder=drop_remainder,
            length_grouping=c.length_grouping,
            grouping_window=c.grouping_window,
            pad_to_multiple_of=c.pad_to_multiple_of,
        )
        if self.pairs is not None:
            return make_pair_dataset(self.pairs, preprocessor, **common)
        if self.teacher is not None:
            return make_distillation_dataset(examples, self.teacher.embeddings, preprocessor, **common)
        return make_training_dataset(
            examples,
            preprocessor,
            objective=c.objective,
            dedupe_in_batch=c.dedupe_in_batch,
            pad_anchors_separately=c.encode_anchors_apart,
            **common,
        )

    # ------------------------------------------------------------------------------------------- model
    def build_encoder(self, *, reset_mlp=None, log=print):
        """The `Encoder` of `--model` with the run's pooler, length and dropout; a student keeps
        `student_layers`; the MLP head is re-initialised as the official code does (`reset_mlp`; pass False
        when the weights will be restored from a checkpoint anyway). Call it inside the strategy's scope."""
        from tf_simcse.encoders.encoder import Encoder
        from tf_simcse.encoders.students import keep_layers, parse_layers

        c = self.config
        encoder = Encoder.from_pretrained(
            c.model,
            pooler=c.pooler,
            max_seq_length=c.max_seq_length,
            dropout=c.dropout,
            mlp_only_train=c.mlp_only_train,
            dynamic_padding=True,
        )
        if c.student_layers:
            layers = parse_layers(c.student_layers, len(encoder.backbone.transformer_layers))
            encoder = keep_layers(encoder, layers)
            log(f"student: layers {layers} of {c.model}")
        if (c.reset_mlp if reset_mlp is None else reset_mlp) and encoder.mlp is not None:
            # The official code's MLP head is a new layer (normal(0.02) init), not the checkpoint's pooler.
            encoder.mlp.dense.kernel.assign(
                keras.random.normal(encoder.mlp.dense.kernel.shape, stddev=0.02, seed=c.seed)
            )
            encoder.mlp.dense.bias.assign(tf.zeros_like(encoder.mlp.dense.bias))
        return encoder

    def build_model(self, encoder):
        """The `tf_simcse.model.SimCSE` training model of the objective around `encoder` (inside the scope)."""
        from tf_simcse.model import SimCSE

        c = self.config
        special = encoder.preprocessor.special_token_ids
        return SimCSE(
            encoder,
            objective=c.objective,
            temperature=c.temperature,
            hard_negative_weight=c.hard_negative_weight,
            symmetric=c.symmetric,
            do_mlm=c.do_mlm,
            mlm_weight=c.mlm_weight,
            mask_token_id=special.get("mask_id"),
            special_token_ids=[i for i in special.values() if i is not None],
            seed=c.seed,
            encode_anchors_apart=c.encode_anchors_apart,
            cosent_scale=c.cosent_scale,
            margin=c.margin,
            max_score=c.max_score,
            teacher_dim=None if self.teacher is None else self.teacher.embeddings.shape[1],
            gradcache_chunk_size=c.gradcache_chunk_size,
        )

    def build_optimizer(self, total_steps, *, precision):
        """AdamW with the run's schedule (linear warmup over `warmup_ratio`, linear decay to 0 at
        `total_steps`), weight decay and clipping; loss scaling for mixed_float16 (inside the scope)."""
        from tf_simcse import distribute

        c = self.config
        return distribute.make_optimizer(
            learning_rate=c.learning_rate,
            weight_decay=c.weight_decay,
            warmup_steps=int(round(c.warmup_ratio * total_steps)),
            total_steps=total_steps,
            global_clipnorm=c.max_grad_norm,
            precision=precision,
        )
