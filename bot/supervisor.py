"""`tanya run --workers N`: N bot processes serving one port, and a parent that keeps them.

The parent binds the port once and every worker accepts connections on that one socket
(inherited), rather than each binding its own with SO_REUSEPORT: with one socket the
connections waiting in the queue are taken by whichever worker is alive, so a worker that
dies loses none of them (with SO_REUSEPORT the kernel resets those queued on its socket).
The parent loads no model: it starts the workers, starts again one that ends (waiting
longer each time one fails soon after its start), and stops them all on Ctrl+C or SIGTERM.
Workers share the work through the store (PostgreSQL); what may run only once across them
is decided there, not here.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

from bot.config import Settings

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
STOP_SECONDS = 20.0  # a worker's own shutdown waits up to 10 s for messages on their way
# A worker ending sooner than this after its start failed to start: the next start waits
# twice as long as the last one did, up to RESTART_CAP; after GIVE_UP such failures in a
# row the parent stops (the cause, e.g. a missing model, is in the workers' own output).
SOON = 30.0
RESTART_FIRST = 1.0
RESTART_CAP = 30.0
GIVE_UP = 5
BACKLOG = 1024
_PR_SET_PDEATHSIG = 1


def refusal(settings: Settings, workers: int) -> str | None:
    """Why these settings cannot run on ``workers`` processes (None: they can)."""
    if workers <= 1:
        return None
    if settings.storage.database is not None:
        return (
            f"--workers {workers} needs PostgreSQL: storage.url is the SQLite file "
            f"{settings.storage.database}, which one process at a time can write. Set "
            "storage.url to a postgresql:// URL (`tanya copy-store` moves the history "
            "there), or run one worker."
        )
    if settings.telegram.token() and settings.telegram.mode != "webhook":
        return (
            f"--workers {workers} needs Telegram in webhook mode: long polling is one "
            "process's job (two would take each other's updates). Set telegram.mode: "
            "webhook and telegram.webhook_url (the bot's public HTTPS address), or run one "
            "worker."
        )
    return None


def shared_environment(settings: Settings) -> dict[str, str]:
    """The workers' environment: the parent's, plus one Telegram webhook secret they all
    check (each would otherwise make its own, and the last to call setWebhook would
    refuse every update the others receive)."""
    env = dict(os.environ)
    name = settings.telegram.webhook_secret_env
    if not env.get(name, "").strip():
        env[name] = secrets.token_urlsafe(24)
    return env


@dataclass
class _Slot:
    number: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    start_at: float = 0.0  # when to start it (again)
    delay: float = RESTART_FIRST
    failures: int = 0
    restarts: int = 0


@dataclass
class Supervisor:
    """Keeps ``workers`` copies of ``command`` running; each gets ``--worker K`` and the
    listening socket's descriptor after it."""

    command: Sequence[str]
    workers: int
    listening: socket.socket
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    _slots: list[_Slot] = field(default_factory=list)
    _stopping: bool = False

    def run(self) -> int:
        """Serve until Ctrl+C or SIGTERM (0), or until workers keep failing to start (1)."""
        self.listening.listen(BACKLOG)
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        self._slots = [_Slot(number) for number in range(1, self.workers + 1)]
        try:
            return self._watch()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _watch(self) -> int:
        while not self._stopping:
            now = time.monotonic()
            for slot in self._slots:
                if slot.process is None:
                    if now >= slot.start_at:
                        self._start(slot)
                    continue
                code = slot.process.poll()
                if code is None or self._stopping:
                    continue
                if self._ended(slot, code, now):
                    return 1
            time.sleep(POLL_SECONDS)
        log.info("stopping %d worker(s)", self.workers)
        return 0

    def _start(self, slot: _Slot) -> None:
        fd = self.listening.fileno()
        slot.process = subprocess.Popen(
            [*self.command, "--worker", str(slot.number), "--socket-fd", str(fd)],
            pass_fds=(fd,),
            env=self.env,
            # Their own session: Ctrl+C reaches the parent only, which stops each worker
            # once (a second signal would cut a worker's orderly shutdown short).
            start_new_session=True,
            preexec_fn=_die_with_parent,  # the parent runs no threads
        )
        slot.started = time.monotonic()
        log.info("worker %d started (pid %d)", slot.number, slot.process.pid)

    def _ended(self, slot: _Slot, code: int, now: float) -> bool:
        """Note a worker's end and plan its restart; True when it is time to give up."""
        assert slot.process is not None
        pid, lived = slot.process.pid, now - slot.started
        slot.process = None
        if lived < SOON:
            slot.failures += 1
            wait, slot.delay = slot.delay, min(slot.delay * 2, RESTART_CAP)
        else:
            slot.failures, slot.delay, wait = 0, RESTART_FIRST, RESTART_FIRST
        if slot.failures >= GIVE_UP:
            log.error(
                "worker %d ended %d times in a row within %.0f s of its start (last: code "
                "%s): stopping; its output above says why",
                slot.number,
                slot.failures,
                SOON,
                code,
            )
            return True
        slot.restarts += 1
        slot.start_at = now + wait
        log.warning(
            "worker %d (pid %d) ended (%s) after %.0f s; starting it again in %.0f s",
            slot.number,
            pid,
            _how(code),
            lived,
            wait,
        )
        return False

    def _stop_all(self) -> None:
        """SIGTERM to every worker (each finishes the messages on their way), SIGKILL to
        those still there after STOP_SECONDS."""
        running = [s.process for s in self._slots if s.process and s.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not stop in time: killed", process.pid)
                process.kill()
                process.wait()

    @property
    def pids(self) -> list[int]:
        return [s.process.pid for s in self._slots if s.process is not None]


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _die_with_parent() -> None:
    """In the worker, before it runs: ask Linux for SIGTERM when the parent dies, so no
    worker outlives a supervisor killed without a chance to stop them."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
