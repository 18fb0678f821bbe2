"""The server's counters and histograms, rendered in the Prometheus text exposition format (version 0.0.4).

Updated from the event loop only (the HTTP middleware and the batcher's callback run there), so no lock is
needed. `ServerMetrics.render()` is the body of `GET /metrics`.
"""

import bisect
import math

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds; the model call of a tiny export takes ~1 ms, a BERT-base batch on a CPU up to seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Counter:
    def __init__(self, name, help_text, label_names=()):
        self.name, self.help, self.label_names = name, help_text, tuple(label_names)
        self._values = {}

    def inc(self, labels=(), amount=1):
        self._values[labels] = self._values.get(labels, 0) + amount

    def value(self, labels=()):
        return self._values.get(labels, 0)

    def render(self):
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        for labels, value in sorted(self._values.items()):
            lines.append(f"{self.name}{_labels(self.label_names, labels)} {_number(value)}")
        return lines


class Histogram:
    def __init__(self, name, help_text, buckets, label_names=()):
        self.name, self.help, self.label_names = name, help_text, tuple(label_names)
        self.buckets = tuple(float(b) for b in buckets)
        self._series = {}  # labels -> [count per bucket (non-cumulative, +Inf last), sum]

    def observe(self, value, labels=()):
        series = self._series.setdefault(labels, [[0] * (len(self.buckets) + 1), 0.0])
        series[0][bisect.bisect_left(self.buckets, value)] += 1  # the first bucket with value <= bound
        series[1] += value

    def count(self, labels=()):
        return sum(self._series[labels][0]) if labels in self._series else 0

    def render(self):
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for labels, (counts, total) in sorted(self._series.items()):
            cumulative = 0
            for bound, count in zip((*self.buckets, math.inf), counts):
                cumulative += count
                le = "+Inf" if bound == math.inf else _number(bound)
                lines.append(f"{self.name}_bucket{_labels((*self.label_names, 'le'), (*labels, le))} {cumulative}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, labels)} {_number(total)}")
            lines.append(f"{self.name}_count{_labels(self.label_names, labels)} {cumulative}")
        return lines


class ServerMetrics:
    """What `GET /metrics` reports: requests by endpoint and status, their latency, and the model's batches."""

    def __init__(self, prefix="tf_simcse"):
        self.requests = Counter(
            f"{prefix}_requests_total", "HTTP requests answered, by method, endpoint and status code.",
            ("method", "endpoint", "status"),
        )
        self.request_seconds = Histogram(
            f"{prefix}_request_duration_seconds", "Time from receiving a request to sending its response.",
            LATENCY_BUCKETS, ("endpoint",),
        )
        self.batch_sentences = Histogram(
            f"{prefix}_batch_size_sentences", "Sentences per model call (requests merged by the micro-batcher).",
            BATCH_SIZE_BUCKETS,
        )
        self.batch_requests = Histogram(
            f"{prefix}_batch_size_requests", "Requests (or parts of requests) merged into one model call.",
            BATCH_SIZE_BUCKETS,
        )
        self.model_seconds = Histogram(
            f"{prefix}_model_duration_seconds", "Time of one model call (off the event loop).", LATENCY_BUCKETS
        )

    def observe_request(self, method, endpoint, status, seconds):
        self.requests.inc((method, endpoint, str(status)))
        self.request_seconds.observe(seconds, (endpoint,))

    def observe_batch(self, sentences, requests, seconds):
        self.batch_sentences.observe(sentences)
        self.batch_requests.observe(requests)
        self.model_seconds.observe(seconds)

    def render(self):
        metrics = (self.requests, self.request_seconds, self.batch_sentences, self.batch_requests, self.model_seconds)
        return "\n".join(line for metric in metrics for line in metric.render()) + "\n"


def _labels(names, values):
    if not names:
        return ""
    return "{" + ",".join(f'{name}="{_escape(str(value))}"' for name, value in zip(names, values)) + "}"


def _escape(value):
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value):
    return repr(float(value)) if isinstance(value, float) else str(value)
