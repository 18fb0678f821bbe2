"""`BertFamilyBackbone`: a post-LayerNorm Transformer encoder that follows its checkpoint's hyperparameters."""

import keras
import keras_hub


def _gelu_exact(x):
    return keras.activations.gelu(x, approximate=False)


def _gelu_tanh(x):
    return keras.activations.gelu(x, approximate=True)


def _quick_gelu(x):
    return x * keras.activations.sigmoid(1.702 * x)


# Hugging Face `hidden_act` names -> the function each one computes. "gelu" is the exact (erf) form; "gelu_new",
# "gelu_fast" and "gelu_pytorch_tanh" are three spellings of the tanh approximation.
ACTIVATIONS = {
    "gelu": _gelu_exact,
    "gelu_new": _gelu_tanh,
    "gelu_fast": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "quick_gelu": _quick_gelu,
    "relu": keras.activations.relu,
    "silu": keras.activations.silu,
    "swish": keras.activations.silu,
    "tanh": keras.activations.tanh,
}


@keras.saving.register_keras_serializable(package="tf_simcse")
class BertFamilyBackbone(keras_hub.models.Backbone):
    """A BERT-style encoder (BERT, RoBERTa, XLM-R, KLUE-RoBERTa, DistilBERT) with checkpoint-exact numerics.

    keras-hub's `BertBackbone` fixes the feed-forward activation to tanh-approximate GELU and every LayerNorm
    epsilon to 1e-12, while most Hugging Face BERT checkpoints (all-MiniLM-L6-v2 among them) use exact GELU, and
    RoBERTa-family checkpoints use epsilon 1e-5. This backbone takes both as constructor arguments, so they are
    part of its config and survive `save_to_preset` / `from_preset`. Its layer names and variable shapes are those
    of `keras_hub.models.BertBackbone`.

    Positions are absolute, starting at 0 for the first token: RoBERTa-family checkpoints are converted by dropping
    their first `pad_token_id + 1` position rows, which is exact for right-padded batches only (Hugging Face counts
    RoBERTa positions from the first non-pad token; with left padding the two would disagree).

    Dropout: one rate is used for the embeddings, the attention probabilities and both residual branches
    (keras-hub's `TransformerEncoder` has a single `dropout`). Hugging Face configs carry two rates,
    `attention_probs_dropout_prob` and `hidden_dropout_prob`; the converters use `hidden_dropout_prob`. The two are
    equal (0.1) in every BERT / RoBERTa / MiniLM / KLUE checkpoint we know of, and SimCSE uses 0.1 for both.

    Args:
        vocabulary_size: int. Rows of the token embedding.
        num_layers: int. Transformer layers.
        num_heads: int. Attention heads per layer.
        hidden_dim: int. Width of the hidden states.
        intermediate_dim: int. Width of the feed-forward layer.
        dropout: float. See above.
        max_sequence_length: int. Rows of the position embedding (the longest input accepted).
        num_segments: int. Rows of the token-type embedding. 0: no token-type embedding (DistilBERT); 1: its one
            row is added to every token and the model has no `segment_ids` input (RoBERTa, XLM-R, KLUE-RoBERTa);
            2 or more: a `segment_ids` input selects the row (BERT).
        hidden_activation: str. A Hugging Face `hidden_act` name, a key of `ACTIVATIONS`.
        layer_norm_epsilon: float. Epsilon of every LayerNorm.
        use_pooler: bool. Whether to add BERT's pooler (dense + tanh on the first token) as `pooled_output`.
        initializer_range: float. Stddev of the truncated-normal initializer used for fresh weights.
        dtype: string or `keras.DTypePolicy`. The dtype policy of the layers.

    Inputs: a dict of int32 `[batch, length]` tensors `token_ids`, `padding_mask` (1 for real tokens, right
    padded) and, when `num_segments >= 2`, `segment_ids`.
    Outputs: a dict with `sequence_output` (`[batch, length, hidden_dim]`) and, with `use_pooler`,
    `pooled_output` (`[batch, hidden_dim]`).
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.1,
        max_sequence_length=512,
        num_segments=2,
        hidden_activation="gelu",
        layer_norm_epsilon=1e-12,
        use_pooler=True,
        initializer_range=0.02,
        dtype=None,
        **kwargs,
    ):
        if hidden_activation not in ACTIVATIONS:
            raise ValueError(
                f"hidden_activation={hidden_activation!r} is not supported; use one of {sorted(ACTIVATIONS)}"
            )
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim={hidden_dim} is not divisible by num_heads={num_heads}")

        def initializer():
            return keras.initializers.TruncatedNormal(stddev=initializer_range)

        # === Layers ===
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            hidden_dim,
            embeddings_initializer=initializer(),
            dtype=dtype,
            name="token_embedding",
        )
        self.position_embedding = keras_hub.layers.PositionEmbedding(
            sequence_length=max_sequence_length,
            initializer=initializer(),
            dtype=dtype,
            name="position_embedding",
        )
        self.segment_embedding = None
        if num_segments > 0:
            self.segment_embedding = keras.layers.Embedding(
                num_segments,
                hidden_dim,
                embeddings_initializer=initializer(),
                dtype=dtype,
                name="segment_embedding",
            )
        self.embeddings_add = keras.layers.Add(dtype=dtype, name="embeddings_add")
        self.embeddings_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="embeddings_layer_norm"
        )
        self.embeddings_dropout = keras.layers.Dropout(dropout, dtype=dtype, name="embeddings_dropout")
        self.transformer_layers = [
            keras_hub.layers.TransformerEncoder(
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                activation=ACTIVATIONS[hidden_activation],
                dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                kernel_initializer=initializer(),
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.pooled_dense = None
        if use_pooler:
            self.pooled_dense = keras.layers.Dense(
                hidden_dim,
                activation="tanh",
                kernel_initializer=initializer(),
                dtype=dtype,
                name="pooled_dense",
            )

        # === Functional Model ===
        inputs = {
            "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
            "padding_mask": keras.Input(shape=(None,), dtype="int32", name="padding_mask"),
        }
        if num_segments >= 2:
            inputs["segment_ids"] = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        tokens = self.token_embedding(inputs["token_ids"])
        embeddings = [tokens, self.position_embedding(tokens)]
        if num_segments >= 2:
            embeddings.append(self.segment_embedding(inputs["segment_ids"]))
        elif num_segments == 1:
            # A single token type: its row is a constant added to every position.
            embeddings.append(self.segment_embedding(keras.ops.zeros_like(inputs["token_ids"])))
        x = self.embeddings_add(embeddings)
        x = self.embeddings_layer_norm(x)
        x = self.embeddings_dropout(x)
        for transformer_layer in self.transformer_layers:
            x = transformer_layer(x, padding_mask=inputs["padding_mask"])
        outputs = {"sequence_output": x}
        if use_pooler:
            outputs["pooled_output"] = self.pooled_dense(x[:, 0, :])
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.hidden_activation = hidden_activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.use_pooler = use_pooler
        self.initializer_range = initializer_range

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "max_sequence_length": self.max_sequence_length,
                "num_segments": self.num_segments,
                "hidden_activation": self.hidden_activation,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "use_pooler": self.use_pooler,
                "initializer_range": self.initializer_range,
            }
        )
        return config
