"""Several bot workers on one database: each holds its own Store (its own connection or
pool, as separate processes would), and no work is done twice or lost. Every test runs on
SQLite and on PostgreSQL (the ``store_url`` fixture)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from bot.store import Store

T = TypeVar("T")


def race(store_url: str, workers: int, work: Callable[[Store, int], T]) -> list[T]:
    """Run ``work(store, worker)`` in ``workers`` threads at once, each on its own Store
    opened in its thread, all released together by a barrier; their results in order."""
    barrier = threading.Barrier(workers)
    results: list[T | None] = [None] * workers
    errors: list[BaseException] = []

    def run(index: int) -> None:
        store = Store.open(store_url)
        try:
            barrier.wait(timeout=30)
            results[index] = work(store, index)
        except BaseException as exc:  # reported in the test's own thread
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return [r for r in results if r is not None]


def test_a_webhook_delivered_to_two_workers_at_once_is_answered_once(store_url: str) -> None:
    Store.open(store_url).close()  # migrated before the race
    messages = 40

    def deliver(store: Store, worker: int) -> list[int]:
        """Every message reaches this worker too; it answers those it stored first (as
        ``Conversation.accept`` does: a message that is not new gets no answer)."""
        answered = []
        for n in range(messages):
            citizen = store.citizen("messenger", f"p{n % 7}")
            saved = store.save_incoming(citizen.id, f"mid.{n}", "text", f"pertanyaan {n}")
            if saved.is_new:
                store.queue_reply(saved.id, citizen.id, f"jawaban {n}", None, "[]")
                answered.append(n)
        return answered

    first, second = race(store_url, 2, deliver)
    assert sorted(first + second) == list(range(messages))  # each once, by one worker
    store = Store.open(store_url)
    assert store.outbox.counts()["queued"] == messages
    incoming = store.db.execute("SELECT count(*) FROM messages WHERE direction = 'in'")
    assert incoming.fetchone()[0] == messages
    assert store.unanswered() == []
