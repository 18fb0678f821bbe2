"""`python -m tf_simcse.serve` on an export of tests/fixtures/tiny_bert, over real HTTP on 127.0.0.1 (httpx).

References: the checkpoint's own `Encoder.encode` (not the export) and `tf_simcse.similarity.
cosine_similarity_matrix` for every embedding and score; prometheus_client's parser for /metrics. Two servers
run as subprocesses for the whole module (micro-batching on, and `--max_batch_size 1`); configurations the CLI
cannot reach cheaply (API key, threshold flag, raw embeddings) run the same app on uvicorn in a thread.
"""

import json
import re

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from tests.serving._server import ServeProcess, thread_server
from tf_simcse.exporting import write_decision_threshold
from tf_simcse.similarity import cosine_similarity_matrix

TOLERANCE = 1e-5
# The load test: sentences per request, seconds per server. With one sentence per request the tiny model's call
# (a few ms) costs about what the HTTP request around it costs, which caps what batching can gain: 3.8x was
# measured on a loaded machine, little margin; with 4, the unbatched server makes 4 calls per request.
PER_REQUEST = 4
LOAD_SECONDS = 2.0
LIMITS = {"max_sentences": 64, "max_chars": 300, "max_body_bytes": 20000}
SENTENCES = [
    "A man is playing a guitar.",
    "A woman is slicing an onion.",
    "The cat sits on the mat.",
    "",
    "   ",
    "\t\n",
    "한국어 문장 임베딩을 학습합니다.",
    "Mixed 한국어 English 中文 😀 café",
    "a man " * 45,  # far longer than the export's 24 tokens, within --max_chars
    "[CLS] the cat [SEP] is [MASK]",
]
PAIRS = [(SENTENCES[i], SENTENCES[j]) for i, j in [(0, 1), (0, 2), (1, 2), (0, 8), (3, 4), (2, 9), (6, 7), (0, 0)]]


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _pair_scores(encoder, pairs):
    first = encoder.encode([a for a, _ in pairs])
    second = encoder.encode([b for _, b in pairs])
    return np.array([cosine_similarity_matrix([x, y])[0, 1] for x, y in zip(first, second)])


@pytest.fixture(scope="module")
def model_threshold(reference_encoder):
    """Halfway between two reference pair scores near the middle: some pairs are similar, some are not."""
    scores = np.sort(_pair_scores(reference_encoder, PAIRS))
    i = len(scores) // 2
    assert scores[i] - scores[i - 1] > 1e-3, scores  # a real gap, far above the tolerance
    return float((scores[i - 1] + scores[i]) / 2)


@pytest.fixture(scope="module")
def export_with_threshold(export_dir, model_threshold):
    """The shared tiny export (tests/serving/conftest.py), with a decision_threshold.json."""
    write_decision_threshold(
        export_dir, model_threshold, metric="f1", split="the tests' pairs", source="server_test.py"
    )
    return export_dir


@pytest.fixture(scope="module")
def servers(export_with_threshold, saved_model_cli_run, tmp_path_factory):
    """The batching server (with small limits) and the one-sentence-per-call server, started side by side (and
    beside tf_serving_test.py's saved_model_cli run, so that the three TensorFlow imports overlap)."""
    logs = tmp_path_factory.mktemp("logs")
    limits = [f"--{k}={v}" for k, v in LIMITS.items()]
    model = ["--model", export_with_threshold]
    batching = ServeProcess([*model, *limits], logs / "batching.log")
    unbatched = ServeProcess([*model, *limits, "--max_batch_size", "1"], logs / "unbatched.log")
    try:
        batching.wait_ready()
        unbatched.wait_ready()
        yield {"batching": batching, "unbatched": unbatched}
    finally:
        for server in (batching, unbatched):
            server.interrupt()
        codes = {"batching": batching.stop(), "unbatched": unbatched.stop()}
    # Ctrl+C stops them cleanly.
    assert codes == {"batching": 0, "unbatched": 0}, codes
    for server in (batching, unbatched):
        lines = server.lines()
        assert lines[-1] == "stopped" and not [x for x in lines if "Traceback" in x], lines[-5:]


