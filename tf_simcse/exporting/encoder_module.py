"""`EncoderModule`: the root object of the exported `encoder` SavedModel (TF Hub reusable text encoder).

Loaded with `tf.saved_model.load` or `hub.KerasLayer`, it offers:

- `encoder(inputs, training=False)`: `inputs` is the preprocessor's dict of int32 `[batch, seq_length]` tensors
  (`input_word_ids`, `input_mask`, `input_type_ids`); `training` is a Python bool (both values are traced: dropout
  is on with `training=True`). Returns float32
  - `default`: the SimCSE sentence embedding `[batch, hidden]`, exactly `Encoder(inputs, training=False)` at
    inference: the trained pooler (and MLP head where the recipe uses it at inference) is baked in. With
    `training=True` only dropout changes (the pooler and head follow the inference rule), so that a downstream
    model sees the same representation in fit and predict; SimCSE's training-only MLP (`mlp_only_train`) belongs
    to `tf_simcse.train`, which takes the export directory as `--model`;
  - `pooled_output`: the same tensor (TF Hub's name for the whole-input representation);
  - `sequence_output`: the last layer's token states `[batch, seq_length, hidden]`;
  - `encoder_outputs`: a list with the output of every transformer layer.
- `variables`, `trainable_variables`, `regularization_losses` (empty): the reusable-SavedModel attributes that
  `hub.KerasLayer(..., trainable=True)` fine-tunes. They hold exactly the weights the outputs depend on, plus the
  dropout RNG state (Keras SeedGenerator variables, non-trainable), which the `training=True` trace updates.
- `serve(inputs)` / `serve_training(inputs)`: single-argument endpoints with flat outputs (`encoder_outputs_<i>`
  for the layer list), for Keras 3's `keras.layers.TFSMLayer(path, call_endpoint="serve",
  call_training_endpoint="serve_training")`. `serve` is also the `serving_default` signature.

`backbone_weights` and `mlp_weights` list every weight of the Keras `Encoder` in order (including those inference
does not read): the SavedModel's variables are the checkpoint `tf_simcse.exporting.load_exported_encoder` rebuilds
the Encoder from.
"""

import keras
import tensorflow as tf

from tf_simcse import features
from tf_simcse.encoders.exported import tf_variable
from tf_simcse.encoders.poolers import LAYERS_NEEDED

INPUT_SPEC = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in features.NAMES}


def flat_outputs(outputs):
    """The signature form of the outputs: `encoder_outputs` becomes `encoder_outputs_0`, `encoder_outputs_1`, ..."""
    flat = {k: v for k, v in outputs.items() if k != "encoder_outputs"}
    flat.update({f"encoder_outputs_{i}": v for i, v in enumerate(outputs["encoder_outputs"])})
    return flat


class EncoderModule(tf.train.Checkpoint):
    """Wraps a float32 `tf_simcse.encoders.encoder.Encoder` for `tf.saved_model.save`.

    Args:
        encoder: the Encoder to export (float32 dtype policy; `tf_simcse.exporting.export_model` makes that copy).

    Only TensorFlow variables are tracked, not the Keras objects: a Keras 3 variable saved as a SavedModel node
    is written as a second variable next to the `tf.Variable` it wraps, which doubles the memory of a loaded
    model and leaves the variables the graph reads uninitialized in TF1-style loaders (`saved_model_cli run`,
    TF Serving).
    """

    def __init__(self, encoder):
        super().__init__()
        backbone = encoder.backbone
        layers = list(backbone.transformer_layers)
        # One backbone pass exposes every layer; the pooler reads the layers it needs from it, as Encoder does.
        hidden_states = keras.Model(
            backbone.input,
            {
                "sequence_output": backbone.output["sequence_output"],
                "encoder_outputs": [layer.output for layer in layers],
            },
            name="hidden_states_all_layers",
        )
        self._keras = Untracked(encoder=encoder, hidden_states=hidden_states, last=len(layers) - 1)

        concrete = [self.__call__.get_concrete_function(INPUT_SPEC, training=t) for t in (False, True)]
        concrete += [self.serve.get_concrete_function(), self.serve_training.get_concrete_function()]
        # What the traced functions read: the weights the outputs depend on and the dropout RNG state.
        self.variables = captured_variables(concrete)
        self.trainable_variables = [v for v in self.variables if v.trainable]
        self.regularization_losses = []
        # Every weight of the Keras Encoder (also those inference does not read, e.g. an unused BERT pooler), in
        # `weights` order: the checkpoint `load_exported_encoder` restores.
        self.backbone_weights = [tf_variable(v) for v in backbone.weights]
        self.mlp_weights = [tf_variable(v) for v in encoder.mlp.weights] if encoder.mlp is not None else []

    def outputs(self, inputs, training):
        encoder, last = self._keras.encoder, self._keras.last
        backbone_inputs = encoder.backbone_inputs(inputs)
        states = self._keras.hidden_states(backbone_inputs, training=training)
        sequence_output = states["sequence_output"]
        layer_outputs = list(states["encoder_outputs"])
        # The rule of Encoder.__init__/call: the last layer is the backbone's sequence_output; the MLP head is
        # applied at inference unless the recipe trains with it only (mlp_only_train).
        needed = [sequence_output if i in (-1, last) else layer_outputs[i] for i in LAYERS_NEEDED[encoder.pooler]]
        embedding = encoder.pool(needed, inputs[features.MASK])
        if encoder.uses_mlp(training=False):
            embedding = encoder.mlp(embedding)
        embedding = tf.cast(embedding, tf.float32)
        return {
            "default": embedding,
            "pooled_output": tf.identity(embedding),
            "sequence_output": tf.cast(sequence_output, tf.float32),
            "encoder_outputs": [tf.cast(x, tf.float32) for x in layer_outputs],
        }

    @tf.function
    def __call__(self, inputs, training=False):
        return self.outputs(inputs, bool(training))

    # The endpoints call the traced __call__ rather than tracing the model again.
    @tf.function(input_signature=[INPUT_SPEC])
    def serve(self, inputs):
        return flat_outputs(self.__call__(inputs, training=False))

    @tf.function(input_signature=[INPUT_SPEC])
    def serve_training(self, inputs):
        return flat_outputs(self.__call__(inputs, training=True))


class Untracked:
    """Holds Python objects on a tf.Module / Checkpoint without making them SavedModel nodes."""

    def __init__(self, **values):
        self.__dict__.update(values)


def captured_variables(concrete_functions):
    """The distinct `tf.Variable`s the concrete functions read or write, in first-use order."""
    seen, variables = set(), []
    for function in concrete_functions:
        for v in function.variables:
            if id(v) not in seen:
                seen.add(id(v))
                variables.append(v)
    return variables
