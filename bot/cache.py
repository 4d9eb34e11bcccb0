"""Where Tanya keeps what it can rebuild but would rather not at every start (rewritten
encoder graphs, the parsed FAQ): ``$XDG_CACHE_HOME/tanya``, else ~/.cache/tanya."""

from __future__ import annotations

import os
from pathlib import Path


def cache_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tanya"
