"""`SimCSE`: the Keras model that trains an `Encoder` with the SimCSE contrastive objective.

Batch format (what `tf_simcse.data` produces; `fit` / `evaluate` take a `tf.data.Dataset` of these):

    {"anchor": P, "positive": P, "hard_negative": P}
    P = {"input_word_ids": int32 [b, len], "input_mask": int32 [b, len], "input_type_ids": int32 [b, len]}

- `objective="unsup"`: only `"anchor"`; the model encodes it twice (one forward pass over the duplicated batch,
  so every row gets its own dropout mask) and the second copy is the positive.
- `objective="pair"`: `"anchor"` and `"positive"`; in-batch negatives only.
- `objective="sup"`: all three; row i of `"hard_negative"` is the hard negative of anchor i.
- pair objectives (`cosent`, `cosine_mse`, `online_contrastive`, `contrastive`; `tf_simcse.objectives`):
  `{"sentence1": P, "sentence2": P, "score" | "label": float32 [b]}`, the losses of `tf_simcse.pair_losses`, whose
  replica shares span the global batch like the contrastive loss does.
- `objective="distill"`: `{"anchor": P, "teacher": float32 [b, teacher dim]}`; the MSE of the student's embedding
  (through a trained linear `projection` when `teacher_dim` differs from the encoder's) against the teacher's.

With dynamic padding the views may have different `len`; they are right-padded to a common length (padding is
masked, so it changes no embedding) and encoded in ONE forward pass.

Distribution. Keras runs `train_step` once per replica on that replica's slice of the global batch. Each replica
embeds its local views, gathers the positives and hard negatives of all replicas in replica order (a
differentiable all-gather), and scores its local anchors against the whole global candidate set; its labels are
offset by the number of anchors on the replicas before it, computed here, in the replica context. The local mean
loss is weighted by `local_batch / global_batch` (= `1 / num_replicas` when the split is even), so the sum over
replicas is the global-batch mean loss and the gradients the optimizer sums across replicas are exactly those of
single-device training on the global batch. (The official PyTorch code under DDP all-gathers anchors, positives
and hard negatives without gradient, puts its own rows back with gradient, computes the whole global-batch loss
on every replica, and DDP AVERAGES the replicas' gradients: its gradient is (1/N) times the global-batch one. Adam
is nearly blind to a constant factor, but gradient clipping and epsilon are not. Here the gradient is the
global-batch gradient itself, whatever the number of replicas.)

Dropout. Each replica draws its own masks, seeded by (seed, step, global replica id) through
`tf_simcse.replicas` (Keras alone would give every replica replica 0's masks). `train_batches` counts the batches
`train_step` consumed, skipped float16 updates included: it is the step of those seeds and the trainer's data
position.

Logs: `loss` (the contrastive loss, plus `mlm_weight * mlm_loss` with `do_mlm`) and `accuracy` (in-batch top-1:
the anchor's highest logit is its positive), running means over the epoch weighted by anchors (Keras's
convention); with `do_mlm` also `mlm_loss`; and `batch_loss`, the global-batch loss of this step alone. A
non-finite loss shows up as a non-finite `batch_loss` in the logs of that step (and a non-finite `loss` from then
on in the epoch), which a callback can stop on, naming the step.
"""

import contextlib

import keras
import tensorflow as tf

from tf_simcse import features
from tf_simcse import distribute, gradcache, mlm, multi_step, replicas
from tf_simcse.losses import contrastive_loss, gather_across_replicas
from tf_simcse.objectives import DISTILL, OBJECTIVES, SIMCSE_VIEWS, TARGET_OBJECTIVES, TARGETS, VIEWS
from tf_simcse.pair_losses import pair_loss_share



