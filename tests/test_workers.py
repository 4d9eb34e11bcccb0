"""Several bot workers on one database: each holds its own Store (its own connection or
pool, as separate processes would), and no work is done twice or lost. Every test runs on
SQLite and on PostgreSQL (the ``store_url`` fixture)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from bot.config import DeskSettings
from bot.core.broadcasting import Broadcaster
from bot.core.conversation import Conversation
from bot.core.decision import Action, Decision
from bot.core.dispatch import Dispatcher
from bot.core.messages import (
    Delivery,
    DeliveryState,
    Incoming,
    Kind,
    Outgoing,
    Reply,
    replies_from_json,
    replies_to_json,
)
from bot.core.model_sync import ModelSync, record_model
from bot.core.replies import Replies
from bot.desk.auth import Auth, TooManyAttempts, hash_password
from bot.faq.loader import load_faq
from bot.store import Citizen, Store
from bot.store.clock import iso, now_iso
from bot.store.liveness import Heartbeat
from bot.store.outbox import OutboxItem, OutboxState
from tests.conftest import ROOT

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
            who, mid, text = f"p{n % 7}", f"mid.{n}", f"pertanyaan {n}"
            known = store.save_incoming_if_known("messenger", who, mid, "text", text)
            if known is None:  # a newcomer
                citizen = store.citizen("messenger", who)
                saved = store.save_incoming(citizen.id, mid, "text", text)
            else:
                citizen, saved = known
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


class Courier:
    """A channel shared by every worker's dispatcher: what reached the platform, in the
    order it arrived, and by which worker. ``hang`` makes sends never return (a worker
    that dies in the middle of a send)."""

    reply_window: timedelta | None = None

    def __init__(self, sent: list[tuple[str, str, str]], worker: str, hang: bool = False):
        self.sent = sent
        self.worker = worker
        self.hang = hang
        self.calls = 0

    async def send(
        self, citizen: str, replies: list[Reply], skip: int = 0, **_: object
    ) -> Delivery:
        self.calls += 1
        if self.hang:
            await asyncio.Event().wait()
        await asyncio.sleep(0.001)  # the platform's round trip: other tasks run meanwhile
        for reply in replies[skip:]:
            self.sent.append((citizen, reply.text, self.worker))
        return Delivery(DeliveryState.SENT, parts=len(replies) - skip)

    async def deliver_official(
        self,
        citizen: str,
        replies: list[Reply],
        last_inbound: object,
        skip: int = 0,
        **_: object,
    ) -> Delivery:
        return await self.send(citizen, replies, skip)


def queue_replies(store: Store, citizens: int, each: int) -> dict[str, list[str]]:
    """``each`` replies queued for each of ``citizens`` citizens, interleaved as a busy
    bot queues them; what each citizen must receive, in order."""
    expected: dict[str, list[str]] = {}
    for n in range(each):
        for c in range(citizens):
            citizen = store.citizen("test", f"c{c}")
            saved = store.save_incoming(citizen.id, f"m{c}.{n}", "text", "tanya")
            text = f"jawaban {n} untuk c{c}"
            store.queue_reply(saved.id, citizen.id, text, None, replies_to_json([Reply(text)]))
            expected.setdefault(f"c{c}", []).append(text)
    return expected


def received(sent: list[tuple[str, str, str]]) -> dict[str, list[str]]:
    by_citizen: dict[str, list[str]] = {}
    for citizen, text, _ in sent:
        by_citizen.setdefault(citizen, []).append(text)
    return by_citizen


def test_two_workers_drain_one_outbox_each_reply_once_in_order(store_url: str) -> None:
    Store.open(store_url).close()
    total, citizens = 500, 25
    sent: list[tuple[str, str, str]] = []

    def work(store: Store, worker: int) -> int:
        """A load balancer spreads the citizens' messages over both workers: each stores
        and answers its share, and its dispatcher sends what it can claim."""

        async def serve() -> int:
            courier = Courier(sent, f"w{worker}")
            dispatcher = Dispatcher(store, {"test": courier}, sweep_every=0.1, alone=False)
            dispatcher.start()
            for n in range(worker, total, 2):
                citizen = store.citizen("test", f"c{n % citizens}")
                saved = store.save_incoming(citizen.id, f"m{n}", "text", "tanya")
                text = f"jawaban {n}"
                replies = replies_to_json([Reply(text)])
                item = store.queue_reply(saved.id, citizen.id, text, None, replies)
                dispatcher.submit(item, citizen.id)
                await asyncio.sleep(0)
            deadline = time.monotonic() + 60
            while len(sent) < total and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # a duplicate on its way would arrive now
            await dispatcher.stop()
            return courier.calls

        return asyncio.run(serve())

    calls = race(store_url, 2, work)
    store = Store.open(store_url)
    queued: dict[str, list[str]] = {}  # each citizen's replies in the outbox's order
    for platform_id, replies in store.db.execute(
        "SELECT c.platform_id, o.replies FROM outbox o JOIN citizens c ON c.id = o.citizen_id "
        "ORDER BY o.id"
    ):
        queued.setdefault(platform_id, []).extend(r.text for r in replies_from_json(replies))
    assert sum(len(texts) for texts in queued.values()) == total
    assert received(sent) == queued  # each once, in order per citizen
    assert sum(calls) == total and min(calls) > 0  # both workers sent
    assert store.outbox.counts()["sent"] == total


async def test_a_worker_that_dies_mid_send_leaves_its_messages_to_another_after_the_lease(
    store_url: str,
) -> None:
    lease = 1.5
    first, second = Store.open(store_url), Store.open(store_url)
    expected = queue_replies(first, citizens=4, each=3)
    sent: list[tuple[str, str, str]] = []
    dying = Courier(sent, "dying", hang=True)
    a = Dispatcher(first, {"test": dying}, lease=lease, sweep_every=0.1)
    started = time.monotonic()  # a's claims are taken after this
    a.start()
    await until(lambda: dying.calls == 4)  # one claimed message per citizen, on its way
    await a.stop(timeout=0)  # the worker dies: its claims stay in the database
    heir = Courier(sent, "heir")
    b = Dispatcher(second, {"test": heir}, lease=lease, sweep_every=0.1)
    b.start()
    if second.single_process:
        # SQLite serves one process: b is a restarted a, and sends what a left at once.
        await until(lambda: len(sent) == 12, timeout=20)
        assert time.monotonic() - started < lease
    else:
        await asyncio.sleep(lease * 0.6)
        assert sent == []  # the dead worker's claims still hold: nothing sent twice meanwhile
        await until(lambda: len(sent) > 0, timeout=20)
        assert time.monotonic() - started >= lease  # not before a's claims lapsed
        await until(lambda: len(sent) == 12, timeout=20)
    await b.stop()
    assert received(sent) == expected  # in order per citizen, each once
    assert {worker for _, _, worker in sent} == {"heir"}
    assert second.outbox.counts()["sent"] == 12


# Liveness (bot.store.liveness) in a test's time: beats every 0.3 s, dead after 1.5 s of
# silence; the outbox lease stays the bot's (60 s), so what is taken over within seconds
# was taken because its worker died, not because a lease ran out.
BEAT, SILENT = 0.3, 1.5


async def dying_worker(
    store_url: str, sent: list[tuple[str, str, str]]
) -> tuple[Store, Store, Heartbeat, Dispatcher]:
    """Worker "a" beating and sending a reply to each of 4 citizens, every send hanging
    (3 queued each); and the store of a second worker "b" on the same database."""
    first = Store.open(store_url, silent_after=SILENT)
    second = Store.open(store_url, silent_after=SILENT)
    queue_replies(first, citizens=4, each=3)
    beat = first.heartbeat("a", every=BEAT)
    await asyncio.to_thread(beat.start)
    hanging = Courier(sent, "a", hang=True)
    a = Dispatcher(first, {"test": hanging}, worker="a", sweep_every=0.1, alone=False)
    a.start()
    await until(lambda: hanging.calls == 4)  # one claimed message per citizen, on its way
    return first, second, beat, a


async def test_a_worker_that_stops_beating_leaves_its_messages_to_another_within_seconds(
    store_url: str,
) -> None:
    sent: list[tuple[str, str, str]] = []
    first, second, beat, a = await dying_worker(store_url, sent)
    expected = queue_order(first)
    await a.stop(timeout=0)  # the worker dies (SIGKILL): its claims stay in the database
    await asyncio.to_thread(beat.halt)  # and its heartbeat stops, without a goodbye
    died = time.monotonic()
    b = Dispatcher(second, {"test": Courier(sent, "b")}, worker="b", sweep_every=0.1, alone=False)
    b.start()
    try:
        await until(lambda: len(sent) > 0, timeout=30)
        took = time.monotonic() - died
        assert SILENT - BEAT - 0.1 <= took < 10  # once silent long enough, far from the lease
        await until(lambda: len(sent) == 12, timeout=20)
    finally:
        await b.stop()
    assert received(sent) == expected  # in order per citizen, each once
    assert {worker for _, _, worker in sent} == {"b"}
    assert second.outbox.counts()["sent"] == 12


async def test_a_live_slow_workers_messages_are_not_taken(store_url: str) -> None:
    sent: list[tuple[str, str, str]] = []
    _, second, beat, a = await dying_worker(store_url, sent)
    b = Dispatcher(second, {"test": Courier(sent, "b")}, worker="b", sweep_every=0.1, alone=False)
    b.start()
    try:
        await asyncio.sleep(SILENT * 2.5)  # "a" is slow (its sends hang) but it beats on
        assert sent == []
        assert second.workers.presumed_alive("a")
        holders = {
            r[0]
            for r in second.db.execute("SELECT claimed_by FROM outbox WHERE claimed_by IS NOT NULL")
        }
        assert holders == {"a"}
    finally:
        await b.stop()
        await a.stop(timeout=0)
        await asyncio.to_thread(beat.stop)


async def test_a_worker_that_said_goodbye_leaves_its_messages_at_once(store_url: str) -> None:
    sent: list[tuple[str, str, str]] = []
    _, second, beat, a = await dying_worker(store_url, sent)
    await a.stop(timeout=0)  # a clean stop whose sends did not finish in time
    await asyncio.to_thread(beat.stop)  # goodbye
    stopped = time.monotonic()
    b = Dispatcher(second, {"test": Courier(sent, "b")}, worker="b", sweep_every=0.1, alone=False)
    b.start()
    try:
        await until(lambda: len(sent) == 12, timeout=20)
        assert time.monotonic() - stopped < SILENT  # before it could have fallen silent
    finally:
        await b.stop()
    assert not second.workers.presumed_alive("a")


class PartCourier:
    """Sends a reply's parts one by one and tells ``progress`` of each but the last, as the
    channels do; with ``hang_after``, the send hangs after that many parts (the worker
    dies while it waits to send the next)."""

    reply_window: timedelta | None = None

    def __init__(
        self, sent: list[tuple[str, str, str]], worker: str, hang_after: int | None = None
    ) -> None:
        self.sent, self.worker, self.hang_after = sent, worker, hang_after

    async def send(
        self,
        citizen: str,
        replies: list[Reply],
        skip: int = 0,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> Delivery:
        parts = replies[skip:]
        for done, reply in enumerate(parts, start=1):
            if self.hang_after is not None and done > self.hang_after:
                await asyncio.Event().wait()
            await asyncio.sleep(0.001)
            self.sent.append((citizen, reply.text, self.worker))
            if progress is not None and done < len(parts):
                progress(done)
        return Delivery(DeliveryState.SENT, parts=len(parts))

    async def deliver_official(
        self, citizen: str, replies: list[Reply], last_inbound: object, skip: int = 0
    ) -> Delivery:
        return await self.send(citizen, replies, skip)


async def test_a_worker_dying_between_the_parts_of_a_reply_leaves_only_the_rest(
    store_url: str,
) -> None:
    first = Store.open(store_url, silent_after=SILENT)
    second = Store.open(store_url, silent_after=SILENT)
    citizen = first.citizen("test", "c0")
    saved = first.save_incoming(citizen.id, "m0", "text", "tanya")
    parts = [Reply(f"bagian {n}") for n in (1, 2, 3)]
    first.queue_reply(saved.id, citizen.id, "bagian 1-3", None, replies_to_json(parts))
    beat = first.heartbeat("a", every=BEAT)
    await asyncio.to_thread(beat.start)
    sent: list[tuple[str, str, str]] = []
    a = Dispatcher(first, {"test": PartCourier(sent, "a", hang_after=1)}, worker="a", alone=False)
    a.start()
    await until(lambda: len(sent) == 1)  # part 1 confirmed; "a" dies before part 2
    await a.stop(timeout=0)
    await asyncio.to_thread(beat.halt)
    b = Dispatcher(
        second, {"test": PartCourier(sent, "b")}, worker="b", sweep_every=0.1, alone=False
    )
    b.start()
    try:
        await until(lambda: len(sent) >= 3, timeout=20)
        await asyncio.sleep(0.3)  # a part sent again would arrive now
    finally:
        await b.stop()
    assert sent == [("c0", "bagian 1", "a"), ("c0", "bagian 2", "b"), ("c0", "bagian 3", "b")]


def queue_order(store: Store) -> dict[str, list[str]]:
    """Each citizen's replies in the outbox's order: what they must receive."""
    queued: dict[str, list[str]] = {}
    for platform_id, replies in store.db.execute(
        "SELECT c.platform_id, o.replies FROM outbox o JOIN citizens c ON c.id = o.citizen_id "
        "ORDER BY o.id"
    ):
        queued.setdefault(platform_id, []).extend(r.text for r in replies_from_json(replies))
    return queued


def test_a_dead_broadcasters_recipients_go_to_another_at_once(store_url: str) -> None:
    store = Store.open(store_url, silent_after=SILENT)
    number = announcement(store, 6)
    store.broadcasts.start(number)
    t0, later = now_iso(), "2999-01-01T00:00:00.000+00:00"  # leases that never lapse here
    store.workers.beat("leaving")
    store.workers.beat("silent")
    store.workers.beat("alive")
    leaving = store.broadcasts.claim(number, "telegram", "leaving", 2, t0, later)
    silent = store.broadcasts.claim(number, "telegram", "silent", 2, t0, later)
    assert len(leaving) == len(silent) == 2
    assert len(store.broadcasts.claim(number, "telegram", "alive", 10, t0, later)) == 2
    assert store.broadcasts.claim(number, "telegram", "alive", 10, now_iso(), later) == []
    store.workers.goodbye("leaving")  # a clean stop: its claims are free at once
    taken = store.broadcasts.claim(number, "telegram", "alive", 10, now_iso(), later)
    assert sorted(r.delivery_id for r in taken) == sorted(r.delivery_id for r in leaving)
    time.sleep(SILENT + 0.2)  # "silent" stops beating ("alive" beats on)
    store.workers.beat("alive")
    taken = store.broadcasts.claim(number, "telegram", "alive", 10, now_iso(), later)
    assert sorted(r.delivery_id for r in taken) == sorted(r.delivery_id for r in silent)
    assert not store.broadcasts.still_mine(silent[0].delivery_id, "silent", later)


async def test_a_dead_workers_unanswered_messages_are_answered_at_once(store_url: str) -> None:
    store = Store.open(store_url, silent_after=SILENT)
    citizen = store.citizen("test", "c1")
    store.workers.beat("gone")
    left = store.save_incoming(citizen.id, "a", Kind.STICKER.value, "", received_by="gone")
    store.workers.goodbye("gone")
    beat = store.heartbeat("live", every=BEAT)
    await asyncio.to_thread(beat.start)
    held = store.save_incoming(citizen.id, "b", Kind.STICKER.value, "", received_by="live")
    other = sticker_conversation(Store.open(store_url, silent_after=SILENT))
    survivor = asyncio.create_task(other.answer_left_behind("other", every=0.1))
    try:
        await until(lambda: [row.id for row in store.unanswered()] == [held.id], timeout=5)
        await asyncio.sleep(SILENT * 2)  # the live worker's message stays its own
        assert [row.id for row in store.unanswered()] == [held.id]
        assert left.id not in [row.id for row in store.unanswered()]
    finally:
        survivor.cancel()
        await asyncio.gather(survivor, return_exceptions=True)
        await asyncio.to_thread(beat.stop)


def two_replies_queued(store_url: str) -> tuple[Store, Citizen, OutboxItem]:
    """A store with one citizen's two replies queued, and the first of them."""
    store = Store.open(store_url)
    queue_replies(store, citizens=1, each=2)
    citizen = store.citizen("test", "c0")
    first = store.outbox.next_for(citizen.id)
    assert first is not None
    return store, citizen, first


