"""The answering worker: decisions off the event loop, concurrent messages batched."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from bot.core.decision import Action, Decision
from bot.core.worker import AnsweringWorker
from bot.service import Loaded


class RecordingAnswerer:
    """Wraps the real answerer and records the batches it is given and on which thread."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.batches: list[int] = []
        self.threads: set[str] = set()

    def decide_batch(self, messages: Sequence[tuple[str, str | None]]) -> list[Decision]:
        self.batches.append(len(messages))
        self.threads.add(threading.current_thread().name)
        return self.real.decide_batch(messages)  # type: ignore[attr-defined, no-any-return]


async def test_concurrent_messages_share_model_passes(loaded: Loaded) -> None:
    recorder = RecordingAnswerer(loaded.answerer)
    worker = AnsweringWorker(recorder)  # type: ignore[arg-type]
    texts = ["ktp hilang gimana", "halo", "kapan jadwal vaksin booster"] * 20
    decisions = await asyncio.gather(*(worker.decide(t, None) for t in texts))
    worker.close()
    assert [d.text for d in decisions] == texts
    assert decisions[0].faq_id == "ktp-hilang" and decisions[1].action is Action.SMALLTALK
    assert sum(recorder.batches) == 60
    assert len(recorder.batches) < 60  # batched, not one pass per message
    assert max(recorder.batches) <= 64
    assert len(recorder.threads) == 1 and threading.current_thread().name not in recorder.threads


async def test_a_failing_batch_fails_its_callers_only(loaded: Loaded) -> None:
    class Broken:
        calls = 0

        def decide_batch(self, messages: Sequence[tuple[str, str | None]]) -> list[Decision]:
            Broken.calls += 1
            if Broken.calls == 1:
                raise RuntimeError("model exploded")
            return loaded.answerer.decide_batch(messages)

    worker = AnsweringWorker(Broken())  # type: ignore[arg-type]
    first = await asyncio.gather(worker.decide("halo", None), return_exceptions=True)
    assert isinstance(first[0], RuntimeError)
    second = await worker.decide("halo", None)
    assert second.action is Action.SMALLTALK
    worker.close()
