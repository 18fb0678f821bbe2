"""The export's README.md (model card): what the model is, how it was trained and scored, and how to load it.

`export_model(..., model_card=...)` takes a dict with any of `MODEL_CARD_KEYS`; `training_model_card(output_dir)`
builds that dict from a training output directory (`config.json` + `metrics.json`).
"""

import json

from tf_simcse import fileio
from tf_simcse.errors import UserInputError
from tf_simcse.evaluation.metric_table import format_metric_table

MODEL_CARD_KEYS = {
    "name": "title of the card (default: the export directory's name)",
    "base_model": "the checkpoint training started from",
    "objective": "unsup / sup / pair, or free text",
    "train_data": "list of training data specs",
    "eval_data": "list of evaluation tasks (the dev split that selected the checkpoint)",
    "test_data": "list of tasks reported once at the end",
    "hyperparameters": "dict name -> value",
    "metrics": "dict row name -> {metric: value}: the metric table",
    "selection": "how the exported checkpoint was chosen (free text)",
    "notes": "free text appended to the card",
    "example_sentences": "sentences whose similarity matrix the card shows (computed at export)",
}

# The training options a reader needs to reproduce the run (TrainConfig field names).
_HYPERPARAMETERS = (
    "objective",
    "pooler",
    "mlp_only_train",
    "temperature",
    "hard_negative_weight",
    "symmetric",
    "do_mlm",
    "batch_size",
    "learning_rate",
    "weight_decay",
    "warmup_ratio",
    "epochs",
    "max_steps",
    "max_seq_length",
    "dropout",
    "seed",
    "precision",
    "strategy",
)

DEFAULT_EXAMPLE_SENTENCES = (
    "한 남자가 음식을 먹는다.",
    "한 남자가 빵 한 조각을 먹고 있다.",
    "원숭이 한 마리가 드럼을 연주한다.",
)


def check_model_card(card):
    """Validates a model card dict; returns a copy (raises ValueError naming the bad key)."""
    if card is None:
        return {}
    if not isinstance(card, dict):
        raise ValueError(f"model_card must be a dict, got {type(card).__name__}.")
    unknown = sorted(set(card) - set(MODEL_CARD_KEYS))
    if unknown:
        raise ValueError(f"model_card has unknown keys {unknown}; known keys: {sorted(MODEL_CARD_KEYS)}.")
    card = dict(card)
    for key in ("train_data", "eval_data", "test_data", "example_sentences"):
        if key in card:
            if isinstance(card[key], str) or not all(isinstance(x, str) for x in card[key]):
                raise ValueError(f"model_card[{key!r}] must be a list of strings, got {card[key]!r:.100}.")
            card[key] = list(card[key])
    for key in ("hyperparameters", "metrics"):
        if key in card and not isinstance(card[key], dict):
            raise ValueError(f"model_card[{key!r}] must be a dict, got {type(card[key]).__name__}.")
    for row, figures in card.get("metrics", {}).items():
        if not isinstance(figures, dict):
            raise ValueError(f"model_card['metrics'][{row!r}] must be a dict metric -> value.")
    try:
        json.dumps(card)
    except TypeError as e:
        raise ValueError(f"model_card must be JSON-serialisable (it is stored with the export): {e}") from None
    return card


def training_model_card(output_dir):
    """The model card of a training run: base checkpoint, data, hyperparameters and figures.

    Args:
        output_dir: a `tf_simcse.train` output directory (or its `best/`): reads `config.json` and, if present,
            `metrics.json` (the dev figures at the selected step, and the test figures).
    """
    out = fileio.as_path(output_dir)
    parent = fileio.dirname(out)
    if not fileio.exists(fileio.join(out, "config.json")) and fileio.exists(fileio.join(parent, "config.json")):
        out = parent  # given <run>/best
    config_file = fileio.join(out, "config.json")
    if not fileio.exists(config_file):
        raise FileNotFoundError(f"{out} has no config.json: not a tf_simcse training output directory.")
    config = _read_json(config_file)
    card = {
        "base_model": str(config.get("model", "")),
        "objective": str(config.get("objective", "")),
        "train_data": [str(x) for x in config.get("train_data", [])],
        "eval_data": [str(x) for x in config.get("eval_data", [])],
        "test_data": [str(x) for x in config.get("test_data", [])],
        "hyperparameters": {k: config[k] for k in _HYPERPARAMETERS if k in config},
    }
    metrics_file = fileio.join(out, "metrics.json")
    if fileio.exists(metrics_file):
        report = _read_json(metrics_file)
        rows = {}
        best_step = report.get("best_step")
        chosen = [h for h in report.get("evaluations", []) if h.get("step") == best_step]
        for key, value in (chosen[0] if chosen else {}).items():
            if "/" in key:
                task, metric = key.split("/", 1)
                rows.setdefault(task, {})[metric] = value
        for task, figures in (report.get("test") or {}).items():
            rows[f"{task} (test)"] = dict(figures)
        if rows:
            card["metrics"] = rows
        if report.get("sts_training_data"):
            card["notes"] = (
                f"Trained on scored STS pairs ({', '.join(report['sts_training_data'])}): its figures on those STS "
                "benchmarks are not comparable with those of models trained on NLI or unlabelled text only."
            )
        if report.get("selection_metric"):
            card["selection"] = (
                f"best {report['selection_metric']} = {report.get('best_value')} at step {best_step} "
                f"of {report.get('steps')}"
            )
    return check_model_card(card)