def test_only_the_claimant_reschedules_and_a_citizens_later_message_waits(
    store_url: str,
) -> None:
    store, _, first = two_replies_queued(store_url)
    later = first.id + 1
    t0, t1, t2, t3 = (f"2030-01-01T00:00:0{s}.000+00:00" for s in range(4))
    assert store.outbox.claim(later, "a", t0, t2) is None  # the first is unfinished
    assert store.outbox.claim(first.id, "a", t0, t2) is not None
    assert store.outbox.claim(first.id, "b", t1, t3) is None  # a's lease holds
    taken = store.outbox.claim(first.id, "b", t3, "2030-01-01T00:01:00.000+00:00")
    assert taken is not None and taken.claimed_by == "b"  # a's lease lapsed
    # a comes back late: its failure no longer counts; b's confirmation does, once.
    assert not store.outbox.retry_later(first.id, t3, "timeout", 0, worker="a")
    assert store.outbox.finish(first.id, OutboxState.SENT, "", 1)
    assert not store.outbox.finish(first.id, OutboxState.SENT, "", 1)
    assert store.outbox.claim(later, "a", t3, "2030-01-01T00:01:00.000+00:00") is not None


def test_a_citizens_next_message_is_claimed_in_one_go_only_when_it_can_go_out(
    store_url: str,
) -> None:
    store, citizen, first = two_replies_queued(store_url)
    t0, t1, t2 = (f"2030-01-01T00:00:0{s}.000+00:00" for s in range(3))
    before_queued = "2000-01-01T00:00:00.000+00:00"
    claim_next = store.outbox.claim_next
    # Not due yet, or its channel off: nothing claimed, but something is queued.
    assert claim_next(citizen.id, "a", before_queued, t2, ["test"]) == (None, True)
    assert claim_next(citizen.id, "a", t0, t2, ["telegram"]) == (None, True)
    claimed, queued = claim_next(citizen.id, "a", t0, t2, ["test"])
    assert queued and claimed is not None
    assert (claimed.id, claimed.claimed_by, claimed.channel) == (first.id, "a", "test")
    # b gets neither a's message (its claim holds) nor the later one (order per citizen).
    assert claim_next(citizen.id, "b", t1, t2, ["test"]) == (None, True)
    assert store.outbox.finish(first.id, OutboxState.SENT, "", 1)
    claimed, _ = claim_next(citizen.id, "b", t1, t2, ["test"])
    assert claimed is not None and claimed.id > first.id and claimed.claimed_by == "b"
    assert store.outbox.finish(claimed.id, OutboxState.SENT, "", 1)
    assert claim_next(citizen.id, "b", t1, t2, ["test"]) == (None, False)
    # Past its platform's window: left to the reader, who gives it up.
    saved = store.save_incoming(citizen.id, "m0.late", "text", "tanya")
    store.queue_reply(saved.id, citizen.id, "telat", None, "[]", give_up_at=t0)
    assert claim_next(citizen.id, "b", t1, t2, ["test"]) == (None, True)


