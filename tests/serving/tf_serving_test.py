"""The export's `sentence_encoder` `serving_default` signature under TF Serving's REST `:predict` shapes.

No TF Serving binary here: `saved_model_cli run` (installed with tensorflow; it loads the SavedModel the way TF
Serving does, a TF1 session on the `serve` tag) runs the same signature on the input that each REST request
format maps to, and the response is assembled as TF Serving documents it for a single named output:

    {"instances": [s1, s2]}                   -> sentences = [s1, s2] -> {"predictions": [[...], [...]]}
    {"inputs": [s1, s2]}                      -> sentences = [s1, s2] -> {"outputs": [[...], [...]]}
    {"inputs": {"sentences": [s1, s2]}}       -> sentences = [s1, s2] -> {"outputs": [[...], [...]]}

Reference: `Encoder.encode` of the checkpoint, L2-normalized.
"""

import json

import numpy as np

from tests.serving._server import TF_SERVING_SENTENCES as SENTENCES


def signature_inputs(request):
    """The `serving_default` inputs a TF Serving REST predict body stands for (one named input, `sentences`)."""
    if "instances" in request:
        return {"sentences": request["instances"]}
    inputs = request["inputs"]
    return dict(inputs) if isinstance(inputs, dict) else {"sentences": inputs}


def rest_response(request, outputs):
    """TF Serving's response to `request` for the signature's outputs (one named output: its name is omitted)."""
    (value,) = outputs.values()
    return {"predictions" if "instances" in request else "outputs": value.tolist()}


def test_tf_serving_rest_shapes_with_saved_model_cli(saved_model_cli_run, reference_encoder):
    requests = [
        {"instances": SENTENCES},
        {"signature_name": "serving_default", "inputs": SENTENCES},
        {"inputs": {"sentences": SENTENCES}},
    ]
    assert all(signature_inputs(r) == {"sentences": SENTENCES} for r in requests)
    result = saved_model_cli_run.result()  # run --input_exprs 'sentences=[...]' --outdir DIR
    assert result.returncode == 0, result.stderr[-3000:]
    outdir = saved_model_cli_run.outdir
    assert sorted(p.name for p in outdir.iterdir()) == ["embeddings.npy"]  # the one output, by its name
    outputs = {"embeddings": np.load(outdir / "embeddings.npy")}
    assert outputs["embeddings"].dtype == np.float32 and outputs["embeddings"].shape == (len(SENTENCES), 32)

    expected = reference_encoder.encode(SENTENCES)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    for request in requests:
        response = json.loads(json.dumps(rest_response(request, outputs)))  # through JSON, as on the wire
        (key,) = response
        assert key == ("predictions" if "instances" in request else "outputs")
        assert len(response[key]) == len(SENTENCES) and all(len(row) == 32 for row in response[key])
        np.testing.assert_allclose(np.array(response[key]), expected, atol=1e-5)
