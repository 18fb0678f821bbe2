"""TF Hub-style SavedModels of a trained Encoder: `preprocessor`, `encoder`, `sentence_encoder` + a model card.

    from tf_simcse.exporting import export_model, training_model_card
    export_model(encoder, "run/export", model_card=training_model_card("run"))

`python -m tf_simcse.export --model M --output DIR [--seq_length N]` is the command-line form. An export directory
is also a `--model` for every tf_simcse command (`Encoder.from_pretrained` rebuilds the Keras Encoder from it; the
reading side of the format, `tf_simcse.encoders.exported`, never imports this package).
`SavedModelLayer` loads the exported encoder as a fine-tunable Keras 3 layer. `write_decision_threshold` /
`read_decision_threshold` store the export's "similar" cosine threshold (`decision_threshold.json`).
"""

from tf_simcse.exporting.decision_threshold import DECISION_THRESHOLD_FILE
from tf_simcse.exporting.decision_threshold import read_decision_threshold
from tf_simcse.exporting.decision_threshold import write_decision_threshold
from tf_simcse.encoders.exported import EXPORT_CONFIG_FILE
from tf_simcse.encoders.exported import is_export_dir
from tf_simcse.encoders.exported import read_export_config
from tf_simcse.exporting.exporter import export_model
from tf_simcse.exporting.exporter import float32_copy
from tf_simcse.exporting.model_card import MODEL_CARD_KEYS
from tf_simcse.exporting.model_card import training_model_card
from tf_simcse.exporting.saved_model_layer import SavedModelLayer

__all__ = [
    "DECISION_THRESHOLD_FILE",
    "EXPORT_CONFIG_FILE",
    "MODEL_CARD_KEYS",
    "SavedModelLayer",
    "export_model",
    "float32_copy",
    "is_export_dir",
    "read_decision_threshold",
    "read_export_config",
    "training_model_card",
    "write_decision_threshold",
]