async def until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


class Platform:
    """A broadcast channel shared by every worker: when each message reached it, and for
    whom; ``broadcast_rate`` is the channel's configured limit."""

    def __init__(self, rate: float, arrivals: list[tuple[float, str]]) -> None:
        self.broadcast_rate: float | None = rate
        self.arrivals = arrivals

    async def broadcast(self, citizen: str, item: Outgoing, last_inbound: object) -> Delivery:
        self.arrivals.append((time.monotonic(), citizen))
        await asyncio.sleep(0.005)
        return Delivery(DeliveryState.SENT)


def announcement(store: Store, audience: int) -> int:
    """An announcement due now to ``audience`` Telegram subscribers t0, t1, ..."""
    for n in range(audience):
        citizen = store.citizen("telegram", f"t{n}")
        store.subscriptions.subscribe(citizen.id, "pengumuman")
    return store.broadcasts.create(
        kind="announcement",
        text="Jalan Merdeka ditutup Minggu pagi.",
        topics=["pengumuman"],
        channels=["telegram"],
        send_at=now_iso(),
        created_by=None,
    )


def busiest_second(moments: list[float]) -> int:
    """The most messages that arrived within any one second."""
    moments = sorted(moments)
    most, start = 0, 0
    for end, moment in enumerate(moments):
        while moment - moments[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_three_workers_share_a_broadcast_each_recipient_once_within_the_rate(
    store_url: str,
) -> None:
    audience, rate = 2000, 200.0  # a rate a test can wait for; Telegram's is 30
    store = Store.open(store_url)
    number = announcement(store, audience)
    store.close()
    arrivals: list[tuple[float, str]] = []

    def work(store: Store, worker: int) -> int:
        async def broadcast() -> int:
            platform = Platform(rate, arrivals)
            broadcaster = Broadcaster(store, {"telegram": platform}, alone=False)
            running = asyncio.get_running_loop().create_task(broadcaster.run())
            deadline = time.monotonic() + 90
            while store.broadcasts.status_of(number) != "sent":
                assert time.monotonic() < deadline, "the broadcast did not finish"
                await asyncio.sleep(0.1)
            await broadcaster.stop()
            await asyncio.wait_for(running, 10)
            return sum(1 for _ in platform.arrivals)

        return asyncio.run(broadcast())

    race(store_url, 3, work)
    store = Store.open(store_url)
    assert Counter(citizen for _, citizen in arrivals) == {f"t{n}": 1 for n in range(audience)}
    assert store.broadcasts.progress(number)["sent"] == audience
    busiest = busiest_second([moment for moment, _ in arrivals])
    assert busiest <= rate * 1.05, busiest  # the three together, not three times the rate
    took = max(m for m, _ in arrivals) - min(m for m, _ in arrivals)
    assert took >= (audience - 1) / rate * 0.95


def test_a_dead_broadcasters_recipients_go_to_another_after_the_lease(store_url: str) -> None:
    store = Store.open(store_url)
    number = announcement(store, 5)
    store.broadcasts.start(number)
    t0, t1, t2 = (f"2030-01-01T00:00:0{s}.000+00:00" for s in range(3))
    later = "2030-01-01T00:01:00.000+00:00"
    dead = store.broadcasts.claim(number, "telegram", "dead", 3, t0, t1)
    assert len(dead) == 3
    alive = store.broadcasts.claim(number, "telegram", "alive", 10, t0, later)
    assert {r.delivery_id for r in alive}.isdisjoint(r.delivery_id for r in dead)
    assert len(alive) == 2  # the dead worker's claims still hold
    taken = store.broadcasts.claim(number, "telegram", "alive", 10, t2, later)
    assert sorted(r.delivery_id for r in taken) == sorted(r.delivery_id for r in dead)
    # The dead worker was only slow: its claim is gone, so it does not send them too.
    assert not any(store.broadcasts.still_mine(r.delivery_id, "dead", later) for r in dead)
    assert store.broadcasts.still_mine(taken[0].delivery_id, "alive", later)


def test_a_once_a_period_job_is_taken_by_one_worker_of_several(store_url: str) -> None:
    Store.open(store_url).close()
    taken = race(store_url, 4, lambda store, n: store.jobs.take_every("purge", f"w{n}", 3600))
    assert sorted(taken) == [False, False, False, True]


async def test_two_workers_purge_once_a_day_between_them(store_url: str) -> None:
    stores = [Store.open(store_url) for _ in range(2)]
    tasks = [
        asyncio.create_task(store.retention.purge_daily(365, worker=f"w{n}"))
        for n, store in enumerate(stores)
    ]
    try:
        await asyncio.sleep(0.5)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    runs = [r for r in stores[0].officials.audit_log() if r.action == "retention-purge"]
    assert len(runs) == 1


def sticker_conversation(store: Store) -> Conversation:
    """A worker's conversation without a model: stickers are answered without one."""
    replies = Replies.load(ROOT / "rasa_project" / "domain.yml")
    faq, _ = load_faq(ROOT / "tests" / "fixtures" / "faq_small")

    async def no_model(text: str, language: str | None) -> Decision:
        raise AssertionError("a sticker needs no decision")

    dispatcher = Dispatcher(store, {})  # the replies stay queued, to be counted
    return Conversation(store, no_model, replies, faq, dispatcher=dispatcher)


async def test_a_worker_answers_what_a_dead_one_left_not_what_a_live_one_holds(
    store_url: str,
) -> None:
    store = Store.open(store_url)
    citizen = store.citizen("test", "c1")
    left = store.save_incoming(citizen.id, "old", Kind.STICKER.value, "")
    with store.db.atomic():  # stored two minutes ago by a worker that then died
        store.db.execute(
            "UPDATE messages SET created_at = ? WHERE id = ?",
            [iso(datetime.now(UTC) - timedelta(minutes=2)), left.id],
        )
    fresh = store.save_incoming(citizen.id, "new", Kind.STICKER.value, "")  # a live one's
    other = sticker_conversation(Store.open(store_url))
    survivor = asyncio.create_task(other.answer_left_behind(every=0.1))
    try:
        await until(lambda: store.unanswered() != [] and store.unanswered()[0].id == fresh.id)
        await asyncio.sleep(0.3)  # later passes leave the young message alone too
        assert [row.id for row in store.unanswered()] == [fresh.id]
    finally:
        survivor.cancel()
        await asyncio.gather(survivor, return_exceptions=True)


def test_messages_a_dead_worker_left_are_answered_once_by_the_others(store_url: str) -> None:
    store = Store.open(store_url)
    citizen = store.citizen("test", "c1")
    for n in range(10):  # stored by a worker that died before answering
        store.save_incoming(citizen.id, f"s{n}", Kind.STICKER.value, "")
    store.close()

    def answer_left(store: Store, worker: int) -> int:
        return asyncio.run(sticker_conversation(store).answer_pending(now_iso()))

    answered = race(store_url, 2, answer_left)  # two passes at once, on every message
    store = Store.open(store_url)
    assert sum(answered) == 10  # between them, each message once
    assert store.outbox.counts()["queued"] == 10
    assert store.unanswered() == []


async def test_a_web_chat_message_answered_meanwhile_by_another_worker_gets_one_reply(
    store_url: str,
) -> None:
    """The web chat answers in the request: a slow answer there, while another worker's
    pass answered the same message (e.g. this worker was taken for dead), keeps the
    first reply only, and the page shows none of its own (the other reply is the
    citizen's, on the page's next look)."""
    store = Store.open(store_url)
    replies = Replies.load(ROOT / "rasa_project" / "domain.yml")
    faq, _ = load_faq(ROOT / "tests" / "fixtures" / "faq_small")
    deciding, go_on = asyncio.Event(), asyncio.Event()

    async def slow(text: str, language: str | None) -> Decision:
        deciding.set()
        await go_on.wait()
        return Decision(text, Action.SMALLTALK, "id", "Halo juga!")

    async def quick(text: str, language: str | None) -> Decision:
        return Decision(text, Action.SMALLTALK, "id", "Halo!")

    webchat = Conversation(store, slow, replies, faq, worker="web")
    other = Conversation(
        Store.open(store_url), quick, replies, faq, dispatcher=Dispatcher(store, {}), worker="b"
    )
    handling = asyncio.create_task(webchat.handle(Incoming("webchat", "s1", text="halo")))
    await deciding.wait()
    later = iso(datetime.now(UTC) + timedelta(seconds=1))  # whatever this clock's resolution
    assert await other.answer_pending(later) == 1  # the other worker answered it
    go_on.set()
    assert await handling == []  # nothing shown twice
    out = store.db.execute("SELECT text FROM messages WHERE direction = 'out'").fetchall()
    assert out == [("Halo!",)]


async def test_sign_in_limits_hold_across_two_workers(store_url: str) -> None:
    """Failed sign-ins are counted in the database: an attacker spreading guesses over
    the workers behind a load balancer gets no more tries than against one."""
    first, second = Store.open(store_url), Store.open(store_url)
    password = "kunci-rahasia-panjang-sekali"
    first.officials.add("siti", "agent", hash_password(password))
    settings = DeskSettings(max_login_failures=3, max_address_login_failures=5)
    workers = [Auth(settings, store.officials) for store in (first, second)]
    for n in range(3):  # the guesses alternate between the workers
        assert await workers[n % 2].sign_in("siti", f"tebakan {n}", "203.0.113.7") is None
    for auth in workers:  # ... and both refuse the next, even with the right password
        with pytest.raises(TooManyAttempts):
            await auth.sign_in("siti", password, "203.0.113.7")
    # Siti herself, from her office, signs in on either worker.
    assert await workers[1].sign_in("siti", password, "198.51.100.2") is not None
    # The address's budget over all names holds across workers too (unknown names are
    # counted per worker, under a key that lives only in memory; the budget is shared).
    for n in range(2):
        assert await workers[n % 2].sign_in(f"admin{n}", "x", "203.0.113.7") is None
    for auth in workers:
        with pytest.raises(TooManyAttempts):
            await auth.sign_in("budi", "x", "203.0.113.7")


async def test_a_model_trained_on_one_worker_is_loaded_by_every_other(
    store_url: str, tmp_path: Path
) -> None:
    model = tmp_path / "tanya.tar.gz"  # the model folder the workers share
    model.write_bytes(b"model 1")
    loads: dict[str, int] = {"trainer": 0, "other": 0, "elsewhere": 0}

    def counting(name: str) -> Callable[[], Awaitable[None]]:
        async def install() -> None:
            loads[name] += 1

        return install

    trainer = ModelSync(Store.open(store_url).models, model, counting("trainer"), every=0.05)
    other = ModelSync(Store.open(store_url).models, model, counting("other"), every=0.05)
    # A worker on a machine that does not see the same file.
    elsewhere_file = tmp_path / "elsewhere.tar.gz"
    elsewhere_file.write_bytes(b"model 1")
    elsewhere = ModelSync(
        Store.open(store_url).models, elsewhere_file, counting("elsewhere"), every=0.05
    )
    for sync in (trainer, other, elsewhere):
        sync.started()
    following = [asyncio.create_task(s.follow()) for s in (trainer, other, elsewhere)]
    try:
        await asyncio.sleep(0.2)
        assert loads == {"trainer": 0, "other": 0, "elsewhere": 0}  # nothing new yet
        model.write_bytes(b"model 2")  # the trainer retrained and loaded it, and says so
        written = time.monotonic()
        await trainer.announce()
        await until(lambda: loads["other"] == 1, timeout=10)
        assert time.monotonic() - written < 2
        await asyncio.sleep(0.3)
        # The trainer does not load its own model twice; the worker whose file differs
        # keeps answering with its model rather than load something else.
        assert loads == {"trainer": 0, "other": 1, "elsewhere": 0}
        elsewhere_file.write_bytes(b"model 2")  # the file arrives there too
        await until(lambda: loads["elsewhere"] == 1, timeout=10)
        # `tanya train` records a model it wrote the same way.
        model.write_bytes(b"model 3")
        record_model(Store.open(store_url).models, model, "tanya train")
        await until(lambda: loads["trainer"] == 1 and loads["other"] == 2, timeout=10)
    finally:
        for task in following:
            task.cancel()
        await asyncio.gather(*following, return_exceptions=True)
