"""`MicroBatcher` on a deterministic stand-in model that records its calls (the real model: server_test.py)."""

import asyncio
import threading
import time

import numpy as np
import pytest

from tf_simcse.serving.batcher import MicroBatcher


class Recorder:
    """`embed` = one row per sentence, [len, sum of code points]; remembers every call and its thread."""

    def __init__(self, delay=0.0, fail_on=None):
        self.calls, self.threads, self.delay, self.fail_on = [], set(), delay, fail_on

    def __call__(self, sentences):
        self.calls.append(list(sentences))
        self.threads.add(threading.get_ident())
        if self.fail_on in sentences:
            raise RuntimeError(f"model failure on {self.fail_on!r}")
        time.sleep(self.delay)
        return np.array([[len(s), sum(map(ord, s))] for s in sentences], np.float32)


def expected(sentences):
    return np.array([[len(s), sum(map(ord, s))] for s in sentences], np.float32)


def run(coroutine_fn, model, **kwargs):
    async def main():
        batcher = MicroBatcher(model, **kwargs)
        await batcher.start()
        try:
            return await coroutine_fn(batcher)
        finally:
            await batcher.stop()

    return asyncio.run(main())


def test_concurrent_requests_share_calls_in_order_and_off_the_loop():
    model = Recorder(delay=0.01)
    requests = [[f"r{i}s{j}" for j in range(i % 3 + 1)] for i in range(40)]  # 80 sentences

    async def main(batcher):
        return threading.get_ident(), await asyncio.gather(*(batcher.embed(r) for r in requests))

    loop_thread, results = run(main, model, max_batch_size=16, max_wait_ms=50)
    for request, result in zip(requests, results):
        np.testing.assert_array_equal(result, expected(request))
    assert all(len(call) <= 16 for call in model.calls)
    assert len(model.calls) <= 80 // 16 + 2  # merged: 40 requests in a handful of calls (not 40)
    assert sorted(s for call in model.calls for s in call) == sorted(s for r in requests for s in r)
    assert loop_thread not in model.threads and len(model.threads) == 1


def test_max_batch_size_one_and_large_requests_are_split():
    model = Recorder()

    async def main(batcher):
        return await batcher.embed([f"s{i}" for i in range(10)])

    result = run(main, model, max_batch_size=4, max_wait_ms=0)
    np.testing.assert_array_equal(result, expected([f"s{i}" for i in range(10)]))
    assert [len(c) for c in model.calls] == [4, 4, 2]

    unbatched = Recorder()

    async def many(batcher):
        return await asyncio.gather(*(batcher.embed([f"x{i}", f"y{i}"]) for i in range(5)))

    run(many, unbatched, max_batch_size=1, max_wait_ms=20)
    assert [len(c) for c in unbatched.calls] == [1] * 10


def test_a_lone_request_waits_at_most_max_wait_ms():
    async def main(batcher):
        start = time.perf_counter()
        await batcher.embed(["alone"])
        return time.perf_counter() - start

    assert 0.15 <= run(main, Recorder(), max_batch_size=8, max_wait_ms=150) < 1.0
    assert run(main, Recorder(), max_batch_size=8, max_wait_ms=0) < 0.1
    # A full batch does not wait.
    async def full(batcher):
        start = time.perf_counter()
        await batcher.embed([f"s{i}" for i in range(8)])
        return time.perf_counter() - start

    assert run(full, Recorder(), max_batch_size=8, max_wait_ms=5000) < 1.0


def test_model_errors_reach_their_batch_only_and_the_batcher_goes_on():
    model = Recorder(fail_on="bad")

    async def main(batcher):
        with pytest.raises(RuntimeError, match="model failure"):
            await batcher.embed(["bad"])
        return await batcher.embed(["good"])

    np.testing.assert_array_equal(run(main, model, max_batch_size=1, max_wait_ms=0), expected(["good"]))


def test_cancelled_requests_are_dropped_before_the_call():
    model = Recorder(delay=0.05)

    async def main(batcher):
        first = asyncio.ensure_future(batcher.embed(["first"]))  # occupies the model
        await asyncio.sleep(0.02)
        gone = asyncio.ensure_future(batcher.embed(["gone"]))
        await asyncio.sleep(0)
        gone.cancel()
        kept = await batcher.embed(["kept"])
        await first
        return kept

    np.testing.assert_array_equal(run(main, model, max_batch_size=8, max_wait_ms=0), expected(["kept"]))
    assert ["gone"] not in model.calls and all("gone" not in c for c in model.calls)


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_batch_size must be >= 1"):
        MicroBatcher(Recorder(), max_batch_size=0)
    with pytest.raises(ValueError, match="max_wait_ms must be >= 0"):
        MicroBatcher(Recorder(), max_wait_ms=-1)

    async def empty(batcher):
        await batcher.embed([])

    with pytest.raises(ValueError, match="at least one sentence"):
        run(empty, Recorder())
