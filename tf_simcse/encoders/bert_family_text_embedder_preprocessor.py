"""`BertFamilyTextEmbedderPreprocessor`: tf_simcse's `TextPreprocessor` as a keras-hub `Preprocessor`.

This is what lets a keras-hub preset carry tf_simcse's tokenizers (WordPiece, SentencePiece, byte-level BPE, all
id-exact with Hugging Face `tokenizers`). Its files live in the preset under `assets/tf_simcse_preprocessor/`
(the `TextPreprocessor.save` layout), apart from keras-hub's own `preprocessor.json` at the preset's root.

Its output uses keras-hub's input names (`token_ids`, `padding_mask`, `segment_ids`): it is the boundary where
keras-hub users meet the model, as in every keras-hub preprocessor.
"""

import posixpath

import keras
import keras_hub
# keras-hub has no public names for these two (0.30-0.32): `get_file` fetches one file of a preset (a directory,
# kaggle://, hf://) and returns its local path, as keras-hub's own tokenizers load their assets;
# `preprocessing_function` is the decorator of every keras-hub preprocessor's `call`.
from keras_hub.src.utils.preset_utils import get_file
from keras_hub.src.utils.tensor_utils import preprocessing_function

from tf_simcse import features
from tf_simcse import fileio
from tf_simcse.encoders.backbone import BertFamilyBackbone
from tf_simcse.errors import UserInputError
from tf_simcse.preprocessing import text_preprocessor as text_preprocessor_lib
from tf_simcse.preprocessing.text_preprocessor import TextPreprocessor

ASSETS_DIR = posixpath.join("assets", "tf_simcse_preprocessor")


@keras.saving.register_keras_serializable(package="tf_simcse")
class BertFamilyTextEmbedderPreprocessor(keras_hub.models.TextEmbedderPreprocessor):
    """Strings (or a pair of string tensors) -> `{token_ids, padding_mask, segment_ids}` int32.

    Args:
        text_preprocessor: a `tf_simcse.preprocessing.TextPreprocessor`; None when the layer is rebuilt from a
            preset config, whose `load_preset_assets` then reads it from `assets/tf_simcse_preprocessor/`.
        sequence_length: the packed length (special tokens included); longer inputs are truncated.
        dynamic: pad each batch to its longest row (True) or to `sequence_length` (False). The embeddings are the
            same either way (attention and pooling are masked); static shapes suit TPUs and XLA.
    """

    backbone_cls = BertFamilyBackbone

    def __init__(self, text_preprocessor=None, sequence_length=128, dynamic=True, **kwargs):
        self._text_preprocessor = None
        super().__init__(tokenizer=None, sequence_length=sequence_length, **kwargs)
        self.dynamic = bool(dynamic)
        if text_preprocessor is not None:
            self.text_preprocessor = text_preprocessor

    @property
    def text_preprocessor(self):
        """The `TextPreprocessor` (None until `load_preset_assets` for a layer rebuilt from a config)."""
        return self._text_preprocessor

    @text_preprocessor.setter
    def text_preprocessor(self, value):
        # Rebuilt with this layer's length and padding, so that `sequence_length` is the one source of both.
        self._text_preprocessor = TextPreprocessor(
            value.tokenizer, self.sequence_length, pair_style=value.pair_style, dynamic=self.dynamic
        )

    @property
    def sequence_length(self):
        return self._sequence_length

    @sequence_length.setter
    def sequence_length(self, value):
        self._sequence_length = int(value)
        if getattr(self, "_text_preprocessor", None) is not None:
            self.text_preprocessor = self._text_preprocessor

    def build(self, input_shape):
        # keras-hub's base builds a MultiSegmentPacker from a keras-hub tokenizer; ours packs in TextPreprocessor.
        self.built = True

    @preprocessing_function
    def call(self, x, y=None, sample_weight=None):
        if self.text_preprocessor is None:
            raise ValueError(
                "this preprocessor has no vocabulary: build it with a TextPreprocessor or load it with from_preset()"
            )
        packed = self.text_preprocessor(x)
        x = {features.KERAS_HUB[name]: packed[name] for name in features.NAMES}
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.pop("truncate", None)  # TextPreprocessor truncates each segment to fit; there is no other mode
        config["dynamic"] = self.dynamic
        return config

    def save_to_preset(self, preset_dir):
        super().save_to_preset(preset_dir)
        self.text_preprocessor.save(posixpath.join(preset_dir, ASSETS_DIR))

    def load_preset_assets(self, preset):
        """Reads the `TextPreprocessor` files of `preset` (a directory, or a kaggle:// / hf:// handle)."""
        config_path = get_file(preset, posixpath.join(ASSETS_DIR, text_preprocessor_lib.CONFIG_FILE))
        config = fileio.read_json(config_path)
        if not isinstance(config, dict) or "vocabulary_file" not in config:
            raise UserInputError(f"{config_path}: not a tf_simcse preprocessor config")
        for name in text_preprocessor_lib.vocabulary_files(config):
            get_file(preset, posixpath.join(ASSETS_DIR, name))
        self.text_preprocessor = TextPreprocessor.load(fileio.dirname(config_path))
