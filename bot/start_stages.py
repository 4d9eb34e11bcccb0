"""How long `tanya run` took to be ready, stage by stage.

A rolling restart waits for each worker to be ready, and `--workers N` starts N at once,
so the start's cost is worth seeing at every start: the "ready" line says where the
seconds went (imports, settings, FAQ, model, store, ...). bench/start.py reads it.
Seconds count from the process's own start (Linux says when it was), so the
interpreter's start and the first imports are in them too.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def _process_age() -> float:
    """Seconds since this process started, or 0 where the system does not say."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


_ORIGIN = time.monotonic() - _process_age()
_lock = threading.Lock()
_marks: list[tuple[str, float]] = []
_done = False


def mark(stage: str) -> None:
    """Record that ``stage`` just ended (ignored once the start is over: a model loaded
    again after a retraining is not part of it)."""
    with _lock:
        if not _done:
            _marks.append((stage, time.monotonic()))


def finish() -> str:
    """End the start and say how long it took: total, then each stage's own seconds,
    in the order they ended."""
    global _done
    now = time.monotonic()
    with _lock:
        _done = True
        marks = list(_marks)
    parts, previous = [], _ORIGIN
    for stage, at in marks:
        parts.append(f"{stage} {at - previous:.2f} s")
        previous = at
    return f"{now - _ORIGIN:.2f} s since the process started ({', '.join(parts)})"
