"""What every import reader produces: FAQ rows in one neutral shape, and what it could not read.

Spreadsheets, JSON and FAQ web pages differ in everything but this: each yields rows that
know where they came from ("faq.csv row 7"), so a problem in one row is reported with its
place and the other rows are still imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from bot.faq.model import Link

# Optional entry fields a row may set or clear (an empty cell in a column the file has).
OPTIONAL_FIELDS = ("links", "source", "updated", "valid_until")


class UnreadableFile(Exception):
    """The whole file cannot be read: missing, empty, not a spreadsheet, not UTF-8..."""


class RowError(Exception):
    """One row cannot be imported; the message says why, the reader adds where."""


@dataclass(frozen=True)
class Notice:
    """A row that was not imported (``skipped``), or something the official should know."""

    where: str
    message: str
    skipped: bool = False

    def __str__(self) -> str:
        return f"{self.where}: {'not imported' if self.skipped else 'warning'}: {self.message}"


@dataclass
class ImportRow:
    """One entry as a file gives it; ``given`` names the optional fields it sets or clears."""

    where: str
    topic: str | None = None
    entry_id: str | None = None
    questions: dict[str, list[str]] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)
    topic_titles: dict[str, str] = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    source: str | None = None
    updated: date | None = None
    valid_until: date | None = None
    given: set[str] = field(default_factory=set)

    def all_questions(self) -> list[str]:
        return [question for texts in self.questions.values() for question in texts]


@dataclass
class ReadResult:
    """A file's rows, its notices, and a title for a new topic when the file has one."""

    rows: list[ImportRow] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    title: str | None = None
