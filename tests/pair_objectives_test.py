"""The pair objectives of `tf_simcse.objectives` in the SimCSE model and the trainer: CoSENT and the online
contrastive loss rank over the GLOBAL batch, so 2 replicas with dropout on must train exactly like one device on
the global batch with the same per-replica masks; the trainer reads scored / labelled pair files and refuses a
file of the wrong kind."""

import json

import numpy as np
import pytest
import tensorflow as tf

from _tiny import assert_trained_alike, mirrored, packed, tiny_encoder
from tests.conftest import FIXTURES
from tf_simcse import replicas
from tf_simcse.config import build_config
from tf_simcse.distribute import make_optimizer
from tf_simcse.errors import UserInputError
from tf_simcse.model import SimCSE, TARGETS
from tf_simcse.pair_losses import pair_loss_share
from tf_simcse.trainer import Trainer


def _pair_batch(objective, batch, rng):
    if TARGETS[objective] == "score":
        targets = rng.uniform(0.0, 5.0, size=batch).round(1)
    else:
        targets = np.tile([1.0, 0.0], batch // 2)  # both classes on every replica
    return {"sentence1": packed(batch, 10, rng), "sentence2": packed(batch, 7, rng),
            TARGETS[objective]: tf.constant(targets, tf.float32)}


class EmulatedPairReplicas(SimCSE):
    """1-device reference: slice k of the global batch embedded with replica k's dropout masks, then the plain
    loss of the whole global batch (no replica context: `pair_loss_share` is the global loss)."""

    def train_step(self, data):
        step = self.train_batches.value
        with tf.GradientTape() as tape:
            parts = []
            for k in range(2):
                half = tf.nest.map_structure(lambda x: tf.split(x, 2, axis=0)[k], data)
                views = {v: half[v] for v in ("sentence1", "sentence2")}
                with replicas.dropout_seeds(replicas.step_seed(self.seed, step, replica_id=k)):
                    parts.append(self(views, training=True))
            emb = {v: tf.concat([p[v] for p in parts], axis=0) for v in parts[0]}
            targets = tf.cast(data[TARGETS[self.objective]], tf.float32)
            options = {"scale": self.cosent_scale} if self.objective == "cosent" else {"margin": self.margin}
            loss = pair_loss_share(self.objective, emb["sentence1"], emb["sentence2"], targets, **options)
        trainable = self.trainable_variables
        grads = tape.gradient(loss, trainable)
        self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, trainable) if g is not None])
        self.train_batches.assign_add(1)
        return {"batch_loss": loss}


def _train(model_cls, strategy, objective, batches):
    with strategy.scope():
        model = model_cls(tiny_encoder(pooler="avg", dropout=0.2), objective=objective, seed=5)
        model.compile(optimizer=make_optimizer(5e-3, total_steps=len(batches), warmup_steps=1, weight_decay=0.01,
                                               global_clipnorm=1.0, precision="float32"))
    ds = tf.data.Dataset.from_tensor_slices(
        tf.nest.map_structure(lambda *xs: tf.stack(xs), *batches)
    )
    before = [v.numpy() for v in model.trainable_variables]
    model.fit(ds, verbose=0, shuffle=False)
    return before, [v.numpy() for v in model.trainable_variables], model


@pytest.mark.parametrize("objective", ["cosent", "online_contrastive"])
def test_two_replicas_with_dropout_train_like_one_device_on_the_global_batch(objective):
    """Dropout ON, AdamW + weight decay + clipping, 4 steps of 8 pairs."""
    rng = np.random.default_rng(11)
    batches = [_pair_batch(objective, 8, rng) for _ in range(4)]
    initial, reference, _ = _train(EmulatedPairReplicas, tf.distribute.get_strategy(), objective, batches)
    _, weights, model = _train(SimCSE, mirrored(), objective, batches)
    assert int(model.train_batches.numpy()) == 4
    assert_trained_alike(initial, reference, weights, model, objective)


def _config(tmp_path, objective, train_data, **overrides):
    values = dict(model=str(FIXTURES / "tiny_bert"), objective=objective, pooler="avg", train_data=train_data,
                  output_dir=str(tmp_path / objective), strategy="cpu", batch_size=16, max_seq_length=24,
                  max_steps=3, checkpoint_steps=3, learning_rate=1e-3, seed=3, export=False)
    values.update(overrides)
    return build_config(values)


