"""Which workers are alive: a heartbeat row per process, so a dead worker's claims are
free at once instead of after their lease.

Every bot process (its one claimant name, ``bot.store.leases.worker_name``) writes its row
in ``workers`` every :data:`BEAT_EVERY` seconds from a thread of its own, on a connection
of its own: a busy event loop or a full connection pool does not hold the beat back, and
a process that dies (SIGKILL, a crash, a machine that went away) stops beating at once.
A worker that stops cleanly says goodbye (``stopped_at``). A claim (an outbox message, a
broadcast recipient, an incoming message being answered) is free for any worker when its
claimant said goodbye or has not beaten for :data:`SILENT_AFTER` seconds, or when its
lease ran out (the outer bound: a worker alive but stuck keeps beating and keeps its
claims only until then).

The beat and the look at it both use the database's clock (``clock_timestamp()`` on
PostgreSQL, ``julianday('now')`` on SQLite), so the workers' own clocks, which may differ
by seconds between machines, do not decide whether a worker is alive.

A claimant without a row (a worker of an older version during a rolling upgrade, a test
naming its workers) is not presumed dead: its claims hold until their lease.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass

from bot.store.clock import now_iso
from bot.store.engine import Dialect, Engine, open_engine

log = logging.getLogger(__name__)

# How often a worker beats, and how long without a beat makes it dead: five beats, so a
# slow commit or a pause of the process under load is not taken for a death. A dead
# worker's outbox messages are sent again within about SILENT_AFTER plus one sweep of the
# dispatcher (``bot.core.dispatch.SWEEP_EVERY``) after it died.
BEAT_EVERY = 2.0
SILENT_AFTER = 10.0
# Rows of workers silent for this long are deleted (their claims lapsed long before).
FORGET_AFTER = 86400.0


def clock(dialect: Dialect) -> str:
    """SQL for the database's clock, in seconds since the epoch."""
    if dialect is Dialect.POSTGRESQL:
        return "CAST(extract(epoch FROM clock_timestamp()) AS DOUBLE PRECISION)"
    return "((julianday('now') - 2440587.5) * 86400.0)"


@dataclass(frozen=True)
class WorkerRow:
    name: str
    host: str
    pid: int
    started_at: str
    silent_for: float  # seconds since its last beat, on the database's clock
    stopped_at: str | None


class Workers:
    """The store's side of liveness: beats, goodbyes, and the SQL that finds the dead."""

    def __init__(self, db: Engine, *, silent_after: float = SILENT_AFTER) -> None:
        self.db = db
        self.silent_after = silent_after
        self._clock = clock(db.dialect)

    def dead(self, column: str) -> tuple[str, list[float]]:
        """A condition true when the worker named in ``column`` is known dead (said
        goodbye, or silent too long), and its parameters."""
        return (
            f"{column} IN (SELECT w.name FROM workers w WHERE w.stopped_at IS NOT NULL "
            f"OR w.beat_at < {self._clock} - ?)",
            [self.silent_after],
        )

    def beat(self, name: str, host: str = "", pid: int = 0) -> None:
        """``name`` is alive now (its first beat registers it)."""
        self.db.execute_atomic(
            "INSERT INTO workers (name, host, pid, started_at, beat_at) "
            f"VALUES (?, ?, ?, ?, {self._clock}) "
            f"ON CONFLICT (name) DO UPDATE SET beat_at = {self._clock}",
            [name, host, pid, now_iso()],
        )

    def goodbye(self, name: str) -> None:
        """``name`` stopped cleanly: what it still claims is free for the others now."""
        self.db.execute_atomic(
            "UPDATE workers SET stopped_at = ? WHERE name = ? AND stopped_at IS NULL",
            [now_iso(), name],
        )

    def forget_old(self) -> int:
        """Delete the rows of workers silent for :data:`FORGET_AFTER` seconds."""
        cursor = self.db.execute_atomic(
            f"DELETE FROM workers WHERE beat_at < {self._clock} - ?", [FORGET_AFTER]
        )
        return max(cursor.rowcount, 0)

    def presumed_alive(self, name: str) -> bool:
        """False only when ``name`` said goodbye or has been silent too long; a worker
        without a row counts as alive (its claims hold until their lease)."""
        condition, params = self.dead("?")
        row = self.db.execute(f"SELECT 1 WHERE {condition}", [name, *params]).fetchone()
        return row is None

    def all(self) -> list[WorkerRow]:
        """Every known worker, the most recently started first."""
        rows = self.db.execute(
            f"SELECT name, host, pid, started_at, {self._clock} - beat_at, stopped_at "
            "FROM workers ORDER BY started_at DESC, name"
        )
        return [WorkerRow(r[0], r[1], int(r[2]), r[3], float(r[4]), r[5]) for r in rows]


class Heartbeat:
    """Beats for one worker from a thread of its own, on its own connection to the
    database at ``url`` (opened in that thread). :meth:`start` returns once the first
    beat is written, so every claim the worker makes afterwards is known to be a live
    worker's. :meth:`stop` says goodbye; :meth:`halt` stops without it (what a crash
    leaves, for tests)."""

    def __init__(
        self,
        url: str,
        name: str,
        *,
        every: float = BEAT_EVERY,
        silent_after: float = SILENT_AFTER,
    ) -> None:
        self.url = url
        self.name = name
        self.every = every
        self.silent_after = silent_after
        self._stop = threading.Event()
        self._first = threading.Event()
        self._goodbye = False
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 15.0) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {self.name}")
        self._thread.daemon = True  # never keeps a stopping process alive
        self._thread.start()
        if not self._first.wait(timeout):
            log.warning("the first heartbeat of %s took over %.0f s", self.name, timeout)

    def stop(self) -> None:
        """Stop beating and say goodbye (a clean stop)."""
        self._end(goodbye=True)

    def halt(self) -> None:
        """Stop beating without a goodbye, as a process that died would."""
        self._end(goodbye=False)

    def _end(self, *, goodbye: bool) -> None:
        self._goodbye = goodbye
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.every + 15.0)
            self._thread = None

    def _run(self) -> None:
        engine: Engine | None = None
        beats = 0
        try:
            engine = open_engine(self.url)
            workers = Workers(engine, silent_after=self.silent_after)
            host, pid = socket.gethostname(), os.getpid()
            while True:
                try:
                    workers.beat(self.name, host, pid)
                    if beats % 1000 == 0:
                        workers.forget_old()
                    beats += 1
                except Exception:  # the database away for a moment: beat again soon
                    log.exception("heartbeat of %s failed", self.name)
                self._first.set()
                if self._stop.wait(self.every):
                    break
            if self._goodbye:
                workers.goodbye(self.name)
        except Exception:
            log.exception("the heartbeat of %s stopped", self.name)
        finally:
            self._first.set()
            if engine is not None:
                engine.close()
