"""Sending announcements and polls to every subscriber, within each platform's limits.

One background task wakes when a broadcast is due (or was interrupted by a restart),
writes its recipients down once, and works through them channel by channel, in batches
read from the database, so memory stays flat however large the audience. Each channel
sends concurrently (a few messages in flight hide the network's latency) but starts at
most ``rate`` messages per second, evenly spaced: Telegram allows a bot about 30 per
second and answers 429 beyond that. Before a message goes out its row says ``sending``
and afterwards how it went, so a restart resends only what was in flight at the crash.
A clean stop (SIGTERM from systemd or a deploy) starts nothing new and waits for the
messages already on their way, so resuming after it sends no one the message twice.
A temporary failure (timeout, 5xx, a platform that is away) puts the recipient back in
line, tried again after a backoff; while the dispatcher's breaker says the channel is
down, nothing is tried (no attempt is wasted on an outage), and after ``MAX_ATTEMPTS``
failures that were not an outage the recipient is recorded as failed.

Several workers (processes on one PostgreSQL) share a broadcast: each claims a batch of
recipients in the store with a lease (``Broadcasts.claim``), checks its claim right
before each send (``still_mine``), and reserves each message's start in the channel's
one pace (``Broadcasts.reserve_start``), so the recipients are shared out, each gets it
once while its worker lives, and the channel's rate holds for all workers together. A
worker that dies stops beating (``bot.store.liveness``) and the others take its claims
over within seconds (after the lease, for a worker whose heartbeat goes on but is stuck).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.core.dispatch import Breaker, RetryPolicy
from bot.core.messages import Delivery, DeliveryState, Outgoing
from bot.store import Store
from bot.store.broadcasts import Broadcast, Recipient
from bot.store.clock import now_iso
from bot.store.leases import lease_end, worker_name

log = logging.getLogger(__name__)

BATCH = 50  # recipients claimed at once by one worker
LEASE = 60.0  # seconds a claim on recipients holds (renewed for each one as it is sent)
IN_FLIGHT = 8
MAX_ATTEMPTS = 8  # temporary failures before a recipient is recorded as failed
CHECK_EVERY = 5.0  # seconds between looks for scheduled broadcasts
STOP_TIMEOUT = 10.0  # seconds a clean stop waits for the answers to messages in flight
STATES = {
    DeliveryState.SENT: "sent",
    DeliveryState.WAITING: "sent",
    DeliveryState.FAILED: "failed",
    DeliveryState.UNDELIVERABLE: "skipped",
    DeliveryState.BLOCKED: "blocked",
}


class BroadcastSender(Protocol):
    # Messages per second this channel may start (None: no limit of its own).
    broadcast_rate: float | None

    async def broadcast(
        self, citizen: str, item: Outgoing, last_inbound: datetime | None
    ) -> Delivery: ...


class Pacer:
    """Evenly spaced start times: never more than ``rate`` per second, no bursts."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


class SharedPacer:
    """The same spacing as :class:`Pacer`, for every worker on the database together:
    each message's start is reserved in the store (``Broadcasts.reserve_start``), so N
    workers start at most ``rate`` messages per second between them, not N times it.
    Clocks of the workers' machines are assumed in step (NTP)."""

    def __init__(self, store: Store, channel: str, rate: float | None) -> None:
        self.store = store
        self.channel = channel
        self.interval = 1.0 / rate if rate else 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.time()
        start = self.store.broadcasts.reserve_start(self.channel, self.interval, now)
        if start > now:
            await asyncio.sleep(start - now)


def outgoing(broadcast: Broadcast) -> Outgoing:
    return Outgoing(
        broadcast_id=broadcast.id,
        kind=broadcast.kind,
        text=broadcast.text,
        link=broadcast.link,
        image_url=broadcast.image_url,
        options=broadcast.options,
        multiple=broadcast.multiple,
    )


