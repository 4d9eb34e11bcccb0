"""The delivery worker's clean stop, in-process, against a real SQLite store.

The sender here stands in for a channel whose platform answers slowly (the channels' own
``broadcast`` methods are tested against the Telegram emulator and the Graph API stand-in);
what is checked is the worker's promise to the official: a stop in the middle of a
broadcast loses no one and, once resumed, sends no one the message twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from pathlib import Path

from bot.core.broadcasting import IN_FLIGHT, Broadcaster
from bot.core.messages import Delivery, DeliveryState, Outgoing
from bot.store import Store
from bot.store.clock import now_iso

AUDIENCE = 40


class SlowPlatform:
    """Receives each message at once and answers ``latency`` seconds later."""

    broadcast_rate: float | None = None

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.received: Counter[str] = Counter()

    async def broadcast(
        self, citizen: str, item: Outgoing, last_inbound: datetime | None
    ) -> Delivery:
        self.received[citizen] += 1
        await asyncio.sleep(self.latency)
        return Delivery(DeliveryState.SENT)


def announcement(store: Store) -> int:
    for n in range(AUDIENCE):
        citizen = store.citizen("telegram", str(1000 + n), "id")
        store.subscriptions.subscribe(citizen.id, "pengumuman")
    return store.broadcasts.create(
        kind="announcement",
        text="Jalan Merdeka ditutup Minggu pagi.",
        topics=["pengumuman"],
        channels=["telegram"],
        send_at=now_iso(),
        created_by=None,
    )


async def test_stop_waits_for_messages_in_flight_and_resumes_without_duplicates(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path / "tanya.db")
    number = announcement(store)
    platform = SlowPlatform(latency=0.5)
    first = Broadcaster(store, {"telegram": platform})
    running = asyncio.get_running_loop().create_task(first.run())
    while sum(platform.received.values()) < IN_FLIGHT:
        await asyncio.sleep(0.01)

    await first.stop()
    await asyncio.wait_for(running, 1)  # the worker ends by itself once stopped
    progress = store.broadcasts.progress(number)
    # Everything Telegram received is recorded as sent; nothing is left "sending".
    assert progress["sending"] == 0
    assert progress["sent"] == sum(platform.received.values()) >= IN_FLIGHT
    assert progress["pending"] == AUDIENCE - progress["sent"] > 0
    assert store.broadcasts.status_of(number) == "sending"  # to be resumed, not finished

    second = Broadcaster(store, {"telegram": platform})
    platform.latency = 0.0
    resumed = asyncio.get_running_loop().create_task(second.run())
    while store.broadcasts.status_of(number) != "sent":
        await asyncio.sleep(0.01)
    await second.stop()
    await asyncio.wait_for(resumed, 1)
    assert len(platform.received) == AUDIENCE  # no one missed
    assert set(platform.received.values()) == {1}  # no one twice
    store.close()
