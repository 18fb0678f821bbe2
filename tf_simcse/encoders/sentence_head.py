"""`SentenceHead`: backbone -> one vector per sentence, shared by `Encoder` and `BertFamilyTextEmbedder`.

Both models are this head on a keras-hub backbone; they differ only in what surrounds it (`Encoder`: the
`TextPreprocessor`, `encode`, tf_simcse's loaders; the text embedder: keras-hub's `Task` API and preset format).
Keeping the head in a mixin gives both the same attribute names (`pool`, `mlp`), hence the same weights in the
same places, with neither class importing the other.
"""

import keras
import tensorflow as tf

from tf_simcse import features
from tf_simcse.encoders import checkpoints
from tf_simcse.encoders.poolers import LAYERS_NEEDED, MLPHead, SentencePooler, check_pooler


class SentenceHead:
    """Mixin for a `keras.Model` that pools a backbone's hidden states; call `_build_head` in `__init__`.

    The MLP head exists for `pooler == "cls"` and is applied when training or when not `mlp_only_train`: exactly
    the rule of princeton-nlp/SimCSE (`cl_forward` vs `sentemb_forward`).
    """

    def _build_head(self, backbone, pooler, mlp_only_train):
        self.pooler = check_pooler(pooler)
        self.mlp_only_train = bool(mlp_only_train)
        self.hidden_dim = int(backbone.hidden_dim)
        wanted = LAYERS_NEEDED[self.pooler]
        layers = backbone.transformer_layers
        if len(layers) < 2 and any(i not in (-1, len(layers) - 1) for i in wanted):
            raise ValueError(f"pooler {pooler!r} needs at least 2 transformer layers; the backbone has {len(layers)}.")
        last = backbone.output["sequence_output"]
        states = [last if i in (-1, len(layers) - 1) else layers[i].output for i in wanted]
        # A view of the backbone that also exposes the intermediate layers the pooler reads (shared weights).
        self._hidden_states = keras.Model(backbone.input, states, name="hidden_states")
        self._backbone_names = checkpoints.backbone_input_names(backbone)  # ours -> the backbone's (features)
        self.pool = SentencePooler(self.pooler, name="pool")
        self.mlp = MLPHead(self.hidden_dim, name="mlp") if self.pooler == "cls" else None
        if self.mlp is not None:
            self.mlp.build((None, self.hidden_dim))

    def backbone_inputs(self, inputs):
        """Maps the packed dict (`tf_simcse.features` names) onto the backbone's input names."""
        missing = [ours for ours in self._backbone_names if ours not in inputs]
        if missing:
            raise ValueError(f"inputs lack {missing}; got keys {sorted(inputs)}.")
        return {theirs: inputs[ours] for ours, theirs in self._backbone_names.items()}

    def uses_mlp(self, training):
        return self.mlp is not None and (bool(training) or not self.mlp_only_train)

    def embed(self, inputs, training=False):
        """Packed inputs (`tf_simcse.features` names) -> float32 `[batch, hidden]`, not normalized."""
        states = self._hidden_states(self.backbone_inputs(inputs), training=training)
        if not isinstance(states, (list, tuple)):
            states = [states]
        embedding = self.pool(list(states), inputs[features.MASK])
        if self.uses_mlp(training):
            embedding = self.mlp(embedding)
        return embedding

    def init_mlp_from_backbone_pooler(self):
        """Copies a BERT-style pretrained pooler (dense + tanh on [CLS]) into the MLP head.

        Released SimCSE checkpoints in Hugging Face format store the trained MLP as BERT's pooler, so loading it
        this way reproduces their `cls` embeddings. Returns False when there is nothing to copy.
        """
        pooled_dense = getattr(self.backbone, "pooled_dense", None)
        if self.mlp is None or pooled_dense is None:
            return False
        self.mlp.dense.kernel.assign(tf.cast(pooled_dense.kernel, "float32"))
        self.mlp.dense.bias.assign(tf.cast(pooled_dense.bias, "float32"))
        return True
