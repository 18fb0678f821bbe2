"""The names of a packed batch's features, defined once for the whole library.

Inside tf_simcse a tokenized batch is `{WORD_IDS, MASK, TYPE_IDS}`, int32 `[batch, length]`: TF Hub's BERT names,
which the exported `preprocessor` SavedModel hands to `hub.KerasLayer(encoder)` and so are a public contract.
keras-hub backbones call the same features `token_ids`, `padding_mask`, `segment_ids` (`KERAS_HUB`); those names
appear only where a backbone is called (`tf_simcse.encoders`).
"""

WORD_IDS = "input_word_ids"  # token ids, padded with the tokenizer's pad id
MASK = "input_mask"  # 1 for a real token, 0 for padding
TYPE_IDS = "input_type_ids"  # segment ids (0 for a single sentence)
NAMES = (WORD_IDS, MASK, TYPE_IDS)

# Ours -> the keras-hub backbone input of the same feature.
KERAS_HUB = {WORD_IDS: "token_ids", MASK: "padding_mask", TYPE_IDS: "segment_ids"}
