"""Checkpoints in, keras-hub backbones out: local Hugging Face directories, keras-hub presets, fresh configs.

Every backbone returned here takes a dict of int32 `[batch, length]` inputs (`backbone_input_names` says which)
and returns a dict with `sequence_output` (`[batch, length, hidden]`) -- and `pooled_output` where the checkpoint
has a pooler.

Hugging Face checkpoints (model_type bert, roberta, xlm-roberta, camembert, distilbert) all become a
`BertFamilyBackbone`, converted by our own weight mapping rather than keras-hub's converters, because none of
those is output-exact for the general case:
- bert: `BertBackbone` hard-codes tanh-approximate GELU and LayerNorm epsilon 1e-12; transformers' "gelu" is
  the exact erf form (all-MiniLM-L6-v2 uses it), and some checkpoints set another epsilon.
- roberta: the converter ignores the token-type embedding transformers adds to every token, only reads weights
  saved under a `roberta.` prefix (a bare `RobertaModel` has none), and drops the pooler. KLUE-RoBERTa
  additionally has a WordPiece vocabulary (see `klue_roberta.py`).
- xlm-roberta: the weights are ported exactly, but `XLMRobertaBackbone` returns a bare tensor, not a dict, and
  the pooler is dropped.
- distilbert: the converter only reads weights saved under a `distilbert.` prefix (a bare `DistilBertModel` has
  none), `DistilBertBackbone` returns a bare tensor, and the config's `activation` is not read.
keras-hub presets (a directory `save_backbone` wrote, or keras-hub's own format) load through keras-hub; its
`BertBackbone` and the tensor-output RoBERTa / XLM-R / DistilBERT backbones are rebuilt as `BertFamilyBackbone`
with the same weights and the same numerics as keras-hub's own classes, so that every model tf_simcse saves is a
preset of `BertFamilyTextEmbedder`. Those numerics are keras-hub's, not always the original checkpoint's:
keras-hub's `BertBackbone` computes tanh-approximate GELU, while the Hugging Face checkpoints behind its MiniLM
and BGE presets use exact GELU (measured on all-MiniLM-L6-v2 in tests/encoders/presets_test.py); where both
exist, the Hugging Face directory is the exact path.

Dropout: see `BertFamilyBackbone` -- one rate for attention probabilities and residuals, taken from
`hidden_dropout_prob` (DistilBERT: `dropout`).

Directories may be on any TensorFlow filesystem (`tf_simcse.fileio`); keras-hub reads and writes presets on local
disk only, so a remote preset is staged through a local temporary directory.
"""

import keras_hub

from tf_simcse import features
from tf_simcse import fileio
from tf_simcse.encoders import _hf_checkpoint
from tf_simcse.encoders import klue_roberta
from tf_simcse.encoders.backbone import BertFamilyBackbone
from tf_simcse.errors import UserInputError


# keras-hub backbones whose output is a bare tensor: their LayerNorm epsilon (all use exact GELU and no pooler).
_TENSOR_OUTPUT_BACKBONES = {
    "RobertaBackbone": 1e-5,
    "XLMRobertaBackbone": 1e-5,
    "DistilBertBackbone": 1e-12,
}


def load_backbone(path, *, dropout=None, dtype=None):
    """Load a backbone from a local directory.

    Args:
        path: either a Hugging Face checkpoint directory (`config.json` with a `model_type`, plus
            `model.safetensors`), or a keras-hub preset directory (what `save_backbone` writes, or a preset
            downloaded in keras-hub's own format).
        dropout: None keeps the checkpoint's rate (`hidden_dropout_prob` for Hugging Face, the saved value for
            presets); a float overrides it.
        dtype: the dtype policy of the backbone's layers (e.g. "mixed_bfloat16"); None for the global policy.

    Returns:
        A `keras_hub.models.Backbone` whose outputs are a dict with `sequence_output`.
    """
    path = fileio.as_path(path)
    if not fileio.isfile(fileio.join(path, "config.json")):
        raise FileNotFoundError(
            f"{path}: no config.json; expected a Hugging Face checkpoint directory or a keras-hub preset directory"
        )
    if is_keras_hub_preset(path):
        return _load_keras_hub_preset(path, dropout=dropout, dtype=dtype)
    if klue_roberta.is_klue_roberta(path):
        return klue_roberta.load_klue_roberta(path, dropout=dropout, dtype=dtype)
    return _hf_checkpoint.load(path, dropout=dropout, dtype=dtype)


