"""The FAQ spreadsheet uploaded on the desk: what it would change, then changing it.

The same import as `tanya import` (the same reading, checks and round-trip writing), in
two steps: a preview of the entries it adds, the entries it changes and how, and the
entries the file does not have; then, once an admin confirms, the import itself, and the
removal of the missing entries only when asked for. The FAQ must not have changed in
between (another official's "add to FAQ", an edit on the server): the preview would no
longer say what happens, so the upload is refused and has to be previewed again.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.faq import edit
from bot.faq.importing import ImportReport, import_faq
from bot.faq.loader import faq_files, load_faq
from bot.faq.model import Entry, Faq
from bot.translatable import say


class FaqChanged(edit.FaqEditError):
    """The FAQ files changed since the preview."""


@dataclass(frozen=True)
class Changed:
    entry: Entry
    fields: tuple[str, ...]  # "answer.id", "questions.en", "links", "source", ...


@dataclass(frozen=True)
class Preview:
    report: ImportReport
    added: tuple[Entry, ...]
    changed: tuple[Changed, ...]
    missing: tuple[Entry, ...]  # in the FAQ, not in the file: kept unless removal is asked
    digest: str  # of the FAQ files the preview was made from


def faq_digest(faq_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in faq_files(faq_dir) if faq_dir.is_dir() else []:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def preview_import(path: Path, faq_dir: Path, language: str) -> Preview:
    """What importing ``path`` would do; nothing is written. ``UnreadableFile`` or
    ``FaqEditError`` as for `tanya import`."""
    digest = faq_digest(faq_dir)
    before, _ = load_faq(faq_dir)
    report = import_faq(path, faq_dir, language=language, dry_run=True)
    after = _as_if_written(faq_dir, report)
    covered = {*report.created, *report.updated, *report.unchanged}
    return Preview(
        report=report,
        added=tuple(e for i in report.created if (e := after.get(i)) is not None),
        changed=tuple(
            Changed(new, _differences(old, new))
            for i in report.updated
            if (old := before.get(i)) is not None and (new := after.get(i)) is not None
        ),
        missing=tuple(e for e in before.entries if e.id not in covered),
        digest=digest,
    )


def apply_import(
    path: Path, faq_dir: Path, language: str, digest: str, remove: Sequence[str] = ()
) -> ImportReport:
    """Import ``path`` as previewed, then remove the entries ``remove`` names (those the
    file did not have). ``FaqChanged`` when the FAQ is not as it was at the preview."""
    if faq_digest(faq_dir) != digest:
        raise FaqChanged(
            say(
                "The FAQ changed since the preview (another edit was saved meanwhile): "
                "nothing was saved. Upload the file again to see what it would change now."
            )
        )
    report = import_faq(path, faq_dir, language=language)
    if remove:
        edit.remove_entries(faq_dir, list(remove))
    return report


def _as_if_written(faq_dir: Path, report: ImportReport) -> Faq:
    with tempfile.TemporaryDirectory(prefix="tanya-faq-preview-") as name:
        scratch = Path(name)
        for source in faq_files(faq_dir) if faq_dir.is_dir() else []:
            shutil.copyfile(source, scratch / source.name)
        for changed, text in report.texts.items():
            (scratch / changed.name).write_text(text, encoding="utf-8", newline="")
        faq, _ = load_faq(scratch)
    return faq


def _differences(old: Entry, new: Entry) -> tuple[str, ...]:
    fields = []
    for language in sorted({*old.questions, *new.questions}):
        if old.questions.get(language) != new.questions.get(language):
            fields.append(f"questions.{language}")
    for language in sorted({*old.answers, *new.answers}):
        if old.answers.get(language) != new.answers.get(language):
            fields.append(f"answer.{language}")
    for name in ("links", "source", "updated", "valid_until"):
        if getattr(old, name) != getattr(new, name):
            fields.append(name)
    return tuple(fields)
