"""The /metrics text, read back by prometheus_client's own parser."""

import pytest

from tf_simcse.serving.metrics import ServerMetrics

parser = pytest.importorskip("prometheus_client.parser")


def test_counters_and_histograms_parse_back():
    metrics = ServerMetrics()
    for seconds in (0.0005, 0.003, 0.003, 20.0):
        metrics.observe_request("POST", "/v1/embeddings", 200, seconds)
    metrics.observe_request("GET", 'odd "path"\\\n', 404, 0.01)
    metrics.observe_batch(sentences=32, requests=8, seconds=0.05)
    metrics.observe_batch(sentences=3, requests=1, seconds=0.004)
    families = {f.name: f for f in parser.text_string_to_metric_families(metrics.render())}
    assert set(families) == {"tf_simcse_requests", "tf_simcse_request_duration_seconds",
                             "tf_simcse_batch_size_sentences", "tf_simcse_batch_size_requests",
                             "tf_simcse_model_duration_seconds"}

    requests = {tuple(sorted(s.labels.items())): s.value for s in families["tf_simcse_requests"].samples}
    assert requests[(("endpoint", "/v1/embeddings"), ("method", "POST"), ("status", "200"))] == 4
    assert requests[(("endpoint", 'odd "path"\\\n'), ("method", "GET"), ("status", "404"))] == 1  # escaped

    latency = {(s.name, s.labels.get("le")): s.value for s in families["tf_simcse_request_duration_seconds"].samples
               if s.labels.get("endpoint") == "/v1/embeddings"}
    assert latency[("tf_simcse_request_duration_seconds_bucket", "0.001")] == 1
    assert latency[("tf_simcse_request_duration_seconds_bucket", "0.005")] == 3
    assert latency[("tf_simcse_request_duration_seconds_bucket", "10.0")] == 3
    assert latency[("tf_simcse_request_duration_seconds_bucket", "+Inf")] == 4
    assert latency[("tf_simcse_request_duration_seconds_count", None)] == 4
    assert latency[("tf_simcse_request_duration_seconds_sum", None)] == pytest.approx(20.0065)

    batches = {(s.name, s.labels.get("le")): s.value for s in families["tf_simcse_batch_size_sentences"].samples}
    assert batches[("tf_simcse_batch_size_sentences_bucket", "2.0")] == 0  # buckets are upper bounds, inclusive
    assert batches[("tf_simcse_batch_size_sentences_bucket", "4.0")] == 1
    assert batches[("tf_simcse_batch_size_sentences_bucket", "32.0")] == 2
    assert batches[("tf_simcse_batch_size_sentences_sum", None)] == 35
