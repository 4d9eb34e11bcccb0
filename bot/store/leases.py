"""Who a worker is, for the claims and locks several workers share in one database.

A claim (an outbox message, a broadcast's recipients) or a lock (the daily purge) names
the worker holding it and holds until a lease runs out; a worker that dies simply stops
renewing, and after the lease another worker takes the work over; sooner, when its
heartbeat stopped (``bot.store.liveness``). The name only has to be unique among the
workers alive at once: the host, the process and a random part (a restarted process,
even with the same pid, is another worker)."""

from __future__ import annotations

import os
import secrets
import socket
from datetime import UTC, datetime, timedelta

from bot.store.clock import iso
from bot.store.engine import Engine

# How long a claim on an outbox message holds: far longer than one attempt to send it
# (each platform request times out within 10-30 s), so a live worker's claim never lapses
# while it sends. A dead worker's claims are free sooner (its heartbeat stops); the lease
# bounds how long a worker alive but stuck holds them.
OUTBOX_LEASE = 60.0


def worker_name() -> str:
    """This process's name as a claimant: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def lease_end(now: datetime, seconds: float) -> str:
    return iso(now + timedelta(seconds=seconds))


class Jobs:
    """Work that one worker of all does once per period: the daily purge, the pass over
    messages a dead worker left unanswered. A row per job says when it last started; a
    worker runs the job only if its conditional update moves that time on, which exactly
    one worker's does per period (on PostgreSQL a second update waits for the first and
    then finds the time moved; on SQLite writes are one at a time). Nothing is held while
    the job runs, so a worker that dies in the middle blocks nothing: the job is simply
    due again at the next period. A lock held for as long as the job runs (an advisory
    lock, or a lease to renew) would add that to get the same."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    def take(self, name: str, worker: str, now: str, since: str) -> bool:
        """Whether ``worker`` runs job ``name`` now: true for one worker only, when the
        job last started before ``since`` (now minus its period) or never did."""
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO jobs (name, last_run, holder) VALUES (?, NULL, NULL) "
                "ON CONFLICT (name) DO NOTHING",
                [name],
            )
            cursor = self.db.execute(
                "UPDATE jobs SET last_run = ?, holder = ? WHERE name = ? "
                "AND (last_run IS NULL OR last_run <= ?)",
                [now, worker, name, since],
            )
        return cursor.rowcount == 1

    def take_every(self, name: str, worker: str, period: float) -> bool:
        """:meth:`take` with the period in seconds, on this machine's clock."""
        now = datetime.now(UTC)
        return self.take(name, worker, iso(now), iso(now - timedelta(seconds=period)))
