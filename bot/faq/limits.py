"""How big and how deep a file `tanya import` and `tanya check` will read.

A whole city's FAQ is a few hundred entries: these bounds are far above any real FAQ and
far below what would let one file take the machine's memory or minutes of CPU (a 0.9 MB
XLSX once unpacked to 2.9 GB). A file beyond them is refused with a message naming the
file and, where it applies, the row and column; nothing is half imported.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot.faq.rows import RowError, UnreadableFile
from bot.translatable import say

MAX_FILE_BYTES = 20 * 1024 * 1024  # a CSV, JSON, Markdown or HTML file, or an XLSX as stored
MAX_UNPACKED_BYTES = 100 * 1024 * 1024  # an XLSX's parts together, unpacked
MAX_ROWS = 20_000
MAX_COLUMNS = 1_000
MAX_CELLS = 500_000  # cells a sheet stores, merged cells included
MAX_MERGED_RANGES = 10_000
MAX_DEPTH = 32  # nesting of JSON arrays and objects, and of YAML collections
# NUL and UTF-16 surrogate halves cannot be stored in the FAQ files (nor sent to anyone).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_file_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise UnreadableFile(
            say(
                "the file is {size:.0f} MB; at most {most} MB can be imported (split it into "
                "several files)",
                size=size / 1e6,
                most=MAX_FILE_BYTES // 2**20,
            )
        )


def too_many_columns(count: int) -> str:
    return f"{count} columns; an FAQ sheet has at most {MAX_COLUMNS}"


def check_grid(rows: list[list[Any]]) -> None:
    """A CSV file's rows and columns, within the bounds."""
    if len(rows) > MAX_ROWS:
        raise UnreadableFile(f"row {MAX_ROWS + 1}: more than {MAX_ROWS} rows")
    for number, values in enumerate(rows, start=1):
        if len(values) > MAX_COLUMNS:
            raise UnreadableFile(f"row {number}: {too_many_columns(len(values))}")


def depth(document: Any) -> int:
    """How deeply lists and mappings nest in ``document`` (without recursion)."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                break
            stack += [(item, level + 1) for item in node]
    return deepest


def check_storable(text: str, field: str) -> str:
    """``text`` when the FAQ files can hold it, else ``RowError`` naming ``field``."""
    bad = _UNSTORABLE.search(text)
    if bad is not None:
        what = "a NUL character" if bad[0] == "\x00" else "half of a UTF-16 character pair"
        raise RowError(f"{field} contains {what} (U+{ord(bad[0]):04X}), which cannot be stored")
    return text
