"""Reading a `tf_simcse.export` directory back: the format's names and the Keras `Encoder` rebuilt from it.

This is the loading side of the export format; the writing side is `tf_simcse.exporting`, which imports these
names from here. `Encoder.from_pretrained(export_dir)` comes here, so loading a model never imports the exporting
code (no import cycle between `tf_simcse.encoders` and `tf_simcse.exporting`).

Export directory layout (written by `tf_simcse.exporting.export_model`):

    README.md               model card
    tf_simcse_export.json   what the export holds: pooler, seq_length, dims, the backbone's Keras config, the
                            model card data, versions
    preprocessor/           SavedModel; assets/ holds the vocabulary; assets.extra/ the `TextPreprocessor.save`
                            files tf_simcse reloads
    encoder/                SavedModel; its variables are also the Keras Encoder's checkpoint
    sentence_encoder/       SavedModel
    keras_hub/              the same model as a keras-hub preset (`Encoder.save_pretrained`): after `import
                            tf_simcse`, `keras_hub.models.TextEmbedder.from_preset("<export>/keras_hub")`
"""

import copy
import posixpath

import keras
import tensorflow as tf

from tf_simcse import fileio
from tf_simcse.encoders import checkpoints
from tf_simcse.errors import UserInputError

EXPORT_CONFIG_FILE = "tf_simcse_export.json"
PREPROCESSOR_DIR = "preprocessor"
ENCODER_DIR = "encoder"
SENTENCE_ENCODER_DIR = "sentence_encoder"
KERAS_HUB_DIR = "keras_hub"
# Inside preprocessor/: the files TextPreprocessor.load reads (SavedModel's place for files the graph does not use).
PREPROCESSOR_FILES_DIR = posixpath.join(PREPROCESSOR_DIR, "assets.extra")
FORMAT = "tf_simcse.export"
FORMAT_VERSION = 1


def tf_variable(variable):
    """The `tf.Variable` behind a Keras 3 variable (or the variable itself)."""
    value = variable.value if isinstance(variable, keras.Variable) else variable
    if not isinstance(value, tf.Variable):
        raise TypeError(
            f"{getattr(variable, 'path', variable)} is not backed by a tf.Variable ({type(value).__name__})."
        )
    return value


def is_export_dir(path):
    return fileio.isfile(fileio.join(path, EXPORT_CONFIG_FILE))


def read_export_config(path):
    """The export's `tf_simcse_export.json`; `path` may be local or any `tf.io.gfile` URL (gs://...)."""
    config_file = fileio.join(path, EXPORT_CONFIG_FILE)
    if not fileio.exists(config_file):
        raise FileNotFoundError(f"{config_file}: no such file (not a tf_simcse export directory).")
    config = fileio.read_json(config_file)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise UserInputError(f"{config_file} is not a tf_simcse export config (format {found!r}).")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise UserInputError(
            f"{config_file} has format_version {config['format_version']}; this tf_simcse reads up to "
            f"{FORMAT_VERSION}: upgrade tf_simcse."
        )
    return config


def load_exported_encoder(
    path,
    *,
    pooler=None,
    max_seq_length=None,
    dropout=None,
    mlp_only_train=None,
    dynamic_padding=True,
    encoder_class,
):
    """Rebuilds the Keras `Encoder` of an export directory: `Encoder.from_pretrained(export_dir)` calls this with
    `encoder_class` its own class (given, not imported: the encoder module imports this one).

    The backbone is rebuilt from its Keras config under the current dtype policy and its weights are read from
    the `encoder` SavedModel's variables, the same numbers the SavedModels compute with. Arguments as for
    `Encoder.from_pretrained`; the export's pooler and seq_length are the defaults.
    """
    from tf_simcse.preprocessing import TextPreprocessor

    path = fileio.as_path(path)
    info = read_export_config(path)
    try:
        backbone_config = copy.deepcopy(info["backbone"])
        backbone_config["config"].pop("dtype", None)  # the current policy, as for a Hugging Face checkpoint
        if dropout is not None:
            backbone_config["config"]["dropout"] = float(dropout)
        backbone = keras.saving.deserialize_keras_object(backbone_config)
    except (KeyError, TypeError, ValueError) as e:
        raise UserInputError(
            f"{fileio.join(path, EXPORT_CONFIG_FILE)}: cannot rebuild the backbone from its 'backbone' entry "
            f"({type(e).__name__}: {e})"
        ) from None
    seq_length = checkpoints.sequence_length(backbone, max_seq_length, info["seq_length"])
    preprocessor = TextPreprocessor.load(
        fileio.join(path, PREPROCESSOR_FILES_DIR), seq_length=seq_length, dynamic=dynamic_padding
    )
    encoder = encoder_class(
        backbone,
        pooler=pooler or info["pooler"],
        mlp_only_train=info["mlp_only_train"] if mlp_only_train is None else mlp_only_train,
        preprocessor=None,
    )
    # The SavedModel's variables are a checkpoint whose root (EncoderModule) lists every weight in order.
    reader = tf.train.Checkpoint()
    reader.backbone_weights = [tf_variable(v) for v in backbone.weights]
    if encoder.mlp is not None and info["has_mlp_head"]:
        reader.mlp_weights = [tf_variable(v) for v in encoder.mlp.weights]
    variables_path = fileio.join(path, ENCODER_DIR, "variables", "variables")
    try:
        status = reader.read(variables_path)
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise UserInputError(f"{variables_path} does not hold the weights of the exported Encoder: {e}") from None
    status.expect_partial()
    if encoder.mlp is not None and not info["has_mlp_head"]:
        encoder.init_mlp_from_backbone_pooler()  # as for a checkpoint without a trained head
    encoder.preprocessor = preprocessor
    return encoder