# keras-hub's preset architectures that tf_simcse trains (the `path` of a built-in preset's metadata).
_PRESET_ARCHITECTURES = ("bert", "roberta", "xlm_roberta", "distil_bert")


def is_preset_handle(model):
    """Whether `model` names a keras-hub preset to download: a built-in name (`multilingual_e5_base`, `bge_m3`),
    `kaggle://owner/model/keras/variant[/version]` or `hf://owner/name`."""
    from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS

    return model.startswith(("kaggle://", "hf://")) or model in BUILTIN_PRESETS


def download_preset(handle):
    """Downloads a keras-hub preset (see `is_preset_handle`) into keras-hub's cache; returns its directory.

    Kaggle handles download with kagglehub, Hugging Face ones with huggingface_hub (both installed with
    keras-hub), the whole preset at once. A download that fails (no network, a gated or missing model) is one
    `UserInputError` naming the handle.
    """
    from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS

    if handle in BUILTIN_PRESETS:
        architecture = BUILTIN_PRESETS[handle].get("metadata", {}).get("path")
        if architecture not in _PRESET_ARCHITECTURES:
            raise UserInputError(
                f"--model {handle}: keras-hub's {handle} is a {architecture} model; tf_simcse trains the "
                f"architectures {', '.join(_PRESET_ARCHITECTURES)}"
            )
        source = BUILTIN_PRESETS[handle]["kaggle_handle"]
    else:
        source = handle
    try:
        if source.startswith("hf://"):
            import huggingface_hub

            return huggingface_hub.snapshot_download(source[len("hf://"):])
        import kagglehub

        return kagglehub.model_download(source[len("kaggle://"):])
    except Exception as e:  # noqa: BLE001 -- kagglehub, huggingface_hub and httpx share no error base class
        raise UserInputError(
            f"--model {handle}: cannot download this keras-hub preset ({type(e).__name__}: {str(e)[:300]})"
        ) from None


def create_backbone(config, *, dtype=None):
    """A randomly initialized `BertFamilyBackbone` from a Hugging Face-style config dict.

    Args:
        config: keys as in a transformers `config.json`: `model_type` (bert, roberta, xlm-roberta, camembert,
            distilbert), `vocab_size`, `hidden_size`, `num_hidden_layers`, `num_attention_heads`,
            `intermediate_size`, `max_position_embeddings`, and optionally `hidden_dropout_prob`, `hidden_act`,
            `type_vocab_size`, `layer_norm_eps`, `pad_token_id`, `initializer_range` (DistilBERT's own names:
            `dim`, `n_layers`, `n_heads`, `hidden_dim`, `dropout`, `activation`). Missing optional keys take
            transformers' defaults. An extra `use_pooler` (default: True except for distilbert) decides on the
            pooler.
        dtype: the dtype policy of the backbone's layers.
    """
    config = dict(config)
    kwargs = _hf_checkpoint.backbone_kwargs(config, source="create_backbone(config)")
    kwargs["use_pooler"] = bool(config.get("use_pooler", kwargs["use_pooler"]))
    return BertFamilyBackbone(**kwargs, dtype=dtype)


def as_bert_family(backbone):
    """`backbone` as a `BertFamilyBackbone`: keras-hub's `BertBackbone` is rebuilt with the same weights and the
    numerics it computes with (tanh-approximate GELU, LayerNorm epsilon 1e-12); other backbones are returned as
    they are. The result shares nothing with `backbone` (a copy) unless it is `backbone` itself."""
    if isinstance(backbone, BertFamilyBackbone) or type(backbone).__name__ != "BertBackbone":
        return backbone
    target = _bert_family_like(
        backbone,
        num_segments=backbone.num_segments,
        hidden_activation="gelu_new",  # keras-hub's BertBackbone: `gelu_approximate`
        layer_norm_epsilon=1e-12,
        use_pooler=True,
    )
    # Same layer names, classes and creation order (BertFamilyBackbone mirrors BertBackbone): same variables.
    target.set_weights(backbone.get_weights())
    return target


def save_backbone(backbone, directory):
    """Write `backbone` as a keras-hub preset (config.json, model.weights.h5, metadata.json).

    `load_backbone(directory)` restores it with the same class, config and weights, so outputs match bit for bit.
    """
    with fileio.local_dir_for_writing(directory) as local:
        backbone.save_to_preset(local)


