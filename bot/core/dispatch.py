"""Sending what the outbox holds, until each platform confirms it.

Each citizen with something queued has one task that sends their messages in order, the
next only once the one before it is finished, so a late reply never arrives after a later
one. A temporary failure (timeout, 5xx, rate limit, a platform that went away) is tried
again with exponential backoff and jitter, as long as the platform allows the message
(Messenger: 24 hours after the citizen's message; Telegram: any time); a refusal for good
is recorded as such. Nothing is recorded as sent without the platform's confirmation.

A channel whose sends keep failing is treated as down (a circuit breaker): one probe at a
time, spaced out, instead of every citizen's task hammering a platform that is away; the
first success, or the channel saying it is back (Telegram's reconnection), lets all
waiting messages go at once.

Delivery is at least once: a message on its way when the process dies is sent again at
the next start, since neither Telegram nor Messenger can be asked whether it arrived.
At most ``max_in_flight`` messages are on their way at any moment, which bounds those
duplicates.

Several workers (processes) may each run a dispatcher on one database: a message is sent
only by the worker that claimed it in the store (``bot.store.outbox.Outbox.claim``, with
a lease), so each goes out once while its worker lives; when a worker dies, the others'
sweeps find its messages once its heartbeat stopped (``bot.store.liveness``: seconds) or
its claims lapsed, and send them (at least once, as above).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.core.messages import Delivery, DeliveryState, Progress, Reply, replies_from_json
from bot.store import Store
from bot.store.clock import iso, now_iso
from bot.store.leases import OUTBOX_LEASE, lease_end, worker_name
from bot.store.outbox import OutboxItem, OutboxKind, OutboxState

log = logging.getLogger(__name__)

# Seconds between looks for queued messages no task of this worker is sending (a dead
# worker's among them: free once it is silent for bot.store.liveness.SILENT_AFTER).
SWEEP_EVERY = 5.0
STOP_TIMEOUT = 10.0

FINAL_STATES = {
    DeliveryState.SENT: OutboxState.SENT,
    DeliveryState.WAITING: OutboxState.WAITING,
    DeliveryState.FAILED: OutboxState.FAILED,
    DeliveryState.BLOCKED: OutboxState.BLOCKED,
    DeliveryState.UNDELIVERABLE: OutboxState.UNDELIVERABLE,
}


class Courier(Protocol):
    """What the dispatcher needs of a channel."""

    # How long after a citizen's message the platform accepts a reply (None: any time).
    reply_window: timedelta | None

    async def send(
        self, citizen: str, replies: list[Reply], skip: int = 0, *, progress: Progress | None = None
    ) -> Delivery:
        """Send replies to a question, from the ``skip``-th rendered message on."""

    async def deliver_official(
        self,
        citizen: str,
        replies: list[Reply],
        last_inbound: datetime | None,
        skip: int = 0,
        *,
        progress: Progress | None = None,
    ) -> Delivery:
        """Send an official's answer, if the platform's rules allow it now."""


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 1.0  # seconds before the first retry
    cap: float = 60.0  # the longest wait between two tries of one message
    probe_cap: float = 10.0  # the longest wait between two probes of a channel that is down
    breaker_threshold: int = 5  # failures in a row that mark a channel down

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Exponential backoff with jitter (so a thousand messages that failed together
        do not all come back together), never shorter than the platform asked."""
        ceiling = min(self.cap, self.base * 2 ** max(attempts - 1, 0))
        wait = random.uniform(ceiling / 2, ceiling)
        return max(wait, retry_after or 0.0)


