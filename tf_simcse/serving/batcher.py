"""`MicroBatcher`: merges the sentences of concurrent requests into one model call, run off the event loop.

A request's sentences join a FIFO queue (in parts of at most `max_batch_size`). One worker task takes the
oldest part, then waits until the queue holds `max_batch_size` sentences or the oldest part has waited
`max_wait_ms`, whichever comes first, and calls the model once on everything it took (never more than
`max_batch_size` sentences; a part that does not fit waits for the next call). The call runs in a one-thread
executor, so the event loop keeps accepting and parsing requests meanwhile, and the requests arriving during a
call form the next batch. Under load the oldest part has usually waited longer than `max_wait_ms` already, so
batches go out at once; when idle, a lone request waits at most `max_wait_ms` for company.
"""

import asyncio
import collections
import concurrent.futures
import time

import numpy as np


class MicroBatcher:
    """Batches calls of `embed(list[str]) -> float32 [n, dim]` across concurrent `await batcher.embed(...)`.

    Args:
        embed: the model call; runs in a worker thread, one call at a time.
        max_batch_size: the most sentences in one call (1: every sentence alone, no batching).
        max_wait_ms: how long the oldest waiting sentence may wait for others before the batch goes out.
        on_batch: optional `on_batch(sentences, parts, seconds)`, called on the event loop after each model call.
    """

    def __init__(self, embed, *, max_batch_size=32, max_wait_ms=5.0, on_batch=None):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}.")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}.")
        self._embed = embed
        self.max_batch_size = int(max_batch_size)
        self.max_wait = float(max_wait_ms) / 1000.0
        self._on_batch = on_batch
        self._pending = collections.deque()  # (sentences, future, arrival time)
        self._pending_sentences = 0
        self._wakeup = None
        self._worker = None
        self._executor = None

    @property
    def queued_sentences(self):
        return self._pending_sentences

    async def start(self):
        self._wakeup = asyncio.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tf_simcse-model")
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="tf_simcse-batcher")

    async def stop(self):
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        while self._pending:
            _, future, _ = self._pending.popleft()
            if not future.done():
                future.set_exception(RuntimeError("the server is shutting down"))
        self._pending_sentences = 0
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def embed(self, sentences):
        """The embeddings of `sentences` (a non-empty list of str), float32 `[len(sentences), dim]`."""
        if not sentences:
            raise ValueError("embed() needs at least one sentence.")
        if self._worker is None:
            raise RuntimeError("MicroBatcher.start() was not awaited.")
        loop = asyncio.get_running_loop()
        now = loop.time()
        futures = []
        for start in range(0, len(sentences), self.max_batch_size):
            part = sentences[start : start + self.max_batch_size]
            future = loop.create_future()
            self._pending.append((part, future, now))
            self._pending_sentences += len(part)
            futures.append(future)
        self._wakeup.set()
        parts = await asyncio.gather(*futures)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    async def _run(self):
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            deadline = self._pending[0][2] + self.max_wait
            while self._pending_sentences < self.max_batch_size:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
                except asyncio.TimeoutError:  # noqa: UP041 (on Python 3.10 not the builtin TimeoutError)
                    break
            batch = self._take()
            if not batch:
                continue  # every taken part's client went away
            sentences = [s for part, _ in batch for s in part]
            start = time.perf_counter()
            try:
                embeddings = await loop.run_in_executor(self._executor, self._call, sentences)
            except Exception as e:  # noqa: BLE001 (the model failed: every request of the batch gets the error)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                continue
            if self._on_batch is not None:
                self._on_batch(len(sentences), len(batch), time.perf_counter() - start)
            offset = 0
            for part, future in batch:
                if not future.done():
                    future.set_result(embeddings[offset : offset + len(part)])
                offset += len(part)

    def _take(self):
        """Pops the oldest parts that fit into one call; drops those whose request was cancelled."""
        batch, size = [], 0
        while self._pending and size + len(self._pending[0][0]) <= self.max_batch_size:
            part, future, _ = self._pending.popleft()
            self._pending_sentences -= len(part)
            if not future.cancelled():
                batch.append((part, future))
                size += len(part)
        return batch

    def _call(self, sentences):
        embeddings = np.asarray(self._embed(sentences), dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[0] != len(sentences):
            raise RuntimeError(
                f"the model returned shape {embeddings.shape} for {len(sentences)} sentences (expected [n, dim])."
            )
        return embeddings