def backbone_input_names(backbone):
    """Map our packed names to the backbone's input keys, e.g. {"input_word_ids": "token_ids", ...}.

    `input_type_ids` is left out for backbones without a `segment_ids` input (RoBERTa family, DistilBERT).
    """
    inputs = backbone.input
    if not isinstance(inputs, dict):
        raise ValueError(f"{type(backbone).__name__} does not take a dict of inputs")
    names = {ours: theirs for ours, theirs in features.KERAS_HUB.items() if theirs in inputs}
    if features.WORD_IDS not in names or features.MASK not in names:
        raise ValueError(
            f"{type(backbone).__name__} inputs {sorted(inputs)} lack 'token_ids' or 'padding_mask'"
        )
    return names


def hidden_state_layers(backbone):
    """The layers whose outputs are transformers' `hidden_states[0..num_layers]`.

    The embeddings output (after LayerNorm and dropout), then every Transformer layer, so that
    `keras.Model(backbone.inputs, [layer.output for layer in hidden_state_layers(backbone)])` returns them.
    """
    return [backbone.get_layer("embeddings_dropout")] + list(backbone.transformer_layers)


def sequence_length(backbone, requested, saved_default, fallback=128):
    """The packing length: as requested, else the model's saved default, else 128 — within the position table."""
    limit = getattr(backbone, "max_sequence_length", None)
    if requested is not None:
        if limit is not None and requested > limit:
            raise UserInputError(f"max_seq_length {requested} exceeds the model's {limit} position embeddings.")
        return int(requested)
    length = int(saved_default or fallback)
    return min(length, limit) if limit is not None else length


def is_keras_hub_preset(path):
    """Whether `path`'s config.json is a keras-hub backbone config (not a Hugging Face one)."""
    config_file = fileio.join(path, "config.json")
    if not fileio.isfile(config_file):
        return False
    config = fileio.read_json(config_file)
    if not isinstance(config, dict):
        raise UserInputError(f"{config_file}: expected a JSON object, found {type(config).__name__}")
    return "model_type" not in config and "registered_name" in config


def _load_keras_hub_preset(path, *, dropout, dtype):
    kwargs = {} if dropout is None else {"dropout": float(dropout)}
    with fileio.local_dir_for_reading(path) as local:
        try:
            backbone = keras_hub.models.Backbone.from_preset(local, dtype=dtype, **kwargs)
        except (OSError, ValueError, TypeError, KeyError) as e:  # h5py's OSError for a truncated weights file
            raise UserInputError(f"{path}: cannot load this keras-hub preset ({type(e).__name__}: {e})") from None
    if isinstance(backbone.output, dict) and "sequence_output" in backbone.output:
        return as_bert_family(backbone)
    return _from_tensor_output_backbone(backbone, path)


def _bert_family_like(source, **numerics):
    """A `BertFamilyBackbone` of `source`'s shape, dropout and dtype policy (fresh weights), with `numerics`."""
    return BertFamilyBackbone(
        vocabulary_size=source.vocabulary_size,
        num_layers=source.num_layers,
        num_heads=source.num_heads,
        hidden_dim=source.hidden_dim,
        intermediate_dim=source.intermediate_dim,
        dropout=source.dropout,
        max_sequence_length=source.max_sequence_length,
        dtype=source.dtype_policy,
        **numerics,
    )


def _from_tensor_output_backbone(source, path):
    """Rebuild a keras-hub RoBERTa / XLM-R / DistilBERT backbone as a dict-output `BertFamilyBackbone`."""
    name = type(source).__name__
    if name not in _TENSOR_OUTPUT_BACKBONES:
        raise UserInputError(
            f"{path}: {name} does not return a dict with 'sequence_output', and only "
            f"{sorted(_TENSOR_OUTPUT_BACKBONES)} can be rebuilt as one"
        )
    target = _bert_family_like(
        source,
        num_segments=0,
        hidden_activation="gelu",
        layer_norm_epsilon=_TENSOR_OUTPUT_BACKBONES[name],
        use_pooler=False,
    )
    target.token_embedding.embeddings.assign(source.embeddings.token_embedding.embeddings)
    target.position_embedding.position_embeddings.assign(source.embeddings.position_embedding.position_embeddings)
    target.embeddings_layer_norm.set_weights(source.embeddings_layer_norm.get_weights())
    for ours, theirs in zip(target.transformer_layers, source.transformer_layers):
        # Same TransformerEncoder class and configuration, hence the same variables in the same order.
        ours.set_weights(theirs.get_weights())
    return target