@pytest.fixture(scope="module")
def url(servers):
    return servers["batching"].url


def _post(url, path, body, **kwargs):
    if isinstance(body, (bytes, str)):
        return httpx.post(url + path, content=body, timeout=30, **kwargs)
    return httpx.post(url + path, json=body, timeout=30, **kwargs)


# ------------------------------------------------------------------------------------------ endpoints


def test_startup_line_healthz_docs(servers, url, export_dir, model_threshold):
    lines = servers["batching"].lines()
    loaded = [line for line in lines if line.startswith("loaded ")]
    assert loaded and f"decision threshold {model_threshold:g} from decision_threshold.json" in loaded[0], lines
    assert url.startswith("http://127.0.0.1:")

    health = httpx.get(url + "/healthz").json()
    assert health == {
        "status": "ok",
        "model": "tiny_export",
        "dim": 32,
        "max_seq_length": 24,
        "normalized": True,
        "max_batch_size": 32,
        "threshold": {"value": model_threshold, "source": "model", "metric": "f1", "split": "the tests' pairs"},
    }
    docs = httpx.get(url + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    schema = httpx.get(url + "/openapi.json").json()
    assert {"/v1/embeddings", "/v1/similarity", "/v1/search", "/healthz", "/metrics"} <= set(schema["paths"])
    assert set(schema["components"]["schemas"]["EmbeddingsRequest"]["properties"]) == {"sentences", "normalize"}


def test_embeddings_equal_encode(url, reference_encoder):
    response = _post(url, "/v1/embeddings", {"sentences": SENTENCES})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dim"] == 32
    got = np.array(body["embeddings"])
    np.testing.assert_allclose(got, _unit(reference_encoder.encode(SENTENCES)), atol=TOLERANCE)
    # The empty and whitespace-only sentences are embedded like the library does: all as [CLS] [SEP].
    np.testing.assert_allclose(got[3], got[4], atol=1e-6)
    np.testing.assert_allclose(got[3], got[5], atol=1e-6)
    # Explicit normalize=true is the default.
    again = _post(url, "/v1/embeddings", {"sentences": SENTENCES[:2], "normalize": True}).json()
    np.testing.assert_allclose(np.array(again["embeddings"]), got[:2], atol=1e-6)


def test_similarity_equals_cosine_and_uses_the_model_threshold(url, reference_encoder, model_threshold):
    expected = _pair_scores(reference_encoder, PAIRS)
    response = _post(url, "/v1/similarity", {"pairs": [list(p) for p in PAIRS]})
    assert response.status_code == 200, response.text
    body = response.json()
    np.testing.assert_allclose(body["scores"], expected, atol=TOLERANCE)
    assert body["similar"] == [bool(s >= model_threshold) for s in expected]
    assert 0 < sum(body["similar"]) < len(PAIRS)
    assert (body["threshold"], body["threshold_source"]) == (model_threshold, "model")

    for (a, b), score in zip(PAIRS[:3], expected):
        single = _post(url, "/v1/similarity", {"sentence1": a, "sentence2": b}).json()
        assert set(single) == {"score", "similar", "threshold", "threshold_source"}
        assert abs(single["score"] - score) < TOLERANCE
        assert single["similar"] is bool(score >= model_threshold)


def test_search_ranks_by_cosine(url, reference_encoder):
    query, documents = SENTENCES[0], SENTENCES[1:]
    expected = cosine_similarity_matrix(reference_encoder.encode([query] + documents))[0, 1:]
    body = _post(url, "/v1/search", {"query": query, "documents": documents, "top_k": 4}).json()
    assert len(body["indices"]) == len(body["scores"]) == 4
    np.testing.assert_allclose(body["scores"], expected[body["indices"]], atol=TOLERANCE)
    # The best four, best first (reference scores: no two within the tolerance of each other here).
    assert sorted(body["indices"]) == sorted(np.argsort(-expected)[:4].tolist())
    assert body["scores"] == sorted(body["scores"], reverse=True)
    everything = _post(url, "/v1/search", {"query": query, "documents": documents, "top_k": 100}).json()
    assert sorted(everything["indices"]) == list(range(len(documents)))  # top_k beyond the documents: all
    default = _post(url, "/v1/search", {"query": query, "documents": documents}).json()
    assert len(default["indices"]) == min(10, len(documents))


# ---------------------------------------------------------------------------------------- bad input

_LONG = "x" * (LIMITS["max_chars"] + 1)
BAD_REQUESTS = [
    # (name, path, body (JSON value, or raw bytes), status, field)
    ("malformed JSON", "/v1/embeddings", b'{"sentences": ["a"', 400, "body"),
    ("invalid UTF-8", "/v1/embeddings", b'{"sentences": ["caf\xe9"]}', 400, "body"),
    ("empty body", "/v1/embeddings", b"", 400, "body"),
    ("body not an object", "/v1/embeddings", ["a", "b"], 422, "body"),
    ("missing field", "/v1/embeddings", {}, 422, "sentences"),
    ("misspelt field", "/v1/embeddings", {"sentences": ["a"], "normalise": True}, 422, "normalise"),
    ("sentences not a list", "/v1/embeddings", {"sentences": "a"}, 422, "sentences"),
    ("a number among sentences", "/v1/embeddings", {"sentences": ["a", 3]}, 422, "sentences[1]"),
    ("a null among sentences", "/v1/embeddings", {"sentences": ["a", None]}, 422, "sentences[1]"),
    ("normalize as a string", "/v1/embeddings", {"sentences": ["a"], "normalize": "yes"}, 422, "normalize"),
    ("normalize false, normalized model", "/v1/embeddings", {"sentences": ["a"], "normalize": False}, 422,
     "normalize"),
    ("empty list", "/v1/embeddings", {"sentences": []}, 422, "sentences"),
    ("too many sentences", "/v1/embeddings", {"sentences": ["a"] * 65}, 422, "sentences"),
    ("too long sentence", "/v1/embeddings", {"sentences": ["a", _LONG]}, 422, "sentences[1]"),
    ("lone surrogate", "/v1/embeddings", b'{"sentences": ["ok", "\\ud800"]}', 422, "sentences[1]"),
    ("body too large", "/v1/embeddings", {"sentences": ["a" * 250] * 80}, 413, "body"),
    ("pair and pairs", "/v1/similarity", {"sentence1": "a", "sentence2": "b", "pairs": [["a", "b"]]}, 422, "pairs"),
    ("half a pair", "/v1/similarity", {"sentence1": "a"}, 422, "sentence2"),
    ("null sentence1", "/v1/similarity", {"sentence1": None, "sentence2": "b"}, 422, "sentence1"),
    ("sentence1 a number", "/v1/similarity", {"sentence1": 1, "sentence2": "b"}, 422, "sentence1"),
    ("a pair of three", "/v1/similarity", {"pairs": [["a", "b"], ["a", "b", "c"]]}, 422, "pairs[1]"),
    ("a pair of one", "/v1/similarity", {"pairs": [["a"]]}, 422, "pairs[0]"),
    ("no pairs", "/v1/similarity", {"pairs": []}, 422, "pairs"),
    ("too many pairs", "/v1/similarity", {"pairs": [["a", "b"]] * 33}, 422, "pairs"),
    ("too long in a pair", "/v1/similarity", {"pairs": [["a", "b"], ["c", _LONG]]}, 422, "pairs[1][1]"),
    ("no documents", "/v1/search", {"query": "a", "documents": []}, 422, "documents"),
    ("too many documents", "/v1/search", {"query": "a", "documents": ["b"] * 64}, 422, "documents"),
    ("too long document", "/v1/search", {"query": "a", "documents": ["b", "c", _LONG]}, 422, "documents[2]"),
    ("too long query", "/v1/search", {"query": _LONG, "documents": ["b"]}, 422, "query"),
    ("top_k 0", "/v1/search", {"query": "a", "documents": ["b"], "top_k": 0}, 422, "top_k"),
    ("top_k a string", "/v1/search", {"query": "a", "documents": ["b"], "top_k": "2"}, 422, "top_k"),
    ("top_k a bool", "/v1/search", {"query": "a", "documents": ["b"], "top_k": True}, 422, "top_k"),
    ("top_k a float", "/v1/search", {"query": "a", "documents": ["b"], "top_k": 2.5}, 422, "top_k"),
]


@pytest.mark.parametrize("name,path,body,status,field", BAD_REQUESTS, ids=[r[0] for r in BAD_REQUESTS])
def test_bad_request_gets_a_4xx_naming_the_field(url, reference_encoder, name, path, body, status, field):
    response = _post(url, path, body)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["field"] == field and error["error"].startswith(f"{field}: "), error
    assert len(error["error"]) < 300 and "Traceback" not in error["error"]
    # ... and the server goes on serving correct answers.
    ok = _post(url, "/v1/embeddings", {"sentences": ["A man is playing a guitar."]})
    assert ok.status_code == 200
    np.testing.assert_allclose(
        ok.json()["embeddings"], _unit(reference_encoder.encode(["A man is playing a guitar."])), atol=TOLERANCE
    )


def test_streamed_body_too_large_and_other_http_errors(url):
    def chunks():  # no Content-Length: chunked transfer encoding, cut off at the limit
        yield b'{"sentences": ['
        for _ in range(LIMITS["max_body_bytes"] // 100 + 1):
            yield b'"' + b"a" * 100 + b'",'
        yield b'"a"]}'

    response = httpx.post(url + "/v1/embeddings", content=chunks(), timeout=30)
    assert response.status_code == 413 and response.json()["field"] == "body"
    # Any Content-Type: the body is JSON (curl -d sends application/x-www-form-urlencoded).
    form = httpx.post(url + "/v1/embeddings", content=b'{"sentences": ["a"]}',
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 200
    assert httpx.get(url + "/v1/embeddings").status_code == 405
    missing = httpx.get(url + "/v2/embeddings")
    assert missing.status_code == 404 and "no such endpoint" in missing.json()["error"]
    assert httpx.get(url + "/healthz").json()["status"] == "ok"


# ------------------------------------------------------------------------------- logs and metrics


def test_access_log_and_prometheus_metrics(servers, url):
    parser = pytest.importorskip("prometheus_client.parser")

    def families():
        text = httpx.get(url + "/metrics").text
        return {f.name: f for f in parser.text_string_to_metric_families(text)}

    def requests_total(fams, endpoint, status):
        return sum(s.value for s in fams["tf_simcse_requests"].samples
                   if s.name == "tf_simcse_requests_total" and s.labels == {"method": "POST", "endpoint": endpoint,
                                                                              "status": status})

    before, log_before = families(), len(servers["batching"].lines())
    for _ in range(3):
        _post(url, "/v1/embeddings", {"sentences": ["a", "b"]})
    _post(url, "/v1/embeddings", {"sentences": []})
    _post(url, "/v1/search", {"query": "q", "documents": ["a", "b", "c"]})
    after = families()

    assert requests_total(after, "/v1/embeddings", "200") - requests_total(before, "/v1/embeddings", "200") == 3
    assert requests_total(after, "/v1/embeddings", "422") - requests_total(before, "/v1/embeddings", "422") == 1
    assert requests_total(after, "/v1/search", "200") - requests_total(before, "/v1/search", "200") == 1
    assert not [s for s in after["tf_simcse_requests"].samples if s.labels.get("status", "").startswith("5")]

    def sample(fams, family, name, labels=None):
        return next(s.value for s in fams[family].samples if s.name == name and (labels is None or s.labels == labels))

    latency = after["tf_simcse_request_duration_seconds"]
    assert latency.type == "histogram"
    embeddings_count = sample(after, latency.name, latency.name + "_count", {"endpoint": "/v1/embeddings"})
    assert embeddings_count == sum(
        requests_total(after, "/v1/embeddings", s) for s in ("200", "400", "413", "422")
    ) + sum(s.value for s in after["tf_simcse_requests"].samples
            if s.labels.get("endpoint") == "/v1/embeddings" and s.labels["method"] != "POST")
    # The model's batches: 3 x 2 sentences + 4 (a search embeds the query too).
    batch = "tf_simcse_batch_size_sentences"
    assert sample(after, batch, batch + "_sum") - sample(before, batch, batch + "_sum") == 10
    inf = {"le": "+Inf"}
    assert sample(after, batch, batch + "_bucket", inf) == sample(after, batch, batch + "_count")

    # One access-log line per request (the 5 above, and the /metrics request between them).
    new = servers["batching"].lines()[log_before:]
    logged = [line for line in new if re.search(r'"(POST|GET) /\S+" \d{3} [\d.]+ms', line)]
    assert len(logged) == 6, new
    assert re.search(r'127\.0\.0\.1:\d+ "POST /v1/embeddings" 200 [\d.]+ms sentences=2$', logged[0]), logged[0]
    assert re.search(r'"POST /v1/embeddings" 422 ', logged[3]) and re.search(r"sentences=4$", logged[4])


# --------------------------------------------------------------------------------------- load test


def test_load_32_clients_batching_vs_one_sentence_per_call(servers, reference_encoder, saved_model_cli_run):
    """32 concurrent clients for a few seconds on each server: no error, every embedding right, and
    micro-batching serves at least 3x the sentences per second of one-sentence-per-call."""
    from tf_simcse.serving.loadgen import run_load

    saved_model_cli_run.result()  # nothing else of ours competes for the CPU while measuring

    pool = [f"{a} {b}".strip() for a in SENTENCES[:3] + SENTENCES[6:8] for b in SENTENCES[:8]]
    expected = _unit(reference_encoder.encode(pool))
    picks = np.random.default_rng(0).integers(0, len(pool), size=(256, PER_REQUEST))
    requests = [(json.dumps({"sentences": [pool[j] for j in row]}).encode(), PER_REQUEST, expected[row])
                for row in picks]

    def check(body, want):
        got = np.array(json.loads(body)["embeddings"])
        return got.shape == want.shape and np.abs(got - want).max() < TOLERANCE

    results = {}
    for name in ("unbatched", "batching"):
        url = servers[name].url
        run_load(url, requests[:32], clients=8, seconds=0.3, check=check)  # warm-up
        results[name] = run_load(url, requests, clients=32, seconds=LOAD_SECONDS, check=check)
    summary = {name: {"requests": r.requests, "sentences_per_s": round(r.sentences_per_s, 1),
                      "p50_ms": round(r.latency_ms(50), 1), "p99_ms": round(r.latency_ms(99), 1)}
               for name, r in results.items()}
    print("load:", json.dumps(summary))
    for name, r in results.items():
        assert r.failures == 0 and r.wrong == 0 and r.requests > 0, (name, r.errors, r.wrong)
    assert results["batching"].sentences_per_s >= 3 * results["unbatched"].sentences_per_s, summary


# ------------------------------------------------------------------- in-process app configurations


@pytest.fixture(scope="module")
def raw_backend(export_with_threshold):
    from tf_simcse.serving.backend import load_export_backend

    return load_export_backend(export_with_threshold, raw_embeddings=True)


def _app(backend, threshold=None, **settings):
    from tf_simcse.serving.app import ServerSettings, create_app

    return create_app(backend, ServerSettings(**settings), threshold, log=lambda line: None)


def test_api_key(raw_backend):
    with thread_server(_app(raw_backend, api_key="s3cret")) as url:
        body = {"sentences": ["a"]}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}, {"X-Api-Key": "s3cret"}):
            refused = _post(url, "/v1/embeddings", body, headers=headers)
            assert refused.status_code == 401 and refused.json()["field"] == "Authorization", headers
        assert _post(url, "/v1/embeddings", body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert httpx.get(url + "/metrics").status_code == 401
        assert httpx.get(url + "/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert httpx.get(url + "/healthz").status_code == 200  # liveness probes need no key


def test_threshold_flag_overrides_the_model_and_none_gives_null(raw_backend, reference_encoder, model_threshold):
    from tf_simcse.exporting import read_decision_threshold
    from tf_simcse.serving.app import resolve_threshold

    stored = read_decision_threshold(raw_backend.path)
    assert stored == {"threshold": model_threshold, "metric": "f1", "split": "the tests' pairs",
                      "source": "server_test.py"}
    pair = {"sentence1": PAIRS[0][0], "sentence2": PAIRS[0][1]}
    score = _pair_scores(reference_encoder, PAIRS[:1])[0]
    for flag, similar in ((score - 0.01, True), (score + 0.01, False)):
        with thread_server(_app(raw_backend, resolve_threshold(stored, flag))) as url:
            body = _post(url, "/v1/similarity", pair).json()
        assert body == {"score": pytest.approx(score, abs=TOLERANCE), "similar": similar, "threshold": flag,
                        "threshold_source": "flag"}
    with thread_server(_app(raw_backend, resolve_threshold(None, None))) as url:
        single = _post(url, "/v1/similarity", pair).json()
        pairs = _post(url, "/v1/similarity", {"pairs": [list(p) for p in PAIRS]}).json()
        health = httpx.get(url + "/healthz").json()
    assert single["similar"] is None and single["threshold"] is None and single["threshold_source"] == "none"
    assert pairs["similar"] is None and pairs["threshold_source"] == "none"
    assert health["threshold"] is None


def test_raw_embeddings_and_a_gfile_path(raw_backend, export_dir, reference_encoder):
    """--raw_embeddings serves Encoder.encode's un-normalized vectors; a ram:// copy loads through tf.io.gfile."""
    import tensorflow as tf

    from tf_simcse.serving.backend import load_export_backend

    expected = reference_encoder.encode(SENTENCES)
    with thread_server(_app(raw_backend)) as url:
        raw = _post(url, "/v1/embeddings", {"sentences": SENTENCES, "normalize": False}).json()
        unit = _post(url, "/v1/embeddings", {"sentences": SENTENCES}).json()
        health = httpx.get(url + "/healthz").json()
    np.testing.assert_allclose(raw["embeddings"], expected, atol=TOLERANCE)
    np.testing.assert_allclose(unit["embeddings"], _unit(expected), atol=TOLERANCE)
    assert health["normalized"] is False

    target = "ram://serving_test/export"
    for root, _, files in tf.io.gfile.walk(str(export_dir)):
        folder = target + root[len(str(export_dir)):]
        tf.io.gfile.makedirs(folder)
        for name in files:
            tf.io.gfile.copy(f"{root}/{name}", f"{folder}/{name}", overwrite=True)
    backend = load_export_backend(target + "/sentence_encoder")  # one SavedModel of the export: the export
    assert backend.path == target
    np.testing.assert_allclose(backend.embed(SENTENCES), _unit(expected), atol=TOLERANCE)


def test_cli_errors_are_one_line(tmp_path, export_dir):
    from tf_simcse import serve
    from tf_simcse.serving.server import bind_socket

    (tmp_path / "hf").mkdir()
    cases = [
        (["--model", str(tmp_path / "missing")], "error: --model .*missing: no such directory"),
        (["--model", str(tmp_path / "hf")], "error: --model .*hf: not a tf_simcse export"),
        (["--model", str(export_dir), "--max_batch_size", "0"], "error: --max_batch_size must be >= 1"),
        (["--model", str(export_dir), "--max_wait_ms", "-1"], "error: --max_wait_ms must be a number >= 0"),
        (["--model", str(export_dir), "--threshold", "nan"], "error: --threshold must be a finite number"),
        (["--model", str(export_dir), "--port", "70000"], "error: --port must be between 0 and 65535"),
    ]
    taken = bind_socket("127.0.0.1", 0)
    taken.listen()
    cases.append((["--model", str(export_dir), "--port", str(taken.getsockname()[1])], "cannot listen there"))
    try:
        for argv, message in cases:
            with pytest.raises(SystemExit, match=message):
                serve.main(["--port", "0", *argv] if "--port" not in argv else argv)
    finally:
        taken.close()