def render_model_card(card, info, example=None):
    """README.md text.

    Args:
        card: a checked model card dict.
        info: facts of the export (`export_model` passes its export config: pooler, seq_length, dims, ...).
        example: `(sentences, similarity_matrix)` computed with the exported sentence_encoder, or None.
    """
    name = card.get("name") or info["name"]
    pooler = info["pooler"]
    head = "with the trained MLP head" if info["mlp_at_inference"] else "no MLP head at inference"
    lines = [
        f"# {name}",
        "",
        "A SimCSE sentence encoder trained with tf_simcse and exported as TF Hub-style "
        "SavedModels: `preprocessor` (strings -> token ids), `encoder` (token ids -> embeddings, reusable and "
        "fine-tunable) and `sentence_encoder` (strings -> L2-normalized embeddings, for serving).",
        "",
        "| | |",
        "|---|---|",
        f"| base checkpoint | {_cell(card.get('base_model') or 'unknown')} |",
        f"| architecture | {info['backbone_class']}: {info['num_layers']} layers, hidden {info['hidden_dim']}, "
        f"vocabulary {info['vocab_size']} ({info['tokenizer_type']}) |",
        f"| objective | {_cell(card.get('objective') or 'not recorded')} |",
        f"| pooler | `{pooler}` ({head}) |",
        f"| max_seq_length | {info['seq_length']} (the preprocessor's default; longer inputs are truncated) |",
        f"| embedding | float32 [{info['hidden_dim']}] |",
    ]
    for key, label in (("train_data", "training data"), ("eval_data", "dev (selection)"), ("test_data", "test")):
        if card.get(key):
            lines.append(f"| {label} | {'<br>'.join(_cell(f'`{x}`') for x in card[key])} |")
    if card.get("selection"):
        lines.append(f"| selection | {_cell(card['selection'])} |")
    lines.append("")
    if card.get("hyperparameters"):
        lines += ["## Hyperparameters", "", "| option | value |", "|---|---|"]
        lines += [f"| `{k}` | `{json.dumps(v, ensure_ascii=False)}` |" for k, v in card["hyperparameters"].items()]
        lines.append("")
    if card.get("metrics"):
        lines += ["## Evaluation", "", "```", format_metric_table(card["metrics"]), "```", ""]
    if example is not None:
        sentences, matrix = example
        quoted = " ".join(json.dumps(s, ensure_ascii=False) for s in sentences)
        lines += [
            "## Example",
            "",
            "Cosine similarities from the exported `sentence_encoder`, computed when this export was written "
            f"(`python -m tf_simcse.similarity --model {info['name']} {_cell(quoted)}` prints these figures):",
            "",
            "```",
            format_similarity_matrix(sentences, matrix),
            "```",
            "",
        ]
    lines += usage_snippets(info["name"]).splitlines()
    if card.get("notes"):
        lines += ["", "## Notes", "", card["notes"]]
    return "\n".join(lines).rstrip() + "\n"