class Broadcaster:
    def __init__(
        self,
        store: Store,
        senders: Mapping[str, BroadcastSender],
        breaker: Callable[[str], Breaker] | None = None,
        policy: RetryPolicy | None = None,
        *,
        worker: str | None = None,
        alone: bool | None = None,
    ) -> None:
        """``worker`` names this process in the recipients' claims (unique by default);
        ``alone``: no other worker uses the database, so claims found at the start are a
        dead predecessor's and are let go at once (default: a SQLite store)."""
        self.store = store
        self.worker = worker or worker_name()
        self.alone = store.single_process if alone is None else alone
        self.senders = senders
        self.policy = policy or RetryPolicy()
        own: dict[str, Breaker] = {}
        # The dispatcher's breakers, so that replies and announcements agree on which
        # channel is down.
        self._breaker = breaker or (lambda name: own.setdefault(name, Breaker(self.policy)))
        self._wake = asyncio.Event()
        self._pacers = {
            name: SharedPacer(store, name, s.broadcast_rate) for name, s in senders.items()
        }
        self._stopping = False
        self._in_flight: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """A broadcast was created or cancelled: look now instead of at the next tick."""
        self._wake.set()

    async def run(self) -> None:
        """Work until :meth:`stop` (the server starts this and stops it at shutdown)."""
        if self.alone:
            try:
                self.store.broadcasts.release_claims()
            except Exception:  # the loop below tries the database again
                log.exception("letting go of the previous run's claims failed")
        while True:
            try:
                for broadcast_id in self.store.broadcasts.due(now_iso()):
                    if self._stopping:
                        break
                    await self.send(broadcast_id)
            except Exception:  # a bad broadcast must not stop the others for good
                log.exception("broadcasting failed; trying again shortly")
            if self._stopping:
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), CHECK_EVERY)

    async def send(self, broadcast_id: int) -> None:
        broadcasts = self.store.broadcasts
        total = broadcasts.start(broadcast_id)
        broadcast = broadcasts.get(broadcast_id)
        assert broadcast is not None
        log.info("broadcast %d: sending to %d citizen(s)", broadcast_id, total)
        item = outgoing(broadcast)
        await asyncio.gather(*(self._channel(broadcast, item, c) for c in broadcast.channels))
        if self._stopping:
            counts = broadcasts.progress(broadcast_id)
            log.info(
                "broadcast %d paused by the shutdown (%s); it resumes at the next start",
                broadcast_id,
                ", ".join(f"{n} {state}" for state, n in counts.items() if n),
            )
            return
        if broadcasts.finish(broadcast_id):
            log.info("broadcast %d: sent", broadcast_id)

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Start no new message and wait until those on their way are answered and
        recorded. Only a message whose answer does not come within ``timeout`` stays
        ``sending`` and may reach its citizen twice after the restart."""
        self._stopping = True
        self._wake.set()
        if not self._in_flight:
            return
        _, late = await asyncio.wait(set(self._in_flight), timeout=timeout)
        if late:
            log.warning(
                "%d broadcast message(s) still unanswered at shutdown: they are sent again "
                "at the next start",
                len(late),
            )

    async def _channel(self, broadcast: Broadcast, item: Outgoing, channel: str) -> None:
        broadcasts = self.store.broadcasts
        sender = self.senders.get(channel)
        slots = asyncio.Semaphore(IN_FLIGHT)
        running: set[asyncio.Task[None]] = set()
        while not self._stopping and broadcasts.status_of(broadcast.id) == "sending":
            now = datetime.now(UTC)
            batch = broadcasts.claim(
                broadcast.id, channel, self.worker, BATCH, now_iso(), lease_end(now, LEASE)
            )
            if not batch and running:
                await asyncio.gather(*running)  # their failures may be due again soon
                continue
            if not batch:
                due = broadcasts.next_retry(broadcast.id, channel)
                if due is None:
                    break
                wait = (datetime.fromisoformat(due) - datetime.now(UTC)).total_seconds()
                await asyncio.sleep(min(max(wait, 0.05), 1.0))  # a stop is seen within 1 s
                continue
            if sender is None:
                broadcasts.mark_many(
                    [r.delivery_id for r in batch], "skipped", f"the {channel} channel is off"
                )
                continue
            unsent = [r.delivery_id for r in batch]
            for recipient in batch:
                if broadcasts.status_of(broadcast.id) != "sending":
                    break  # cancelled: the rest are marked skipped
                await self._breaker(channel).admit()  # an outage: wait, try nothing
                await slots.acquire()
                await self._pacers[channel].wait()
                if self._stopping:
                    slots.release()
                    break  # this one and the rest are pending again, for the next start
                unsent.remove(recipient.delivery_id)
                until = lease_end(datetime.now(UTC), LEASE)
                if not broadcasts.still_mine(recipient.delivery_id, self.worker, until):
                    slots.release()  # another worker took it over after the lease
                    continue
                task = asyncio.get_running_loop().create_task(
                    self._one(sender, item, recipient, slots)
                )
                for tasks in (running, self._in_flight):
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            broadcasts.release(unsent, self.worker)
            if running:  # the next batch is read after this one is recorded
                await asyncio.gather(*running)
        if running:
            await asyncio.gather(*running)

    async def _one(
        self,
        sender: BroadcastSender,
        item: Outgoing,
        recipient: Recipient,
        slots: asyncio.Semaphore,
    ) -> None:
        citizen = recipient.citizen_id
        last = recipient.last_inbound
        try:
            try:
                delivery = await sender.broadcast(
                    recipient.platform_id, item, datetime.fromisoformat(last) if last else None
                )
            except Exception as exc:  # recorded per recipient; the others go on
                log.exception("broadcast %d to citizen %d failed", item.broadcast_id, citizen)
                delivery = Delivery(DeliveryState.RETRY, f"{type(exc).__name__}: {exc}")
            breaker = self._breaker(recipient.channel)
            if delivery.state is DeliveryState.RETRY:
                breaker.failure(delivery.detail)
                if breaker.down or recipient.attempts + 1 < MAX_ATTEMPTS:
                    delay = self.policy.delay(recipient.attempts + 1, delivery.retry_after)
                    at = datetime.now(UTC) + timedelta(seconds=delay)
                    self.store.broadcasts.retry_later(
                        recipient.delivery_id,
                        at.isoformat(timespec="milliseconds"),
                        delivery.detail,
                    )
                    return
                delivery = Delivery(
                    DeliveryState.FAILED, f"gave up after {MAX_ATTEMPTS} tries: {delivery.detail}"
                )
            else:
                breaker.success()
            state = STATES.get(delivery.state, "failed")
            self.store.broadcasts.mark(recipient.delivery_id, state, delivery.detail, delivery.ref)
            if delivery.state is DeliveryState.BLOCKED:
                self.store.broadcasts.block(citizen)
            elif state == "sent":
                self.store.save_broadcast_message(citizen, item.broadcast_id, item.text)
        finally:
            slots.release()