class Breaker:
    """One channel's health as the sends see it: up (sending), or down (one probe at a
    time, each after a growing pause, until one gets through)."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.failures = 0
        self.down_since: float | None = None
        self.detail = ""
        self._probing = False
        self._next_probe = 0.0
        self._changed = asyncio.Event()
        self._recovered = asyncio.Event()

    @property
    def down(self) -> bool:
        return self.down_since is not None

    async def admit(self) -> None:
        """Return when this caller may send: at once while the channel is up; while it is
        down, when it is this caller's turn to probe, or when the channel came back."""
        while self.down:
            if self._probing:
                await _wait(self._changed)
                continue
            delay = self._next_probe - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_wait(self._changed), delay)
                continue
            self._probing = True  # until success() or failure() says how the probe went
            return

    async def recovered(self) -> None:
        """Wait until the channel next comes back from being down."""
        await _wait(self._recovered)

    def _notify(self, recovered: bool = False) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
        if recovered:
            self._recovered.set()
            self._recovered = asyncio.Event()

    def success(self) -> None:
        self.failures = 0
        self._probing = False
        if self.down:
            log.info("channel is back after %.0f s", time.monotonic() - (self.down_since or 0))
            self.down_since = None
            self.detail = ""
            self._notify(recovered=True)

    def failure(self, detail: str) -> None:
        self.failures += 1
        self.detail = detail
        self._probing = False
        if self.failures >= self.policy.breaker_threshold:
            if not self.down:
                self.down_since = time.monotonic()
                log.warning("channel marked down after %d failures: %s", self.failures, detail)
            probes = self.failures - self.policy.breaker_threshold
            pause = min(self.policy.probe_cap, self.policy.base * 2**probes)
            self._next_probe = time.monotonic() + random.uniform(pause / 2, pause)
            self._notify()


async def _wait(event: asyncio.Event) -> None:
    await event.wait()


