"""The real all-MiniLM-L6-v2, exported and loaded as the README shows (hub.KerasLayer in tf_keras, TFSMLayer in
Keras 3, the sentence_encoder), against sentence-transformers (PyTorch, the independent reference) and
`Encoder.encode` on the same checkpoint.
"""

import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf

from tests.export._tf_keras import run_tf_keras_script
from tf_simcse.encoders.encoder import Encoder
from tf_simcse.exporting import export_model

pytestmark = [pytest.mark.minilm, pytest.mark.slow]

SEQ_LENGTH = 128  # MiniLM's uncased vocabulary turns Korean into jamo pieces: 64+ keeps most sentences whole
README_SENTENCES = [
    "한 남자가 음식을 먹는다.",
    "한 남자가 빵 한 조각을 먹고 있다.",
    "원숭이 한 마리가 드럼을 연주한다.",
]
EDGE_CASES = ["", "   ", "Mixed 한국어 English 中文 😀 ＡＢＣ", "단어 " * 300, "A man is playing a guitar."]

# The README snippets, verbatim but for the path.
HUB_SNIPPET = """
import os
os.environ["TF_USE_LEGACY_KERAS"] = "1"  # before TensorFlow is imported
import numpy as np
import tensorflow as tf
import tensorflow_hub as hub
import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

sentences = ["한 남자가 음식을 먹는다.", "한 남자가 빵 한 조각을 먹고 있다.", "원숭이 한 마리가 드럼을 연주한다."]
text = tf.keras.layers.Input(shape=(), dtype=tf.string)
preprocessor = hub.KerasLayer("EXPORT/preprocessor")
encoder = hub.KerasLayer("EXPORT/encoder", trainable=True)
model = tf.keras.Model(text, encoder(preprocessor(text))["default"])

vectors = model.predict(tf.constant(sentences), verbose=0)
vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
print(np.round(vectors @ vectors.T, 4))
"""

TFSM_SNIPPET = """
import keras
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

sentences = ["한 남자가 음식을 먹는다.", "한 남자가 빵 한 조각을 먹고 있다.", "원숭이 한 마리가 드럼을 연주한다."]
preprocessor = tf.saved_model.load("EXPORT/preprocessor")
encoder = keras.layers.TFSMLayer("EXPORT/encoder", call_endpoint="serve", call_training_endpoint="serve_training")

vectors = keras.ops.convert_to_numpy(encoder(preprocessor(tf.constant(sentences)))["default"])
vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
print(np.round(vectors @ vectors.T, 4))
"""


@pytest.fixture(scope="module")
def encoder(minilm_dir):
    return Encoder.from_pretrained(minilm_dir, pooler="avg", max_seq_length=SEQ_LENGTH)


@pytest.fixture(scope="module")
def export_dir(encoder, tmp_path_factory):
    return pathlib.Path(export_model(encoder, tmp_path_factory.mktemp("minilm") / "all-MiniLM-L6-v2-export"))


@pytest.fixture(scope="module")
def sentences(shared_data):
    from tf_simcse.data.readers import read_korsts

    pairs = read_korsts(shared_data / "korsts" / "sts-dev.tsv")
    return README_SENTENCES + EDGE_CASES + list(dict.fromkeys(pairs.sentences1[:12] + pairs.sentences2[:12]))


def _normalized(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_sentence_encoder_equals_sentence_transformers(export_dir, encoder, sentences, minilm_dir):
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers is the reference")
    reference = st.SentenceTransformer(str(minilm_dir), device="cpu")
    reference.max_seq_length = SEQ_LENGTH
    expected = reference.encode(sentences, normalize_embeddings=True, convert_to_numpy=True)
    exported = tf.saved_model.load(str(export_dir / "sentence_encoder"))(tf.constant(sentences)).numpy()
    ours = _normalized(encoder.encode(sentences))
    print("max |sentence_encoder - sentence-transformers|:", float(np.abs(exported - expected).max()))
    print("max |sentence_encoder - normalized Encoder.encode|:", float(np.abs(exported - ours).max()))
    np.testing.assert_allclose(exported, expected, atol=1e-4)
    np.testing.assert_allclose(exported, ours, atol=1e-5)


def test_readme_snippets(export_dir, encoder, tmp_path, capsys):
    expected = _normalized(encoder.encode(README_SENTENCES))
    expected = expected @ expected.T

    hub_printed = run_tf_keras_script(HUB_SNIPPET.replace("EXPORT", str(export_dir)), [], tmp_path).stdout
    scope = {}
    exec(TFSM_SNIPPET.replace("EXPORT", str(export_dir)), scope)  # Keras 3, in this process
    tfsm_printed = capsys.readouterr().out
    with capsys.disabled():
        print(f"\nhub.KerasLayer (tf_keras) prints:\n{hub_printed}\nTFSMLayer (Keras 3) prints:\n{tfsm_printed}")
    for printed in (hub_printed, tfsm_printed):
        matrix = np.array([float(x) for x in re.findall(r"-?\d+\.\d*(?:e[-+]?\d+)?", printed)]).reshape(3, 3)
        np.testing.assert_allclose(matrix, expected, atol=6e-5)
    vectors = scope["vectors"]
    np.testing.assert_allclose(vectors @ vectors.T, expected, atol=1e-5)
