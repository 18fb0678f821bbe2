"""`SentenceEncoderModule`: the root object of the exported `sentence_encoder` SavedModel (strings in, vectors out).

Loaded with `tf.saved_model.load` (after `import tensorflow_text`) or `hub.KerasLayer`:

- `sentence_encoder(sentences)`: tf.string `[batch]` -> float32 `[batch, hidden]`, L2-normalized, so that a dot
  product is the cosine similarity;
- `serving_default` signature: input `sentences` (string `[batch]`), output `embeddings` — what
  `saved_model_cli show/run` and TF Serving call (the server needs the TF Text ops linked in).

Preprocessing and encoding are the package's own (`TextPreprocessor` with dynamic padding, then
`Encoder(..., training=False)`): the embedding of `Encoder.encode`, normalized.
"""

import tensorflow as tf

from tf_simcse.exporting.encoder_module import Untracked, captured_variables

_SENTENCES_SPEC = tf.TensorSpec([None], tf.string, name="sentences")


class SentenceEncoderModule(tf.train.Checkpoint):
    """Wraps a float32 `Encoder` and a `TextPreprocessor` for `tf.saved_model.save`.

    Args:
        encoder: the float32 Encoder (its own `preprocessor` attribute is not used).
        preprocessor: the `TextPreprocessor` to run on the strings (dynamic padding is faster and gives the same
            embeddings).
    """

    def __init__(self, encoder, preprocessor):
        super().__init__()
        self._keras = Untracked(encoder=encoder)  # see EncoderModule: only tf.Variables become nodes
        self.text_preprocessor = preprocessor  # a tf.Module: the vocabulary asset and tokenizer resources
        concrete = [self.__call__.get_concrete_function(), self.serve.get_concrete_function()]
        self.variables = captured_variables(concrete)

    @tf.function(input_signature=[_SENTENCES_SPEC])
    def __call__(self, sentences):
        embeddings = self._keras.encoder(self.text_preprocessor(sentences), training=False)
        return tf.math.l2_normalize(tf.cast(embeddings, tf.float32), axis=-1)

    @tf.function(input_signature=[_SENTENCES_SPEC])
    def serve(self, sentences):
        return {"embeddings": self(sentences)}
