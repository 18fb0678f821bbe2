"""Read a Hugging Face checkpoint directory and port its weights into a `BertFamilyBackbone`.

Covers the BERT weight layout (model_type bert, roberta, xlm-roberta, camembert -- KLUE-RoBERTa included) and
DistilBERT's. Only `config.json` and `model.safetensors` (or a sharded `model.safetensors.index.json`) are read,
from any TensorFlow filesystem (`tf_simcse.fileio`); tokenizer files are the preprocessing package's business.
"""

import numpy as np

from tf_simcse import fileio
from tf_simcse.encoders.backbone import ACTIVATIONS
from tf_simcse.encoders.backbone import BertFamilyBackbone
from tf_simcse.errors import UserInputError

# RoBERTa-family models number positions from `pad_token_id + 1` (fairseq's convention).
ROBERTA_MODEL_TYPES = ("roberta", "xlm-roberta", "camembert")
BERT_LAYOUT_MODEL_TYPES = ("bert",) + ROBERTA_MODEL_TYPES
SUPPORTED_MODEL_TYPES = BERT_LAYOUT_MODEL_TYPES + ("distilbert",)

# Non-persistent buffers that older transformers versions saved along with the weights.
_IGNORED_TENSORS = ("embeddings.position_ids", "embeddings.token_type_ids")


def read_config(path):
    """`config.json` of a Hugging Face checkpoint directory, checked to name a supported `model_type`."""
    file = fileio.join(path, "config.json")
    if not fileio.isfile(file):
        raise FileNotFoundError(f"{path}: no config.json, so this is not a Hugging Face checkpoint directory")
    config = fileio.read_json(file)
    if not isinstance(config, dict):
        raise UserInputError(f"{file}: expected a JSON object, found {type(config).__name__}")
    _check_model_type(config, file)
    return config


