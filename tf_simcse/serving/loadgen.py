"""A closed-loop HTTP load generator for the server's tests and benchmarks: N clients, each on its own keep-alive
HTTP/1.1 connection, each sending its next request as soon as the previous response is in, for a fixed time.

It is deliberately minimal (asyncio streams, prebuilt request bodies): a general-purpose client such as httpx
spends more CPU per request than the server does on the tiny test model, so with both on one small machine it
would measure itself. Responses are read in full (Content-Length) and handed to a checker.
"""

import asyncio
import dataclasses
import time
import urllib.parse

import numpy as np


@dataclasses.dataclass
class LoadResult:
    clients: int
    seconds: float
    requests: int = 0  # answered with 200 and accepted by the checker
    sentences: int = 0
    wrong: int = 0  # 200, but the checker rejected the body
    errors: list = dataclasses.field(default_factory=list)  # first few failures, as text
    failures: int = 0  # non-200 answers and connection errors
    latencies: list = dataclasses.field(default_factory=list)  # seconds, of the accepted requests

    @property
    def requests_per_s(self):
        return self.requests / self.seconds

    @property
    def sentences_per_s(self):
        return self.sentences / self.seconds

    def latency_ms(self, q):
        return float(np.percentile(self.latencies, q) * 1000) if self.latencies else float("nan")


def run_load(url, requests, *, clients, seconds, path="/v1/embeddings", check=None, headers=None):
    """Runs the load in a fresh event loop; returns a `LoadResult`.

    Args:
        url: the server, `http://host:port`.
        requests: a list of `(body_bytes, sentences, expected)`; client k sends items k, k + clients, ... cyclically.
        clients: concurrent connections.
        seconds: how long to keep sending (requests in flight at the end are still awaited and counted).
        check: `check(response_body_bytes, expected) -> bool` for each 200 answer (None: accept all).
        headers: extra request headers (dict).
    """
    return asyncio.run(_run(url, requests, clients, seconds, path, check, headers or {}))


async def _run(url, requests, clients, seconds, path, check, headers):
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    prefix = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n{extra}"
    wire = [(f"{prefix}Content-Length: {len(body)}\r\n\r\n".encode() + body, n, expected)
            for body, n, expected in requests]
    result = LoadResult(clients=clients, seconds=0.0)
    stop = time.monotonic() + seconds

    def fail(message):
        result.failures += 1
        if len(result.errors) < 10:
            result.errors.append(message)

    async def client(k):
        reader = writer = None
        i = k
        while time.monotonic() < stop:
            message, sentences, expected = wire[i % len(wire)]
            i += clients
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                start = time.perf_counter()
                writer.write(message)
                status, body, keep_alive = await _read_response(reader)
                elapsed = time.perf_counter() - start
            except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                fail(f"connection: {e!r}")
                _close(writer)
                writer = None
                continue
            if not keep_alive:
                _close(writer)
                writer = None
            if status != 200:
                fail(f"{status}: {body[:200].decode('utf-8', 'replace')}")
            elif check is not None and not check(body, expected):
                result.wrong += 1
            else:
                result.requests += 1
                result.sentences += sentences
                result.latencies.append(elapsed)
        _close(writer)

    begin = time.monotonic()
    await asyncio.gather(*(client(k) for k in range(clients)))
    result.seconds = time.monotonic() - begin
    return result


async def _read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            fields[name.strip().lower()] = value.strip().lower()
    if "content-length" not in fields:
        raise ValueError(f"response without Content-Length (status {status})")
    body = await reader.readexactly(int(fields["content-length"]))
    return status, body, fields.get("connection") != "close"


def _close(writer):
    if writer is not None:
        writer.close()
