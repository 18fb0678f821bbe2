"""One tiny export for the serving tests: tests/fixtures/tiny_bert with the avg pooler (its cosines spread more
than cls's), seq_length 24, and the checkpoint's own Encoder as the reference; and `saved_model_cli run` on it."""

import json
import pathlib
import os
import sys

import pytest

from tests.conftest import FIXTURES, REPO_ROOT
from tests.serving._server import SAVED_MODEL_CLI, TF_SERVING_SENTENCES, Background

SEQ_LENGTH = 24


@pytest.fixture(scope="session")
def reference_encoder():
    from tf_simcse.encoders.encoder import Encoder

    return Encoder.from_pretrained(FIXTURES / "tiny_bert", pooler="avg", max_seq_length=SEQ_LENGTH)


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory, reference_encoder):
    from tf_simcse.exporting import export_model

    return pathlib.Path(export_model(reference_encoder, tmp_path_factory.mktemp("serving") / "tiny_export"))


@pytest.fixture(scope="session")
def saved_model_cli_run(export_dir, tmp_path_factory):
    """`saved_model_cli run` of the sentence_encoder's serving_default on TF_SERVING_SENTENCES, started at once
    in the background (tests/serving/tf_serving_test.py reads it; server_test.py starts it beside its servers)."""
    outdir = tmp_path_factory.mktemp("saved_model_cli")
    # A JSON list of strings is also the Python expression that --input_exprs evaluates.
    expression = "sentences=" + json.dumps(TF_SERVING_SENTENCES, ensure_ascii=False)
    run = Background(
        [sys.executable, "-c", SAVED_MODEL_CLI, "run", "--dir", str(export_dir / "sentence_encoder"), "--tag_set",
         "serve", "--signature_def", "serving_default", "--input_exprs", expression, "--outdir", str(outdir)],
        cwd=REPO_ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    run.outdir = outdir
    yield run
    if run.process.poll() is None:
        run.process.kill()
        run.process.communicate()