def usage_snippets(export_name="export"):
    """The usage section: tf.saved_model.load, hub.KerasLayer with tf_keras, TFSMLayer with Keras 3, the CLIs."""
    return f'''## Usage

All three SavedModels use TF Text ops: `import tensorflow_text` before loading them.

Strings to normalized embeddings (`tf.saved_model.load`, no tf_simcse needed):

```python
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

sentence_encoder = tf.saved_model.load("{export_name}/sentence_encoder")
embeddings = sentence_encoder(tf.constant(["첫 번째 문장", "두 번째 문장"]))  # [2, dim], L2-normalized
similarity = tf.matmul(embeddings, embeddings, transpose_b=True)
```

TF Hub style, in a tf_keras model (`pip install tensorflow-hub tf-keras`; tensorflow-hub 0.16 imports
`pkg_resources`, which setuptools 82 removed: keep `setuptools<82`):

```python
import os
os.environ["TF_USE_LEGACY_KERAS"] = "1"  # before importing tensorflow
import tensorflow as tf
import tensorflow_hub as hub
import tensorflow_text  # noqa: F401

text = tf.keras.layers.Input(shape=(), dtype=tf.string)
preprocessor = hub.KerasLayer("{export_name}/preprocessor")
encoder = hub.KerasLayer("{export_name}/encoder", trainable=True)  # fine-tunes every backbone weight
embedding = encoder(preprocessor(text))["default"]  # the SimCSE embedding (pooler baked in)
model = tf.keras.Model(text, embedding)

# Sentence pairs (e.g. for a cross-encoder classifier): tokenize, then pack two segments.
preprocessor_module = hub.load("{export_name}/preprocessor")
first = tf.keras.layers.Input(shape=(), dtype=tf.string)
second = tf.keras.layers.Input(shape=(), dtype=tf.string)
tokenize = hub.KerasLayer(preprocessor_module.tokenize)
pack = hub.KerasLayer(preprocessor_module.bert_pack_inputs, arguments=dict(seq_length=128))
pair_inputs = pack([tokenize(first), tokenize(second)])
```

Keras 3 (`keras.layers.TFSMLayer`; the endpoints `serve` / `serve_training` take the preprocessor's dict):

```python
import keras
import tensorflow as tf
import tensorflow_text  # noqa: F401

preprocessor = tf.saved_model.load("{export_name}/preprocessor")
encoder = keras.layers.TFSMLayer(
    "{export_name}/encoder", call_endpoint="serve", call_training_endpoint="serve_training"
)
embeddings = encoder(preprocessor(tf.constant(["첫 번째 문장", "두 번째 문장"])))["default"]
```

Fine-tuning through `TFSMLayer` with a Keras 3 optimizer such as Adam fails while the optimizer builds its slots
(`ValueError: 'token_embedding_embeddings:0_momentum' is not a valid scope name`), because TFSMLayer keeps the
TensorFlow `:0` suffix in its weight names. `tf_simcse.exporting.SavedModelLayer` is a TFSMLayer that strips it
(same endpoints as above); without tf_simcse, override `TFSMLayer._add_existing_weight` the same way.

Serving: `sentence_encoder`'s `serving_default` signature takes `sentences` (string `[batch]`) and returns
`embeddings`. `saved_model_cli show --dir {export_name}/sentence_encoder --all` describes it; `saved_model_cli run`
(and TF Serving) need the TF Text ops registered in the process:

```bash
python -c "import sys, tensorflow_text; from tensorflow.python.tools import saved_model_cli; \\
sys.argv[0] = 'saved_model_cli'; saved_model_cli.main()" run --dir {export_name}/sentence_encoder \\
    --tag_set serve --signature_def serving_default --input_exprs 'sentences=["첫 번째 문장"]'
```

With tf_simcse, this directory is a `--model` like any checkpoint (it is rebuilt as a Keras `Encoder`):

```bash
python -m tf_simcse.similarity --model {export_name} "첫 번째 문장" "두 번째 문장"
python -m tf_simcse.encode --model {export_name} --input sentences.txt --output embeddings.npy
```

keras-hub (with tf_simcse installed): `{export_name}/keras_hub` is a preset of its `TextEmbedder` task, whose
`encode_text` gives the same embeddings (not normalized):

```python
import keras_hub
import tf_simcse  # noqa: F401  (registers the preset's classes)

embedder = keras_hub.models.TextEmbedder.from_preset("{export_name}/keras_hub")
vectors = embedder.encode_text(["첫 번째 문장", "두 번째 문장"])
```
'''


def format_similarity_matrix(sentences, matrix, digits=4):
    """Numbered sentences, then the matrix with `[i]` row and column labels."""
    labels = [f"[{i}]" for i in range(len(sentences))]
    width = max([digits + 3] + [len(x) for x in labels])
    lines = [f"{label} {sentence}" for label, sentence in zip(labels, sentences)]
    lines.append("")
    pad = max(len(x) for x in labels) if labels else 0
    lines.append(" " * pad + "".join(f"  {label:>{width}}" for label in labels))
    for label, row in zip(labels, matrix):
        lines.append(f"{label:<{pad}}" + "".join(f"  {float(v):>{width}.{digits}f}" for v in row))
    return "\n".join(lines)


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _read_json(path):
    data = fileio.read_json(path)
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data
