"""Decisions off the event loop, on one thread, in batches.

Rasa's parse is blocking CPU work that must not run on the event loop, and its first
prediction builds mutable TensorFlow state, so every parse runs on one dedicated thread.
Messages that arrive while that thread is busy are collected and classified together:
the model handles a batch in one pass, several times faster per message than one by one,
so under load throughput rises instead of the queue growing. An idle bot answers a lone
message at once; the batch window only applies while messages are queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from bot.core.answerer import Answerer
from bot.core.decision import Decision

log = logging.getLogger(__name__)

# Large batches spread each pass's fixed cost (the graph run, the sparse matrices) over
# more messages: 64 gave ~220 answered/s in bench/load.py's closed loop, 256 ~245.
MAX_BATCH = 256

_Job = tuple[str, str | None, "asyncio.Future[Decision]"]
T = TypeVar("T")


class AnsweringWorker:
    def __init__(self, answerer: Answerer, max_batch: int = MAX_BATCH) -> None:
        self.answerer = answerer
        self.max_batch = max_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tanya-nlu")
        self._queue: asyncio.Queue[_Job] | None = None
        self._consumer: asyncio.Task[None] | None = None

    async def decide(self, text: str, language: str | None) -> Decision:
        """The decision for one message; concurrent callers share model passes."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._consumer = asyncio.get_running_loop().create_task(self._consume())
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        await self._queue.put((text, language, future))
        return await future

    async def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the model's thread, between batches (e.g. loading a new model:
        messages arriving meanwhile wait in the queue, none is dropped)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def _consume(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self._queue.get()]
            while len(jobs) < self.max_batch and not self._queue.empty():
                jobs.append(self._queue.get_nowait())
            messages = [(text, language) for text, language, _ in jobs]
            try:
                decisions = await loop.run_in_executor(
                    self._executor, self.answerer.decide_batch, messages
                )
            except Exception as exc:  # a broken batch fails its callers, not the worker
                log.exception("deciding a batch of %d message(s) failed", len(jobs))
                for _, _, future in jobs:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), decision in zip(jobs, decisions, strict=True):
                if not future.done():
                    future.set_result(decision)

    async def stop(self) -> None:
        """Stop taking work. aiohttp waits for running tasks before it shuts down, so the
        consumer, which never ends by itself, is stopped in the app's on_shutdown."""
        if self._consumer is not None:
            self._consumer.cancel()
            await asyncio.gather(self._consumer, return_exceptions=True)
            self._consumer = None
            self._queue = None

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.cancel()
        self._executor.shutdown(wait=True)
