"""Sentence poolers of the official SimCSE code, as Keras layers.

| pooler              | embedding                                                              |
|---------------------|------------------------------------------------------------------------|
| `cls`               | [CLS] of the last layer, then the MLP head (dense + tanh)              |
| `cls_before_pooler` | [CLS] of the last layer, no MLP                                        |
| `avg`               | masked mean of the last layer                                          |
| `avg_top2`          | masked mean of (last + second-to-last layer) / 2                       |
| `avg_first_last`    | masked mean of (first transformer layer + last layer) / 2              |

"First layer" is the output of the first transformer block (HF `hidden_states[1]`), not the embedding layer,
as in princeton-nlp/SimCSE. When the MLP head is applied is decided by `Encoder` (the `mlp_only_train` rule),
not here: this layer only reduces token states to one vector per sentence.

All pooling runs in float32 even under a mixed-precision policy: the contrastive loss divides cosines by a
temperature of 0.05, which magnifies half-precision rounding of the embeddings.
"""

import keras
from keras import ops

POOLERS = ("cls", "cls_before_pooler", "avg", "avg_top2", "avg_first_last")

# Which transformer-layer outputs (indices into the list of transformer blocks) each pooler reads.
LAYERS_NEEDED = {
    "cls": (-1,),
    "cls_before_pooler": (-1,),
    "avg": (-1,),
    "avg_top2": (-2, -1),
    "avg_first_last": (0, -1),
}


def check_pooler(pooler):
    if pooler not in POOLERS:
        raise ValueError(f"Unknown pooler {pooler!r}: choose one of {', '.join(POOLERS)}.")
    return pooler


@keras.saving.register_keras_serializable(package="tf_simcse")
class SentencePooler(keras.layers.Layer):
    """Reduces the hidden states a pooler needs (see `LAYERS_NEEDED`) to `[batch, hidden]` float32.

    Call with `hidden_states`, a list holding the layers named by `LAYERS_NEEDED[pooler]` in that order, and
    `mask`, the `[batch, len]` padding mask (1 = token).
    """

    def __init__(self, pooler="cls", **kwargs):
        super().__init__(**kwargs)
        self.pooler = check_pooler(pooler)

    def call(self, hidden_states, mask):
        states = [ops.cast(h, "float32") for h in hidden_states]
        if self.pooler in ("cls", "cls_before_pooler"):
            return states[-1][:, 0, :]
        token_states = states[0] if len(states) == 1 else (states[0] + states[1]) / 2.0
        mask = ops.cast(mask, "float32")[:, :, None]
        summed = ops.sum(token_states * mask, axis=1)
        # An all-padding row (impossible after packing, which always adds [CLS]/[SEP]) would divide by zero.
        count = ops.maximum(ops.sum(mask, axis=1), 1.0)
        return summed / count

    def get_config(self):
        config = super().get_config()
        config.update({"pooler": self.pooler})
        return config


@keras.saving.register_keras_serializable(package="tf_simcse")
class MLPHead(keras.layers.Layer):
    """SimCSE's MLP over the [CLS] state: dense(hidden) + tanh, computed in float32.

    Initialised like a Hugging Face BERT linear layer (normal(0.02), zero bias), the official code's init.
    """

    def __init__(self, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.dense = keras.layers.Dense(
            hidden_dim,
            activation="tanh",
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
            dtype="float32",
            name="dense",
        )

    def build(self, input_shape):
        self.dense.build((None, self.hidden_dim))
        self.built = True

    def call(self, x):
        return self.dense(ops.cast(x, "float32"))

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_dim": self.hidden_dim})
        return config
