"""CSV cells that a spreadsheet program shows as text, never runs as a formula.

Every CSV the project writes (conversations, poll and survey results, the report, the
FAQ spreadsheet) may hold text a citizen or an official typed. Excel and LibreOffice run
a cell that begins with ``=``, ``+``, ``-`` or ``@`` (tab and carriage return also lead
into one) as a formula, which can fetch URLs or run commands when the file is opened
("CSV injection"). OWASP's rule is applied: such a cell gets a leading single quote.

The FAQ spreadsheet must survive ``tanya export`` -> ``tanya import`` unchanged, so the
quote is reversible: a text that already begins with quotes before a formula character
gets one more, and :func:`restored` takes exactly one away again.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTED_FORMULA = re.compile(r"'+[=+\-@\t\r]")
_NEEDS_QUOTE = re.compile(r"'*[=+\-@\t\r]")


def harmless(value: Any) -> Any:
    """``value`` as a cell to write: text that a spreadsheet would compute gets a quote.

    Numbers are left alone (they are written by the program, never typed by a citizen).
    """
    if isinstance(value, str) and _NEEDS_QUOTE.match(value):
        return "'" + value
    return value


def restored(text: str) -> str:
    """The text :func:`harmless` was given, from a cell read back from a spreadsheet."""
    return text[1:] if _QUOTED_FORMULA.match(text) else text


class _Writes(Protocol):
    def write(self, text: str, /) -> Any: ...


class Writer:
    """``csv.writer`` whose every cell passes through :func:`harmless`.

    The csv module quotes a cell only for the characters of its own line ending: with
    ``lineterminator="\\n"`` a carriage return inside a cell would be written bare and
    start a new row in a spreadsheet (one that may begin with ``=``). Such a cell's
    carriage returns become line feeds, which are quoted.
    """

    def __init__(self, file: _Writes, **options: Any) -> None:
        self._writer = csv.writer(file, **options)
        self._bare_cr = "\r" not in self._writer.dialect.lineterminator

    def _cell(self, value: Any) -> Any:
        value = harmless(value)
        if self._bare_cr and isinstance(value, str) and "\r" in value:
            value = value.replace("\r\n", "\n").replace("\r", "\n")
        return value

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([self._cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
