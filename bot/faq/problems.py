"""Problems found in FAQ files, located precisely enough for an official to fix them."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one place: file, line, entry id and field."""

    severity: Severity
    path: Path
    message: str
    line: int | None = None
    entry: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = str(self.path) + (f":{self.line}" if self.line else "")
        parts = []
        if self.entry:
            parts.append(f"entry {self.entry}")
        if self.field:
            parts.append(f"field {self.field}")
        context = f" ({', '.join(parts)})" if parts else ""
        return f"{where}: {self.severity.value}{context}: {self.message}"


class FaqError(Exception):
    """The FAQ has errors; ``problems`` says where and what."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity is Severity.ERROR]
        lines = "\n".join(f"  {p}" for p in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"the FAQ has {len(errors)} error(s); run `tanya check`:\n{lines}{more}")
