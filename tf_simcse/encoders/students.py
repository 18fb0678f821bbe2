"""Small students made from a bigger encoder by keeping some of its transformer layers (DistilKoBERT-style).

`keep_layers(encoder, [0, 2, 4])` builds a backbone of the same architecture with 3 layers, whose layer j is a copy
of the source's layer `layers[j]`; the embeddings, the final norms and the pooler head are copied as they are. The
student then trains like any encoder (`--objective distill --student_layers 0,2,4`).
"""

from tf_simcse.errors import UserInputError


def parse_layers(text, num_layers):
    """`"0,2,4"` -> `[0, 2, 4]`, checked against the source's `num_layers` (increasing, distinct, in range)."""
    try:
        layers = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise UserInputError(f"--student_layers {text!r}: expected comma-separated layer indices, e.g. 0,2,4") from None
    return check_layers(layers, num_layers, text)


def check_layers(layers, num_layers, text=None):
    """`layers` as a list, if increasing, distinct and in 0..num_layers-1; else a UserInputError."""
    layers, text = list(layers), ",".join(map(str, layers)) if text is None else text
    if not layers:
        raise UserInputError(f"--student_layers {text!r}: no layer given")
    if layers != sorted(set(layers)) or layers[0] < 0 or layers[-1] >= num_layers:
        raise UserInputError(
            f"--student_layers {text!r}: expected increasing, distinct indices in 0..{num_layers - 1} (the model has "
            f"{num_layers} layers)"
        )
    return layers


def keep_layers(encoder, layers):
    """A new `Encoder` (same class, pooler, preprocessor) whose backbone holds only `layers` of `encoder`'s."""
    backbone = encoder.backbone
    source_layers = backbone.transformer_layers
    layers = check_layers(layers, len(source_layers))
    config = dict(backbone.get_config(), num_layers=len(layers))
    student_backbone = type(backbone).from_config(config)

    def outside(model, transformer_layers):
        inside = {id(v) for layer in transformer_layers for v in layer.weights}
        return [v for v in model.weights if id(v) not in inside]

    # The same config builds the same layers in the same order, so the weights outside the transformer layers
    # (embeddings, embedding norm, pooler dense) pair up by position.
    source_rest = outside(backbone, source_layers)
    student_rest = outside(student_backbone, student_backbone.transformer_layers)
    if [tuple(v.shape) for v in source_rest] != [tuple(v.shape) for v in student_rest]:
        raise RuntimeError("the student backbone's weights do not pair up with its source's")
    for target, value in zip(student_rest, source_rest):
        target.assign(value)
    for target, index in zip(student_backbone.transformer_layers, layers):
        target.set_weights(source_layers[index].get_weights())

    student = type(encoder)(
        student_backbone,
        pooler=encoder.pooler,
        mlp_only_train=encoder.mlp_only_train,
        preprocessor=encoder.preprocessor,
    )
    if encoder.mlp is not None:
        student.mlp.set_weights(encoder.mlp.get_weights())
    return student