@pytest.mark.shared_data
@pytest.mark.parametrize("objective", ["cosent", "cosine_mse"])
def test_scored_pair_objectives_train_on_korsts(shared_data, tmp_path, objective):
    korsts = shared_data / "korsts"
    config = _config(tmp_path, objective, [str(korsts / "sts-train.tsv")],
                     eval_data=[f"korsts:dev={korsts / 'sts-dev.tsv'}"])
    report = Trainer(config).run()
    assert report["steps"] == 3 and report["data_report"]["format"] == "scored"
    assert report["sts_training_data"] == [str(korsts / "sts-train.tsv")]
    from tf_simcse.exporting import training_model_card

    assert "not comparable" in training_model_card(tmp_path / objective)["notes"]
    assert [e["step"] for e in report["evaluations"]] == [0, 3]
    losses = json.loads((tmp_path / objective / "trainer_state.json").read_text())["losses"]
    assert [s for s, _ in losses] == [1, 2, 3] and all(np.isfinite(x) for _, x in losses)


@pytest.mark.shared_data
def test_labelled_pairs_with_their_label_convention(shared_data, tmp_path):
    """Korean question pairs: is_duplicate 0 means the same question."""
    train = str(shared_data / "question_pair" / "train.txt")
    validation = f"question_pair={shared_data / 'question_pair' / 'validation.txt'}"
    report = Trainer(_config(tmp_path, "online_contrastive", [train], positive_label="0", eval_data=[validation],
                             metric_for_best_model="average_precision", eval_steps=3, export=True)).run()
    # The export carries the threshold of best accuracy on the dev task, which the server reads.
    from tf_simcse.exporting import read_decision_threshold

    stored = read_decision_threshold(tmp_path / "online_contrastive" / "export")
    best = [e for e in report["evaluations"] if e["step"] == report["best_step"]][0]
    assert stored["split"] == "question_pair:validation" and stored["metric"] == "accuracy"
    assert abs(stored["threshold"] - best["question_pair:validation/accuracy_threshold"]) < 1e-6
    data = report["data_report"]
    assert data["format"] == "labelled" and data["positive_label"] == "0"
    assert data["identical_pairs"]["same"] > data["identical_pairs"]["different"]
    with pytest.raises(UserInputError, match="trains on scored pairs"):
        Trainer(_config(tmp_path, "cosent", [train], positive_label="0", output_dir=str(tmp_path / "wrong"))).run()


@pytest.mark.shared_data
def test_question_pair_task_reads_duplicates_as_label_0(shared_data):
    """The task's figures are sklearn's average precision / best accuracy of the cosine with 'same' = label 0."""
    from sklearn.metrics import average_precision_score

    from tf_simcse.encoders.encoder import Encoder
    from tf_simcse.evaluation.tasks import _embed_pairs, load_task_data, parse_task, run_task

    path = shared_data / "question_pair" / "validation.txt"
    task = parse_task(f"question_pair={path}")
    assert task.split == "validation"
    data = load_task_data(task)
    rows = [line.rstrip("\n").split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    assert len(data) == len(rows) == 682
    np.testing.assert_array_equal(data.labels, [int(r[2] == "0") for r in rows])
    encoder = Encoder.from_pretrained(FIXTURES / "tiny_bert", pooler="avg", max_seq_length=32)
    metrics = run_task(encoder, task, data=data)
    # The task's embeddings (each distinct sentence encoded once, so identical questions tie at cosine 1), then
    # the cosine by numpy and the average precision by scikit-learn.
    a, b = (x.astype(np.float64) for x in _embed_pairs(encoder, data.sentence1, data.sentence2, 64))
    # (Rounding matters: the cosines of identical pairs must tie exactly, so the same expression as the library.)
    cos = np.einsum("nd,nd->n", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    expected = 100 * average_precision_score(data.labels, cos)
    assert abs(metrics["average_precision"] - expected) < 1e-3, (metrics["average_precision"], expected)
