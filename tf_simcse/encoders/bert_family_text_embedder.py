"""`BertFamilyTextEmbedder`: a tf_simcse sentence encoder as a keras-hub `TextEmbedder` task.

Every model tf_simcse saves (a training run's `best/`, `Encoder.save_pretrained`, the export's `keras_hub/`) is a
keras-hub preset of this task, so after `import tf_simcse` (which registers the classes):

    embedder = keras_hub.models.TextEmbedder.from_preset("runs/sup/best")
    embedder.encode_text(["문장 하나", "또 하나"])   # == Encoder.from_pretrained("runs/sup/best").encode(...)

Its embeddings are those of `tf_simcse.encoders.encoder.Encoder` (same `SentenceHead`, same weights): the pooler
and the MLP rule of the run, not L2-normalized (keras-hub's `BertTextEmbedder` normalizes; cosine similarity
is the same either way).
"""

import keras
import keras_hub

from tf_simcse import features
from tf_simcse.encoders.backbone import BertFamilyBackbone
from tf_simcse.encoders.bert_family_text_embedder_preprocessor import BertFamilyTextEmbedderPreprocessor
from tf_simcse.encoders.sentence_head import SentenceHead


@keras.saving.register_keras_serializable(package="tf_simcse")
class BertFamilyTextEmbedder(SentenceHead, keras_hub.models.TextEmbedder):
    """Backbone + SimCSE pooler (+ MLP head) as a keras-hub task.

    Args:
        backbone: a `BertFamilyBackbone` (any dict-output keras-hub text backbone works in memory; presets of
            other backbones are not found by `keras_hub.models.TextEmbedder.from_preset`).
        preprocessor: a `BertFamilyTextEmbedderPreprocessor`, or None to call the model on packed inputs.
        pooler: one of `tf_simcse.encoders.poolers.POOLERS`.
        mlp_only_train: with `pooler="cls"`, apply the MLP head during training only (SimCSE's unsupervised
            recipe).

    Inputs: strings through the preprocessor (`encode_text`, `predict`), or a dict of int32 `[batch, length]`
    `token_ids`, `padding_mask` and `segment_ids` (keras-hub's names). Output: float32 `[batch, hidden_dim]`.
    """

    backbone_cls = BertFamilyBackbone
    preprocessor_cls = BertFamilyTextEmbedderPreprocessor

    def __init__(self, backbone, preprocessor=None, pooler="cls", mlp_only_train=False, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor
        self._build_head(backbone, pooler, mlp_only_train)
        self.built = True  # every weight exists (the backbone's and the MLP head's)

    def call(self, inputs, training=False):
        packed = {name: inputs[features.KERAS_HUB[name]] for name in features.NAMES if features.KERAS_HUB[name] in inputs}
        return self.embed(packed, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"pooler": self.pooler, "mlp_only_train": self.mlp_only_train})
        return config