@keras.saving.register_keras_serializable(package="tf_simcse")
class SimCSE(keras.Model):
    """SimCSE training wrapper around a `tf_simcse.encoders.encoder.Encoder`.

    Args:
        encoder: the `Encoder` to train (its `call(inputs, training=True)` gives the training embedding,
            including the MLP head for `pooler="cls"`).
        objective: `"unsup"` (dropout positives), `"sup"` (NLI triplets with hard negatives) or `"pair"`
            (anchor/positive pairs, in-batch negatives).
        temperature: softmax temperature τ (0.05 in the paper).
        hard_negative_weight: log-weight added to the logit of each anchor's own hard negative (`sup` only;
            0 in the paper's runs).
        symmetric: also add the positive -> anchor direction (the loss becomes the mean of both directions; the
            reverse direction has no hard negatives). Not in the official code.
        do_mlm: add the masked-language-modelling auxiliary loss of the official code, weighted by `mlm_weight`.
            Needs `mask_token_id`; `special_token_ids` ([CLS], [SEP], ...) are never masked.
        mlm_weight: weight λ of the MLM loss (0.1 in the official code).
        mask_token_id: id of `[MASK]` (or `<mask>`) in the encoder's vocabulary; required with `do_mlm`.
        special_token_ids: ids never selected for masking (padding is never selected either).
        mlm_probability: share of tokens selected for MLM (0.15); of those 80% become the mask token, 10% a random
            token and 10% stay unchanged (BERT's rule, as in the Hugging Face collator the official code uses).
        seed: seed of the MLM masking RNG.
        cosent_scale: CoSENT's scale (20, as Su 2022 and sentence-transformers).
        margin: the cosine-distance margin of `online_contrastive` / `contrastive` (0.5).
        max_score: `cosine_mse` regresses the cosine on `score / max_score` (5 for KorSTS / KLUE-STS / STS-B).
        teacher_dim: `distill`: the width of the teacher's embeddings; when it is not the encoder's, a linear
            projection (part of this model, not of the encoder: it is not exported) maps the student onto it.
        encode_anchors_apart: (`sup`/`pair`) encode the anchors in one pass and the positives + hard negatives in
            another, each at its own padded length (see `make_training_dataset(pad_anchors_separately=True)`),
            instead of one pass over all views padded to the longest. Same loss and gradients with dropout off;
            faster with dynamic shapes when the anchors (NLI premises) are longer than the candidates.
        gradcache_chunk_size: GradCache (`tf_simcse.gradcache`): encode each replica's views at most this many
            sequences at a time, with the gradients of the one-pass step (dropout masks included) at the
            memory of one chunk. None (default): one pass. Not with `do_mlm`.
    """

    def __init__(
        self,
        encoder,
        *,
        objective="unsup",
        temperature=0.05,
        hard_negative_weight=0.0,
        symmetric=False,
        do_mlm=False,
        mlm_weight=0.1,
        mask_token_id=None,
        special_token_ids=(),
        mlm_probability=0.15,
        seed=None,
        encode_anchors_apart=False,
        cosent_scale=20.0,
        margin=0.5,
        max_score=5.0,
        teacher_dim=None,
        gradcache_chunk_size=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if objective not in OBJECTIVES:
            raise ValueError(f"Unknown objective {objective!r}: choose one of {', '.join(OBJECTIVES)}.")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        if hard_negative_weight and objective != "sup":
            raise ValueError(f"hard_negative_weight={hard_negative_weight} needs objective 'sup', got {objective!r}.")
        if objective in TARGET_OBJECTIVES and (do_mlm or symmetric or encode_anchors_apart):
            raise ValueError(f"objective {objective!r} takes no do_mlm / symmetric / encode_anchors_apart.")
        if not max_score > 0:
            raise ValueError(f"max_score must be > 0, got {max_score}.")
        if do_mlm and mask_token_id is None:
            raise ValueError("do_mlm=True needs mask_token_id (the id of [MASK] in the encoder's vocabulary).")
        if gradcache_chunk_size is not None and int(gradcache_chunk_size) < 1:
            raise ValueError(f"gradcache_chunk_size must be >= 1 (or None), got {gradcache_chunk_size}.")
        if gradcache_chunk_size and do_mlm:
            raise ValueError(
                "gradcache_chunk_size cannot be combined with do_mlm: the MLM loss reads every token's output, "
                "which GradCache does not keep. Drop one of them."
            )
        if do_mlm and not 0 < mlm_probability < 1:
            raise ValueError(f"mlm_probability must be in (0, 1), got {mlm_probability}.")
        self.encoder = encoder
        self.objective = objective
        self.temperature = float(temperature)
        self.hard_negative_weight = float(hard_negative_weight)
        self.symmetric = bool(symmetric)
        self.do_mlm = bool(do_mlm)
        self.mlm_weight = float(mlm_weight)
        self.mask_token_id = None if mask_token_id is None else int(mask_token_id)
        self.special_token_ids = tuple(int(i) for i in special_token_ids)
        self.mlm_probability = float(mlm_probability)
        self.seed = seed
        self.encode_anchors_apart = bool(encode_anchors_apart) and objective != "unsup"
        self.cosent_scale = float(cosent_scale)
        self.margin = float(margin)
        self.max_score = float(max_score)
        self.teacher_dim = None if teacher_dim is None else int(teacher_dim)
        self.gradcache_chunk_size = None if not gradcache_chunk_size else int(gradcache_chunk_size)
        self.projection = None
        if objective == DISTILL and self.teacher_dim not in (None, encoder.hidden_dim):
            self.projection = keras.layers.Dense(self.teacher_dim, dtype="float32", name="distill_projection")
            self.projection.build((None, encoder.hidden_dim))
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.mlm_loss_tracker = keras.metrics.Mean(name="mlm_loss") if self.do_mlm else None
        self.mlm_head = None
        if self.do_mlm:
            self.mlm_head = mlm.make_mlm_head(encoder)
            self._mlm_seed = keras.random.SeedGenerator(seed, name="mlm_seed")
        # Batches consumed by `train_step`, skipped updates included: the data position and the step of the
        # dropout seeds. (The optimizer's `iterations` stays behind on a float16 overflow skip.) Aggregated like
        # `iterations` (first replica's update, applied on every device): a replica updating its own copy
        # (NONE) is refused by XLA when one program spans the devices ("variable on a different device").
        self.train_batches = keras.Variable(
            0, dtype="int64", trainable=False, aggregation="only_first_replica", name="train_batches"
        )
        self.dropout_layers = replicas.install_replica_dropout(encoder)

    # ------------------------------------------------------------------------------------------- batches
    def build(self, input_shape=None):
        # The encoder (a functional backbone) and the MLM head are built in __init__; nothing depends on shapes.
        self.built = True

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras (TF backend, under a strategy) pulls the first batch and averages it over the replicas to build
        # the model symbolically; MultiWorkerMirroredStrategy cannot reduce a nested batch ("Attempt to convert a
        # value ({'anchor': {...PerReplica..."). The weights exist from __init__ (a functional backbone); only
        # the optimizer's slots must be made here, in the strategy scope. No compiled loss or metrics to build.
        if getattr(self, "_distribute_strategy", None) is None:
            return
        with self.distribute_strategy.scope():
            if self.optimizer is not None and not self.optimizer.built:
                self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        trackers = [self.loss_tracker]
        if self.objective not in TARGET_OBJECTIVES:
            trackers.append(self.accuracy_tracker)
        if self.mlm_loss_tracker is not None:
            trackers.append(self.mlm_loss_tracker)
        return trackers

    def _check_batch(self, batch):
        if not isinstance(batch, dict):
            raise TypeError(
                f"SimCSE expects batches of dicts {{view: {{input_word_ids, input_mask, input_type_ids}}}}; got "
                f"{type(batch).__name__}."
            )
        expected = VIEWS[self.objective]
        keys = expected + ((TARGETS[self.objective],) if self.objective in TARGETS else ())
        if tuple(sorted(batch)) != tuple(sorted(keys)) and tuple(sorted(batch)) != tuple(sorted(expected)):
            raise ValueError(
                f"objective {self.objective!r} expects batches with views {list(keys)}; got {sorted(batch)}."
            )
        for view in expected:
            missing = [k for k in (features.WORD_IDS, features.MASK) if k not in batch[view]]
            if missing:
                raise ValueError(f"batch[{view!r}] lacks {missing}; got keys {sorted(batch[view])}.")

    def _views(self, batch):
        """The list of packed inputs to encode, in the order (anchor, positive[, hard_negative])."""
        self._check_batch(batch)
        if self.objective == "unsup":
            return [batch["anchor"], batch["anchor"]]
        return [batch[view] for view in VIEWS[self.objective]]

    @staticmethod
    def _concat_views(views):
        """Right-pads the views to a common length and stacks them along the batch axis."""
        static = [v[features.WORD_IDS].shape[1] for v in views]
        if all(s is not None for s in static):
            lengths = static
            target = max(static)
        else:
            lengths = [tf.shape(v[features.WORD_IDS])[1] for v in views]
            target = tf.reduce_max(tf.stack(lengths))
        merged = {}
        for key in features.NAMES:
            parts = []
            for view, length in zip(views, lengths):
                if key in view:
                    x = tf.cast(view[key], tf.int32)
                else:  # a backbone without segment ids; an all-zero segment is what the packer would give
                    x = tf.zeros_like(tf.cast(view[features.WORD_IDS], tf.int32))
                if not (isinstance(length, int) and length == target):
                    x = tf.pad(x, [[0, 0], [0, target - length]])
                parts.append(x)
            merged[key] = tf.concat(parts, axis=0)
        return merged

    def _passes(self, batch):
        """The encoder passes of a batch: `[(packed views, number of views, dropout pass)]`.

        One pass over all views, or with `encode_anchors_apart` the anchors and then the other views, each pass
        with masks of its own (`replicas.dropout_pass`).
        """
        views = self._views(batch)
        if self.encode_anchors_apart:
            return [(self._concat_views(views[:1]), 1, 0), (self._concat_views(views[1:]), len(views) - 1, 1)]
        return [(self._concat_views(views), len(views), None)]

    @staticmethod
    def _pass_scope(index):
        return contextlib.nullcontext() if index is None else replicas.dropout_pass(index)

    def _named(self, passes, outputs):
        """The passes' embeddings split into their views: `{"anchor": [b, d], ...}`."""
        parts = []
        for (_, count, _), output in zip(passes, outputs):
            parts.extend(tf.split(output, count, axis=0))
        names = VIEWS[self.objective] if self.objective in TARGET_OBJECTIVES else SIMCSE_VIEWS
        return dict(zip(names, parts))

    def call(self, inputs, training=False):
        """Embeds every view of a batch: returns `{"anchor": [b, d], "positive": ..., ...}` float32."""
        passes = self._passes(inputs)
        outputs = []
        for views, _, index in passes:
            with self._pass_scope(index):
                outputs.append(self.encoder(views, training=training))
        return self._named(passes, outputs)

    # ------------------------------------------------------------------------------------------- losses
    def _replica_loss(self, batch, training, embeddings=None):
        """Loss of this replica's anchors against the global candidates; see the module docstring.

        `embeddings` (the output of `call`) is computed here unless given (GradCache computes it in chunks).
        Returns `(share, stats)`: `share` is the term to differentiate (its sum over replicas is the global-batch
        loss); `stats` holds local means for the epoch metrics and `batch_loss`, the global loss of this step.
        """
        if self.objective in TARGET_OBJECTIVES:
            return self._pair_loss(batch, training, embeddings)
        if embeddings is None:
            embeddings = self(batch, training=training)
        anchors = embeddings["anchor"]
        local_batch = tf.shape(anchors)[0]
        label_offset, global_batch = replicas.global_batch_layout(local_batch)
        # ONE gather for everything: positives and hard negatives then come in the same replica order (anchor
        # i's own hard negative lands at column global_batch + label_offset + i), and the backward pass holds a
        # single cross-replica collective. With two independent differentiable gathers, each replica's tape may
        # run their gradients in a different order, and MirroredStrategy would pair replica 0's all-reduce of
        # one with replica 1's of the other (silently wrong sums, or a shape-mismatch abort).
        local = {"positive": embeddings["positive"]}
        if "hard_negative" in embeddings:
            local["hard_negative"] = embeddings["hard_negative"]
        if self.symmetric:
            local["anchor"] = anchors
        gathered = gather_across_replicas(local)
        loss, logits, labels = contrastive_loss(
            anchors,
            gathered["positive"],
            gathered.get("hard_negative"),
            temperature=self.temperature,
            hard_negative_weight=self.hard_negative_weight,
            symmetric=self.symmetric,
            label_offset=label_offset,
            all_anchors=gathered.get("anchor"),
            return_logits=True,
        )
        correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels), tf.float32)
        accuracy = tf.reduce_sum(correct) / tf.maximum(tf.cast(local_batch, tf.float32), 1.0)
        share = loss * tf.cast(local_batch, tf.float32) / tf.maximum(tf.cast(global_batch, tf.float32), 1.0)
        mlm_loss = None
        if self.do_mlm:
            mlm_sum, mlm_count, mlm_global_count = self._mlm_loss(batch, training)
            mlm_loss = mlm_sum / tf.maximum(mlm_count, 1.0)  # local mean, for the metric
            share = share + self.mlm_weight * mlm_sum / tf.maximum(mlm_global_count, 1.0)
            loss = loss + self.mlm_weight * mlm_loss
        batch_loss = replicas.all_reduce_sum(tf.stop_gradient(share))
        stats = {
            "loss": loss,
            "accuracy": accuracy,
            "mlm_loss": mlm_loss,
            "local_batch": local_batch,
            "batch_loss": batch_loss,
        }
        if mlm_loss is not None:
            stats["mlm_count"] = mlm_count
        return share, stats

    def _pair_loss(self, batch, training, embeddings=None):
        """The pair objective's share of the global-batch loss (`tf_simcse.pair_losses.pair_loss_share`)."""
        target_key = TARGETS[self.objective]
        if target_key not in batch:
            raise ValueError(f"objective {self.objective!r} needs batch[{target_key!r}] (the pairs' targets).")
        if embeddings is None:
            embeddings = self(batch, training=training)
        targets = tf.cast(batch[target_key], tf.float32)
        if self.objective == DISTILL:
            student = tf.cast(embeddings["anchor"], tf.float32)
            if self.projection is not None:
                student = self.projection(student)
            share = pair_loss_share(DISTILL, student, targets)
            batch_loss = replicas.all_reduce_sum(tf.stop_gradient(share))
            return share, {"loss": batch_loss, "accuracy": None, "mlm_loss": None,
                           "local_batch": tf.shape(student)[0], "batch_loss": batch_loss}
        options = {}
        if self.objective == "cosine_mse":
            targets = targets / self.max_score
        elif self.objective == "cosent":
            options["scale"] = self.cosent_scale
        else:
            options["margin"] = self.margin
        share = pair_loss_share(self.objective, embeddings["sentence1"], embeddings["sentence2"], targets, **options)
        batch_loss = replicas.all_reduce_sum(tf.stop_gradient(share))
        local_batch = tf.shape(embeddings["sentence1"])[0]
        return share, {"loss": batch_loss, "accuracy": None, "mlm_loss": None, "local_batch": local_batch,
                       "batch_loss": batch_loss}

    def mask_tokens(self, inputs):
        """BERT masking of packed `inputs` (`tf_simcse.mlm.mask_tokens` with this model's settings and seed)."""
        return mlm.mask_tokens(
            inputs,
            seed_generator=self._mlm_seed,
            probability=self.mlm_probability,
            mask_token_id=self.mask_token_id,
            special_token_ids=self.special_token_ids,
            vocabulary_size=int(self.encoder.backbone.token_embedding.input_dim),
        )

    def mlm_terms(self, inputs, masked_ids, selected, training=False):
        """The MLM cross-entropy sum over the `selected` tokens, and their count (`tf_simcse.mlm.mlm_terms`)."""
        return mlm.mlm_terms(self.encoder, self.mlm_head, inputs, masked_ids, selected, training=training)

    def _mlm_loss(self, batch, training):
        """This replica's MLM terms and the global count of selected tokens.

        The views are those of the contrastive forward pass (the official code masks every sentence copy; the
        two unsup copies get independent masks). `sum / global_count`, summed over replicas, is the mean over all
        selected tokens of the global batch, as one device would compute it.
        """
        inputs = self._concat_views(self._views(batch))
        masked_ids, selected = self.mask_tokens(inputs)
        local_sum, local_count = self.mlm_terms(inputs, masked_ids, selected, training=training)
        global_count = replicas.all_reduce_sum(tf.stop_gradient(local_count))
        return local_sum, local_count, global_count

    def _update_metrics(self, stats):
        weight = tf.cast(stats["local_batch"], tf.float32)
        self.loss_tracker.update_state(tf.stop_gradient(stats["loss"]), sample_weight=weight)
        if stats["accuracy"] is not None:
            self.accuracy_tracker.update_state(stats["accuracy"], sample_weight=weight)
        if self.mlm_loss_tracker is not None:
            self.mlm_loss_tracker.update_state(tf.stop_gradient(stats["mlm_loss"]), sample_weight=stats["mlm_count"])
        logs = {m.name: m.result() for m in self.metrics}
        logs["batch_loss"] = stats["batch_loss"]
        strategy = tf.distribute.get_strategy()
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._num_workers > 1:
            # Keras reduces multi-worker logs with `strategy.reduce("MEAN", v, axis=0)`, which needs an axis.
            logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    # ------------------------------------------------------------------------------------------- steps
    def compile(self, optimizer="adamw", **kwargs):
        """`keras.Model.compile`; under `mixed_float16` the optimizer gets replica-synced loss scaling.

        Keras would wrap it in its own `LossScaleOptimizer`, whose skip decision is per replica (see
        `tf_simcse.distribute`). No `loss` is needed: the loss is the model's.
        """
        optimizer = distribute.ensure_synced_loss_scaling(optimizer, self.dtype_policy.name)
        super().compile(optimizer=optimizer, **kwargs)

    def make_train_function(self, force=False):
        if not multi_step.needs_own_loop(self):
            return super().make_train_function(force)
        if self.train_function is None or force:
            self.train_function = multi_step.UnrolledTrainFunction(self)
        return self.train_function

    def fit(self, *args, steps_per_epoch=None, **kwargs):
        if multi_step.needs_own_loop(self):
            self.make_train_function()
            self.train_function.start_epoch(steps_per_epoch)
        return super().fit(*args, steps_per_epoch=steps_per_epoch, **kwargs)

    def train_step(self, data):
        batch = data[0] if isinstance(data, (tuple, list)) else data
        trainable = self.trainable_variables
        # This step's dropout masks: a function of (seed, batches trained, global replica id) only.
        seed = replicas.step_seed(self.seed, self.train_batches.value)
        if self.gradcache_chunk_size:
            grads, share, stats = self._gradcache_gradients(batch, seed, trainable)
        else:
            with tf.GradientTape() as tape, replicas.dropout_seeds(seed):
                share, stats = self._replica_loss(batch, training=True)
                if self.losses:  # regularisers, if any: summed over replicas, hence the division
                    share = share + tf.add_n(self.losses) / tf.distribute.get_strategy().num_replicas_in_sync
                scaled = self.optimizer.scale_loss(share)
            grads = tape.gradient(scaled, trainable)
        # Variables outside the embedding path (e.g. the backbone's unused pooled-output dense) have no gradient.
        pairs = [(g, v) for g, v in zip(grads, trainable) if g is not None]
        self.optimizer.apply_gradients(pairs)
        # Counted whether or not the optimizer applied the update (a float16 overflow skips it). The data
        # dependency keeps the count from moving when the iterator runs dry inside a compiled step (nothing else
        # orders this update after `get_next`).
        with tf.control_dependencies([share]):
            self.train_batches.assign_add(1)
        return self._update_metrics(stats)

    def _gradcache_gradients(self, batch, seed, trainable):
        """`(grads, share, stats)` of the step computed with GradCache (`tf_simcse.gradcache`).

        The loss, its replica share and the stats are the one-pass step's; the gradients are too, up to float
        summation order: the chunks draw the masks of the one-pass step.
        """
        chunk = self.gradcache_chunk_size
        encoder_vars = list(self.encoder.trainable_variables)
        in_encoder = {id(v) for v in encoder_vars}
        others = [v for v in trainable if id(v) not in in_encoder]  # e.g. the distillation projection
        with replicas.dropout_seeds(seed):
            passes = self._passes(batch)
            chunked = [gradcache.chunked(views, chunk) for views, _, _ in passes]
            outputs = []
            for (_, _, index), inputs in zip(passes, chunked):
                with self._pass_scope(index):
                    outputs.append(gradcache.embed(self.encoder, inputs))
            with tf.GradientTape() as tape:
                tape.watch(outputs)
                share, stats = self._replica_loss(batch, training=True, embeddings=self._named(passes, outputs))
                if self.losses:
                    raise ValueError("gradcache_chunk_size does not support models with regularization losses.")
                scaled = self.optimizer.scale_loss(share)
            grads = tape.gradient(scaled, outputs + others)
            upstream, other_grads = grads[: len(outputs)], grads[len(outputs):]
            encoder_grads = [None] * len(encoder_vars)
            for (_, _, index), inputs, up in zip(passes, chunked, upstream):
                with self._pass_scope(index):
                    pass_grads = gradcache.backward(self.encoder, inputs, up, encoder_vars)
                encoder_grads = [b if a is None else (a if b is None else a + b)
                                 for a, b in zip(encoder_grads, pass_grads)]
        by_id = dict(zip(map(id, encoder_vars), encoder_grads))
        by_id.update(zip(map(id, others), other_grads))
        return [by_id[id(v)] for v in trainable], share, stats

    def test_step(self, data):
        batch = data[0] if isinstance(data, (tuple, list)) else data
        _, stats = self._replica_loss(batch, training=False)
        return self._update_metrics(stats)

    def predict_step(self, data):
        batch = data[0] if isinstance(data, (tuple, list)) else data
        return self(batch, training=False)

    # ------------------------------------------------------------------------------------------- config
    def get_config(self):
        """The training hyperparameters, plus the encoder's Keras config when it has one.

        An `Encoder` is saved with `Encoder.save_pretrained`, not through Keras configs; when it cannot be
        serialized, `"encoder"` is None and `from_config` asks for it.
        """
        try:
            encoder = keras.saving.serialize_keras_object(self.encoder)
        except NotImplementedError:
            encoder = None
        return {
            "name": self.name,
            "encoder": encoder,
            "objective": self.objective,
            "temperature": self.temperature,
            "hard_negative_weight": self.hard_negative_weight,
            "symmetric": self.symmetric,
            "do_mlm": self.do_mlm,
            "mlm_weight": self.mlm_weight,
            "mask_token_id": self.mask_token_id,
            "special_token_ids": list(self.special_token_ids),
            "mlm_probability": self.mlm_probability,
            "seed": self.seed,
            "encode_anchors_apart": self.encode_anchors_apart,
            "cosent_scale": self.cosent_scale,
            "margin": self.margin,
            "max_score": self.max_score,
            "teacher_dim": self.teacher_dim,
            "gradcache_chunk_size": self.gradcache_chunk_size,
        }

    @classmethod
    def from_config(cls, config, encoder=None):
        """Rebuilds the model; pass `encoder` when the config carries none (see `get_config`)."""
        config = dict(config)
        serialized = config.pop("encoder", None)
        if encoder is None:
            if serialized is None:
                raise ValueError(
                    "This SimCSE config has no serialized encoder: call SimCSE.from_config(config, "
                    "encoder=Encoder.from_pretrained(...))."
                )
            encoder = keras.saving.deserialize_keras_object(serialized)
        return cls(encoder, **config)
