"""Tiny keras-hub BERT encoders and SimCSE batches for the training-core tests (not a test module)."""

import functools

import keras
import keras_hub
import numpy as np

VOCAB = 50
MAX_LEN = 16
HIDDEN = 16


def tiny_encoder(pooler="cls", dropout=0.0, seed=0, mlp_only_train=False, init_scale=0.3):
    """A 2-layer BERT (hidden 16, vocab 50) wrapped in `Encoder`; identical weights for the same seed.

    BERT's normal(0.02) init makes every sentence of a tiny random model embed almost identically (cosines
    > 0.9999), which would make the contrastive logits flat and the tests weak; matrices are re-drawn from
    normal(`init_scale`) so that cosines spread over roughly [0.1, 0.96].
    """
    from tf_simcse.encoders.encoder import Encoder

    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=HIDDEN,
        intermediate_dim=32,
        max_sequence_length=MAX_LEN,
        dropout=dropout,
    )
    encoder = Encoder(backbone, pooler=pooler, mlp_only_train=mlp_only_train)
    if init_scale:
        rng = np.random.default_rng(seed)
        for v in encoder.weights:
            if len(v.shape) >= 2:
                v.assign(rng.normal(0.0, init_scale, v.shape).astype("float32"))
    return encoder


def packed(batch, length, rng, min_len=3):
    """Random packed inputs: [CLS]=1 ... [SEP]=2, then padding (id 0, mask 0); ids of real tokens in [5, VOCAB)."""
    ids = np.zeros((batch, length), np.int32)
    mask = np.zeros((batch, length), np.int32)
    for i in range(batch):
        n = int(rng.integers(min_len, length + 1))
        ids[i, :n] = rng.integers(5, VOCAB, size=n)
        ids[i, 0], ids[i, n - 1] = 1, 2
        mask[i, :n] = 1
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": np.zeros_like(ids)}


def simcse_batch(objective, batch, rng, lengths=(10, 12, 8)):
    """A batch in the `tf_simcse.model` format; the views get different padded lengths (dynamic padding)."""
    views = {"unsup": ("anchor",), "pair": ("anchor", "positive"), "sup": ("anchor", "positive", "hard_negative")}
    return {view: packed(batch, length, rng) for view, length in zip(views[objective], lengths)}


def copy_weights(source, target):
    for s, t in zip(source.weights, target.weights):
        t.assign(s.numpy())


@functools.cache
def mirrored():
    """The session's shared `MirroredStrategy` over the two logical CPUs of tests/conftest.py.

    Built by `resolve_strategy("mirrored")`, which keeps its collective keys clear of any other strategy's (a
    second plain MirroredStrategy in one process reuses the first one's keys and its collectives abort).
    """
    from tf_simcse.distribute import resolve_strategy

    return resolve_strategy("mirrored")


def fresh_mirrored(use_merge_call=True):
    """A new MirroredStrategy over the two CPUs. `use_merge_call=False` makes it run like MirroredStrategy under
    XLA on GPUs, where Keras takes its no-merge-call code paths (the stub of TensorFlow's strategy_combinations).
    """
    from tf_simcse.distribute import resolve_strategy

    strategy = resolve_strategy("mirrored")
    if not use_merge_call:
        strategy.extended._use_merge_call = lambda: False
    return strategy


def assert_trained_alike(initial, reference, weights, model, label, moved_at_least=1e-4):
    """2-replica `weights` equal the 1-device `reference` within 1e-6, and every compared weight moved.

    The attention key biases have an identically zero gradient (softmax ignores a per-query constant): Adam turns
    their rounding noise into lr-sized steps of random sign, so they are compared by size only; the backbone's
    unused pooled-output dense gets no gradient at all. In embedding tables, an element whose occurrences'
    gradients nearly cancel in some step has the rounding of that sum as a visible share of its Adam step (Adam
    divides by the size of the sum): up to 1% of their elements may differ by up to 1e-4 (2% of a step here).
    """
    paths = [v.path for v in model.trainable_variables]
    real = [i for i, p in enumerate(paths) if not p.endswith("key/bias") and not p.startswith("pooled_dense/")]
    tables = [i for i in real if paths[i].endswith("embedding/embeddings")]
    diff = max(float(np.abs(reference[i] - weights[i]).max()) for i in real if i not in tables)
    table_diff = max(float(np.abs(reference[i] - weights[i]).max()) for i in tables)
    loose = sum(int((np.abs(reference[i] - weights[i]) > 1e-6).sum()) for i in tables)
    size = sum(reference[i].size for i in tables)
    moved = min(float(np.abs(reference[i] - initial[i]).max()) for i in real)
    print(f"{label}: max |weight diff| 2 replicas vs 1-device reference {diff:.2e}, embedding tables {table_diff:.2e} "
          f"({loose} of {size} elements over 1e-6; every weight moved >= {moved:.2e})")
    assert moved > moved_at_least
    assert diff < 1e-6
    assert table_diff < 1e-4 and loose <= 0.01 * size
    # With PyTorch's epsilon (`distribute.AdamW`) a noise gradient of ~eps size already takes a sizeable share of
    # an lr step; bounded by the schedule of the callers (lr 5e-3, 4 steps, warmup 1: the lrs sum to 1e-2).
    noise = [i for i, p in enumerate(paths) if p.endswith("key/bias")]
    noise_moved = max(float(np.abs(weights[i] - initial[i]).max()) for i in noise)
    print(f"{label}: attention key biases (zero gradient up to rounding) moved by at most {noise_moved:.2e}")
    assert noise_moved < 1e-2


class Kill(Exception):
    """What `KillAfter` raises: the test's stand-in for a killed process."""


def kill_after(trainer, step):
    """A Keras callback that stops a Trainer's run like a kill once it has trained `step` batches (the trainer's
    own callback, which checkpoints, runs first)."""
    import keras

    class KillAfter(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if trainer.step >= step:
                raise Kill(f"killed after step {step}")

    return KillAfter()
