"""Replace a file all at once: readers see the old content or the new, never half of it.

The new content is written to a hidden temporary file in the same folder (a rename is
atomic only within one file system) and renamed over the target when the writer is done.
If writing fails, the temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path to write; it replaces ``path`` when the block succeeds.

    ``suffix`` keeps the temporary file out of globs that look for the target's kind
    (an FAQ folder's ``*.yml``), or gives a writer the suffix it insists on (``np.savez``
    appends ``.npz`` to any other name). The folder must exist.
    """
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