def _check_model_type(config, source):
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise UserInputError(
            f"{source}: model_type {model_type!r} is not supported; supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )


def read_weights(path):
    """All tensors of the checkpoint's safetensors file(s), as numpy arrays keyed by their Hugging Face names."""
    import safetensors.numpy

    index = fileio.join(path, "model.safetensors.index.json")
    if fileio.isfile(index):
        data = fileio.read_json(index)
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(weight_map, dict):
            raise UserInputError(f"{index}: no 'weight_map' object naming the safetensors shards")
        files = sorted(set(weight_map.values()))
    elif fileio.isfile(fileio.join(path, "model.safetensors")):
        files = ["model.safetensors"]
    else:
        raise FileNotFoundError(
            f"{path}: no model.safetensors (pytorch_model.bin and tf_model.h5 are not read; re-save the model "
            "with transformers' save_pretrained(..., safe_serialization=True))"
        )
    weights = {}
    for name in files:
        file = fileio.join(path, name)
        if not fileio.isfile(file):
            raise FileNotFoundError(f"{file}: no such file (a shard named by model.safetensors.index.json)")
        try:
            if fileio.is_remote(file):
                weights.update(safetensors.numpy.load(fileio.read_bytes(file)))
            else:
                weights.update(safetensors.numpy.load_file(file))
        except Exception as error:  # A truncated file, or e.g. bfloat16 tensors, which numpy cannot hold.
            raise UserInputError(f"{file}: cannot read the tensors as numpy arrays ({error})") from None
    return weights


def encoder_weights(weights, source):
    """The encoder's tensors named as in the bare model (`BertModel`, `DistilBertModel`, ...).

    Drops a task model's prefix (`bert.`, `roberta.`, `distilbert.`, ...) and its heads (`cls.`, `lm_head.`), and
    renames TF1-era LayerNorm `gamma`/`beta` to `weight`/`bias`.
    """
    anchor = "embeddings.word_embeddings.weight"
    matches = [key for key in weights if key == anchor or key.endswith("." + anchor)]
    if len(matches) != 1:
        raise UserInputError(f"{source}: expected one tensor named '*{anchor}', found {matches or 'none'}")
    prefix = matches[0][: -len(anchor)]
    encoder = {}
    for key, value in weights.items():
        if not key.startswith(prefix):
            continue
        key = key[len(prefix) :]
        if key.endswith(".gamma"):
            key = key[: -len("gamma")] + "weight"
        elif key.endswith(".beta"):
            key = key[: -len("beta")] + "bias"
        encoder[key] = value
    return encoder


def position_offset(config):
    """How many leading rows of the position table are never used for real tokens."""
    if config["model_type"] in ROBERTA_MODEL_TYPES:
        return config.get("pad_token_id", 1) + 1
    return 0


def backbone_kwargs(config, source):
    """`BertFamilyBackbone` arguments for a Hugging Face (or Hugging Face-style) config dict.

    Missing optional keys take the defaults of the matching transformers config class.
    """
    _check_model_type(config, source)

    def require(key):
        if key not in config:
            raise UserInputError(f"{source}: missing '{key}' (needed for model_type {config['model_type']!r})")
        return config[key]

    if config["model_type"] == "distilbert":
        activation = config.get("activation", "gelu")
        kwargs = {
            "vocabulary_size": require("vocab_size"),
            "num_layers": require("n_layers"),
            "num_heads": require("n_heads"),
            "hidden_dim": require("dim"),
            "intermediate_dim": require("hidden_dim"),
            "dropout": config.get("dropout", 0.1),
            "max_sequence_length": require("max_position_embeddings"),
            "num_segments": 0,
            # transformers hard-codes 1e-12 in DistilBERT's LayerNorms; the config has no key for it.
            "layer_norm_epsilon": 1e-12,
            "use_pooler": False,
        }
    else:
        position_type = config.get("position_embedding_type", "absolute")
        if position_type != "absolute":
            raise UserInputError(
                f"{source}: position_embedding_type {position_type!r} is not supported (only absolute)"
            )
        activation = config.get("hidden_act", "gelu")
        roberta = config["model_type"] in ROBERTA_MODEL_TYPES
        kwargs = {
            "vocabulary_size": require("vocab_size"),
            "num_layers": require("num_hidden_layers"),
            "num_heads": require("num_attention_heads"),
            "hidden_dim": require("hidden_size"),
            "intermediate_dim": require("intermediate_size"),
            "dropout": config.get("hidden_dropout_prob", 0.1),
            "max_sequence_length": require("max_position_embeddings") - position_offset(config),
            "num_segments": config.get("type_vocab_size", 1 if roberta else 2),
            "layer_norm_epsilon": config.get("layer_norm_eps", 1e-5 if roberta else 1e-12),
            "use_pooler": True,
        }
    if activation not in ACTIVATIONS:
        raise UserInputError(f"{source}: activation {activation!r} is not supported; use one of {sorted(ACTIVATIONS)}")
    kwargs["hidden_activation"] = activation
    kwargs["initializer_range"] = config.get("initializer_range", 0.02)
    return kwargs


def load(path, *, dropout=None, dtype=None):
    """A `BertFamilyBackbone` holding the checkpoint's weights (its pooler only if the checkpoint has one)."""
    path = fileio.as_path(path)
    config = read_config(path)
    source = fileio.join(path, "config.json")
    weights = encoder_weights(read_weights(path), source=path)
    kwargs = backbone_kwargs(config, source)
    kwargs["use_pooler"] = "pooler.dense.weight" in weights
    if dropout is not None:
        kwargs["dropout"] = float(dropout)
    backbone = BertFamilyBackbone(**kwargs, dtype=dtype)
    porter = _Porter(weights, source=path)
    layout = "distilbert" if config["model_type"] == "distilbert" else "bert"
    _port_in(backbone, layout, porter, position_offset(config))
    unused = [key for key in porter.unused() if key not in _IGNORED_TENSORS]
    if unused:
        raise UserInputError(f"{path}: tensors the backbone has no place for: {unused}")
    return backbone


class _Porter:
    """Assigns checkpoint tensors to variables, checking shapes and recording which tensors were used."""

    def __init__(self, weights, source):
        self.weights = weights
        self.source = source
        self.used = set()

    def tensor(self, key):
        if key not in self.weights:
            raise UserInputError(f"{self.source}: the checkpoint has no tensor {key!r}")
        self.used.add(key)
        return self.weights[key]

    def assign(self, variable, value, key):
        if tuple(value.shape) != tuple(variable.shape):
            raise UserInputError(
                f"{self.source}: {key!r} has shape {tuple(value.shape)}, but {variable.path} needs "
                f"{tuple(variable.shape)}"
            )
        variable.assign(value.astype(np.float32))

    def copy(self, variable, key):
        self.assign(variable, self.tensor(key), key)

    def linear(self, dense, key):
        """A torch Linear (`weight` [out, in], `bias` [out]) into a Dense / EinsumDense of any kernel layout.

        Keras' attention projections split the output (or input) axis into [heads, head_dim] in the same
        row-major order that transformers uses when it views the projection per head, so a reshape suffices.
        """
        weight = self.tensor(key + ".weight").T
        bias = self.tensor(key + ".bias")
        if weight.size != np.prod(dense.kernel.shape) or bias.size != np.prod(dense.bias.shape):
            raise UserInputError(
                f"{self.source}: {key!r} has shape {tuple(weight.T.shape)}, but {dense.kernel.path} needs "
                f"{tuple(dense.kernel.shape)}"
            )
        self.assign(dense.kernel, weight.reshape(dense.kernel.shape), key + ".weight")
        self.assign(dense.bias, bias.reshape(dense.bias.shape), key + ".bias")

    def layer_norm(self, layer, key):
        self.copy(layer.gamma, key + ".weight")
        self.copy(layer.beta, key + ".bias")

    def unused(self):
        return sorted(set(self.weights) - self.used)


# Hugging Face names of a transformer layer's tensors, per weight layout (RoBERTa's and XLM-R's are BERT's): the
# query, key, value and output projections, the attention LayerNorm, the two feed-forward projections, the last
# LayerNorm.
_LAYER_NAMES = {
    "bert": ("encoder.layer", ("attention.self.query", "attention.self.key", "attention.self.value",
                               "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                               "output.dense", "output.LayerNorm")),
    "distilbert": ("transformer.layer", ("attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin",
                                         "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm")),
}


def _layout(backbone, layout):
    """`(kind, Keras layer or variable, Hugging Face key)` of every tensor of a checkpoint of `layout` (bert or
    distilbert): the one map that porting in (`load`) and out (`hugging_face_tensors`) both follow."""
    yield "embedding", backbone.token_embedding.embeddings, "embeddings.word_embeddings.weight"
    yield "position", backbone.position_embedding.position_embeddings, "embeddings.position_embeddings.weight"
    yield "layer_norm", backbone.embeddings_layer_norm, "embeddings.LayerNorm"
    if backbone.segment_embedding is not None:  # DistilBERT has none
        yield "embedding", backbone.segment_embedding.embeddings, "embeddings.token_type_embeddings.weight"
    stem, names = _LAYER_NAMES[layout]
    for i, layer in enumerate(backbone.transformer_layers):
        attention = layer._self_attention_layer
        parts = (("linear", attention.query_dense), ("linear", attention.key_dense), ("linear", attention.value_dense),
                 ("linear", attention.output_dense), ("layer_norm", layer._self_attention_layer_norm),
                 ("linear", layer._feedforward_intermediate_dense), ("linear", layer._feedforward_output_dense),
                 ("layer_norm", layer._feedforward_layer_norm))
        for (kind, target), name in zip(parts, names, strict=True):
            yield kind, target, f"{stem}.{i}.{name}"
    if backbone.pooled_dense is not None:  # DistilBERT has none
        yield "linear", backbone.pooled_dense, "pooler.dense"


def _port_in(backbone, layout, porter, offset):
    for kind, target, key in _layout(backbone, layout):
        if kind == "linear":
            porter.linear(target, key)
        elif kind == "layer_norm":
            porter.layer_norm(target, key)
        elif kind == "position":
            porter.assign(target, porter.tensor(key)[offset:], key)
        else:
            porter.copy(target, key)


def hugging_face_tensors(backbone, model_type="bert"):
    """The backbone's weights under a Hugging Face checkpoint's names (float32 numpy, torch layouts): the inverse
    of `load` for `model_type` bert or distilbert. RoBERTa-family checkpoints are not covered: their first
    position rows were dropped on the way in."""
    if model_type not in ("bert", "distilbert"):
        raise ValueError(f"model_type {model_type!r}: only bert and distilbert weights can be written back")
    tensors = {}
    for kind, source, key in _layout(backbone, model_type):
        if kind == "linear":
            bias = source.bias.numpy().reshape(-1)
            # The porter's kernel is the torch weight transposed, reshaped row-major: undo both.
            tensors[key + ".weight"] = source.kernel.numpy().reshape(-1, bias.size).T.copy()
            tensors[key + ".bias"] = bias
        elif kind == "layer_norm":
            tensors[key + ".weight"], tensors[key + ".bias"] = source.gamma.numpy(), source.beta.numpy()
        else:
            tensors[key] = source.numpy()
    return tensors
