"""Strings -> packed int32 ids, exactly as the checkpoint's own tokenizer.

All of it is in-graph TensorFlow: usable in `tf.data.Dataset.map`,
`tf.function` and SavedModels.
"""

from tf_simcse.preprocessing.byte_level_bpe import ByteLevelBPETokenizer
from tf_simcse.preprocessing.packing import InputPacker
from tf_simcse.preprocessing.sentencepiece import SentencePieceTokenizer
from tf_simcse.preprocessing.text_preprocessor import TextPreprocessor
from tf_simcse.preprocessing.wordpiece import WordPieceTokenizer

__all__ = ["ByteLevelBPETokenizer", "InputPacker", "SentencePieceTokenizer", "TextPreprocessor", "WordPieceTokenizer"]
