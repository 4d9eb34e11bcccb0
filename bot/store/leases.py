"""Who a worker is, for the claims and locks several workers share in one database.

A claim (an outbox message, a broadcast's recipients) or a lock (the daily purge) names
the worker holding it and holds until a lease runs out; a worker that dies simply stops
renewing, and after the lease another worker takes the work over. The name only has to
be unique among the workers alive at once: the host, the process and a random part (a
restarted process, even with the same pid, is another worker and waits out the lease of
what its predecessor held)."""

from __future__ import annotations

import os
import secrets
import socket
from datetime import UTC, datetime, timedelta

# How long a claim on an outbox message holds: far longer than one attempt to send it
# (each platform request times out within 10-30 s), so a live worker's claim never lapses
# while it sends; after a worker died its messages go out this much later.
OUTBOX_LEASE = 60.0


def worker_name() -> str:
    """This process's name as a claimant: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def iso(moment: datetime) -> str:
    """A moment as the store writes times (UTC, milliseconds: they sort as text)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def lease_end(now: datetime, seconds: float) -> str:
    return iso(now + timedelta(seconds=seconds))