class Dispatcher:
    def __init__(
        self,
        store: Store,
        couriers: Mapping[str, Courier],
        *,
        policy: RetryPolicy | None = None,
        max_in_flight: int = 64,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        worker: str | None = None,
        lease: float = OUTBOX_LEASE,
        sweep_every: float = SWEEP_EVERY,
        alone: bool | None = None,
    ) -> None:
        """``worker`` names this process in the outbox's claims (unique by default);
        ``lease`` is how long a claim holds; ``sweep_every`` how often queued messages
        no task of this worker is sending are looked for (another worker's lapsed claims
        among them); ``alone``: no other worker uses the database, so claims found at the
        start are a dead predecessor's and are let go at once (default: a SQLite store)."""
        self.store = store
        self.alone = store.single_process if alone is None else alone
        self.worker = worker or worker_name()
        self.lease = lease
        self.sweep_every = sweep_every
        self.couriers = couriers
        self.policy = policy or RetryPolicy()
        self.now = now
        self._slots = asyncio.Semaphore(max_in_flight)
        self._breakers: dict[str, Breaker] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}  # citizen -> the task sending
        self._attempting: set[asyncio.Task[None]] = set()
        self._first: dict[int, asyncio.Future[Delivery]] = {}  # outbox id -> 1st outcome
        self._stopping = False
        self._sweeper: asyncio.Task[None] | None = None

    # Queueing

    def give_up_at(self, channel: str, since: datetime) -> str | None:
        """When a reply to a message sent at ``since`` can no longer be delivered."""
        courier = self.couriers.get(channel)
        window = courier.reply_window if courier is not None else None
        return iso(since + window) if window else None

    def submit(self, item_id: int, citizen_id: int) -> asyncio.Future[Delivery]:
        """Send a queued message soon (after the citizen's earlier ones); the future
        holds the outcome of its first attempt (an official waits for it on the desk)."""
        future = self._first.get(item_id)
        if future is None:
            future = self._first[item_id] = asyncio.get_running_loop().create_future()
        self._wake(citizen_id)
        return future

    def _wake(self, citizen_id: int) -> None:
        if self._stopping or citizen_id in self._tasks:
            return
        task = asyncio.get_running_loop().create_task(
            self._work(citizen_id), name=f"outbox-{citizen_id}"
        )
        self._tasks[citizen_id] = task

    # Lifetime

    def start(self) -> None:
        """Pick up what an earlier run left queued, then keep looking now and then."""
        if self.alone:  # the claims found are a dead predecessor's
            self.store.outbox.release_claims()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="outbox")

    async def _sweep(self) -> None:
        while not self._stopping:
            try:
                waiting = self.store.outbox.waiting_citizens(
                    list(self.couriers), worker=self.worker, now=iso(self.now())
                )
                for citizen_id in waiting:
                    self._wake(citizen_id)
            except Exception:  # e.g. the database is locked for a moment: look again later
                log.exception("looking for queued messages failed")
            await asyncio.sleep(self.sweep_every)

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Start nothing new; wait for the messages on their way to be confirmed and
        recorded (those that are not within ``timeout`` are sent again at the next start)."""
        self._stopping = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        waiting = [t for t in self._tasks.values() if t not in self._attempting]
        for task in waiting:
            task.cancel()
        if self._attempting:
            _, late = await asyncio.wait(set(self._attempting), timeout=timeout)
            if late:
                log.warning(
                    "%d message(s) still on their way at shutdown: sent again at the next start",
                    len(late),
                )
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._sweeper is not None:
            await asyncio.gather(self._sweeper, return_exceptions=True)

    # Channel health

    def breaker(self, channel: str) -> Breaker:
        if channel not in self._breakers:
            self._breakers[channel] = Breaker(self.policy)
        return self._breakers[channel]

    def channel_up(self, channel: str) -> None:
        """A channel says it can reach its platform again (e.g. Telegram reconnected)."""
        self.breaker(channel).success()

    def pending_count(self) -> int:
        return len(self._tasks)

    # Sending

    async def _work(self, citizen_id: int) -> None:
        task = asyncio.current_task()
        assert task is not None
        now_anyway = False
        try:
            while not self._stopping:
                if not now_anyway and self._unhindered():
                    # Usually the message goes out now: claimed in the statement that
                    # looks for it. Else read it, and see why not (below).
                    now = self.now()
                    claimed, queued = self.store.outbox.claim_next(
                        citizen_id,
                        self.worker,
                        iso(now),
                        lease_end(now, self.lease),
                        list(self.couriers),
                    )
                    if not queued:
                        return
                    if claimed is not None:
                        async with self._slots:  # free: _unhindered, and nothing awaited
                            await self._send(task, claimed)
                        continue
                item = self.store.outbox.next_for(citizen_id)
                if item is None:
                    return
                if item.claimed_by_other(self.worker, iso(self.now())) and (
                    self.store.workers.presumed_alive(item.claimed_by or "")
                ):
                    return  # another worker is sending it
                wait = (_parse(item.next_attempt_at) - self.now()).total_seconds()
                if wait > 0 and not now_anyway:
                    # Waiting to retry; a channel that comes back ends the wait at once.
                    try:
                        await asyncio.wait_for(self.breaker(item.channel).recovered(), wait)
                        now_anyway = True
                    except TimeoutError:
                        pass
                    continue  # read it again: an official may have sent it again meanwhile
                now_anyway = False
                courier = self.couriers.get(item.channel)
                if courier is None:
                    # The channel is switched off: the message waits for it, not lost.
                    log.warning(
                        "%s is off: message %d to citizen %d waits until it is on again",
                        item.channel,
                        item.id,
                        citizen_id,
                    )
                    return
                if self._expired(item):
                    self._give_up(item)
                    continue
                breaker = self.breaker(item.channel)
                await breaker.admit()
                async with self._slots:
                    if self._stopping:
                        return
                    now = self.now()
                    claimed = self.store.outbox.claim(
                        item.id, self.worker, iso(now), lease_end(now, self.lease)
                    )
                    if claimed is None:
                        return  # another worker took it meanwhile: it sends it
                    await self._send(task, claimed)
        except asyncio.CancelledError:
            raise
        except Exception:  # e.g. the database failed: the sweep starts this citizen again
            log.exception("sending to citizen %d failed; trying again shortly", citizen_id)
        finally:
            if self._tasks.get(citizen_id) is task:
                del self._tasks[citizen_id]

    def _unhindered(self) -> bool:
        """Whether a message claimed now can go out at once: a sending slot is free and
        no channel is down (a down channel's sends wait their turn to probe, which a
        claim must not wait out: its lease could lapse meanwhile)."""
        return not self._slots.locked() and not any(b.down for b in self._breakers.values())

    async def _send(self, task: asyncio.Task[None], item: OutboxItem) -> None:
        """One attempt at a message this worker has claimed (within a sending slot), and
        its record."""
        self._attempting.add(task)
        try:
            breaker = self.breaker(item.channel)
            delivery = await self._attempt(self.couriers[item.channel], item)
            self._record(item, delivery, breaker)
        finally:
            self._attempting.discard(task)

    async def _attempt(self, courier: Courier, item: OutboxItem) -> Delivery:
        replies = replies_from_json(item.replies)

        def progress(parts: int) -> None:
            # Recorded before the next part's wait (Telegram paces a chat at 1/s): a worker
            # killed in between leaves only the unconfirmed parts to be sent again.
            try:
                self.store.outbox.progress(item.id, item.parts_sent + parts, self.worker)
            except Exception:  # the final record still counts them
                log.exception("recording the parts of message %d sent failed", item.id)

        try:
            if item.kind is OutboxKind.OFFICIAL:
                last = self.store.escalations.last_inbound_at(item.citizen_id)
                return await courier.deliver_official(
                    item.platform_id,
                    replies,
                    datetime.fromisoformat(last) if last else None,
                    skip=item.parts_sent,
                    progress=progress,
                )
            return await courier.send(
                item.platform_id, replies, skip=item.parts_sent, progress=progress
            )
        except Exception as exc:  # a bug or an unforeseen error: retried, and logged
            log.exception("sending outbox message %d raised", item.id)
            return Delivery(DeliveryState.RETRY, f"{type(exc).__name__}: {exc}")

    def _record(self, item: OutboxItem, delivery: Delivery, breaker: Breaker) -> None:
        parts = item.parts_sent + delivery.parts
        if delivery.state is DeliveryState.RETRY:
            breaker.failure(delivery.detail)
            delay = self.policy.delay(item.attempts + 1, delivery.retry_after)
            at = self.now() + timedelta(seconds=delay)
            self.store.outbox.retry_later(
                item.id, iso(at), delivery.detail, parts, worker=self.worker
            )
            log.info(
                "%s: message %d to citizen %d not sent (%s); retrying in %.1f s",
                item.channel,
                item.id,
                item.citizen_id,
                delivery.detail,
                delay,
            )
            self._resolve(item.id, delivery)
            return
        breaker.success()
        self._finish(item, delivery, parts)

    def _finish(self, item: OutboxItem, delivery: Delivery, parts: int | None = None) -> None:
        state = FINAL_STATES.get(delivery.state, OutboxState.FAILED)
        self.store.outbox.finish(
            item.id, state, delivery.detail, item.parts_sent if parts is None else parts
        )
        if state is OutboxState.BLOCKED:
            self.store.broadcasts.block(item.citizen_id)
        if state in (OutboxState.FAILED, OutboxState.UNDELIVERABLE, OutboxState.BLOCKED):
            log.warning(
                "%s: message %d to citizen %d not delivered (%s): %s",
                item.channel,
                item.id,
                item.citizen_id,
                state.value,
                delivery.detail,
            )
        if item.then_erase:
            # /hapusdata: its confirmation went out (or never can): now nothing is kept.
            self.store.erase_citizen(item.citizen_id)
        self._resolve(item.id, delivery)

    def _expired(self, item: OutboxItem) -> bool:
        return item.give_up_at is not None and _parse(item.give_up_at) <= self.now()

    def _give_up(self, item: OutboxItem) -> None:
        detail = "the platform's time to reply ran out"
        if item.last_error:
            detail += f"; last error: {item.last_error}"
        self.store.outbox.finish(item.id, OutboxState.GAVE_UP, detail, item.parts_sent)
        log.warning(
            "%s: gave up message %d to citizen %d: %s",
            item.channel,
            item.id,
            item.citizen_id,
            detail,
        )
        if item.then_erase:
            self.store.erase_citizen(item.citizen_id)
        self._resolve(item.id, Delivery(DeliveryState.UNDELIVERABLE, detail))

    def _resolve(self, item_id: int, delivery: Delivery) -> None:
        future = self._first.pop(item_id, None)
        if future is not None and not future.done():
            future.set_result(delivery)


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


async def first_outcome(future: asyncio.Future[Delivery], timeout: float) -> Delivery:
    """The first attempt's outcome, or "still trying" when it takes longer than ``timeout``
    (the message stays queued and goes out as soon as the platform takes it)."""
    with contextlib.suppress(TimeoutError):
        return await asyncio.wait_for(asyncio.shield(future), timeout)
    return Delivery(DeliveryState.RETRY, "still trying: the platform has not answered yet")


__all__ = ["Breaker", "Courier", "Dispatcher", "RetryPolicy", "first_outcome", "now_iso"]
