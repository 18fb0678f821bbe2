"""`SavedModelLayer`: Keras 3's `TFSMLayer` with weight names a Keras 3 optimizer accepts.

`keras.layers.TFSMLayer` (Keras 3.15) wraps each restored `tf.Variable` in a Keras variable named after
`tf.Variable.name`, which ends in TensorFlow's output suffix `:0`. Optimizers build their slots inside a name scope
made from that name, and a scope name may not contain `:`, so the first training step with Adam (or any optimizer
with slots) fails:

    ValueError: 'token_embedding_embeddings:0_momentum' is not a valid scope name. A scope name has to match the
    following pattern: ^[A-Za-z0-9_.\\/>-]*$

This subclass names the weights without the suffix; the variables themselves are the SavedModel's, so training
updates what the endpoints compute with.
"""

import re

import keras

# Characters Keras accepts in a name scope; anything else (":" above all) becomes "_".
_INVALID = re.compile(r"[^A-Za-z0-9_.>-]")


@keras.saving.register_keras_serializable(package="tf_simcse")
class SavedModelLayer(keras.layers.TFSMLayer):
    """Loads an exported `encoder` (or any SavedModel endpoint) as a trainable Keras 3 layer.

    Args:
        filepath: the SavedModel directory, e.g. `<export>/encoder`.
        call_endpoint: the inference endpoint; the exported encoder's is `serve`.
        call_training_endpoint: the endpoint used when the layer is called with `training=True` (dropout on);
            the exported encoder's is `serve_training`. None: the inference endpoint in both cases.
        trainable, name, dtype: as for `keras.layers.TFSMLayer`.

    Call it with the preprocessor's dict `{input_word_ids, input_mask, input_type_ids}`; it returns the flat
    output dict (`default`, `pooled_output`, `sequence_output`, `encoder_outputs_<i>`).
    """

    def __init__(
        self,
        filepath,
        call_endpoint="serve",
        call_training_endpoint="serve_training",
        trainable=True,
        name=None,
        dtype=None,
    ):
        super().__init__(
            str(filepath),
            call_endpoint=call_endpoint,
            call_training_endpoint=call_training_endpoint,
            trainable=trainable,
            name=name,
            dtype=dtype,
        )

    def _add_existing_weight(self, weight):
        # TFSMLayer's own version, with a scope-safe name: "encoder/dense/kernel:0" -> "encoder_dense_kernel".
        name = _INVALID.sub("_", weight.name.rsplit(":", 1)[0].replace("/", "_"))
        variable = keras.Variable(
            initializer=weight,
            trainable=weight.trainable,
            dtype=weight.dtype,
            shape=weight.shape,
            name=name,
        )
        self._track_variable(variable)
