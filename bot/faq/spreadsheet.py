"""The FAQ as one spreadsheet: the column layout `tanya export` writes and `tanya import` reads.

One row per entry, one column per field and language, so officials can review and edit the
whole FAQ in any spreadsheet program and import it back without loss:

    topic, id, question_id, question_en, answer_id, answer_en, links, source, updated,
    valid_until, topic_title_id, topic_title_en, extra_question_id_1 .. extra_question_id_N,
    extra_question_en_1 .. extra_question_en_M

The fixed columns come first so they stay in place however many example questions the
entries have. A links cell holds one link per line, ``Title | https://...``. Dates are
written ``YYYY-MM-DD``. In CSV, a text a spreadsheet would run as a formula (``=``, ``+``,
``-``, ``@``...) gets a leading quote (``bot.csv_cells``), which the import takes away.

Files made by hand are read too: headers are matched ignoring case, spaces and punctuation,
may be Indonesian (``pertanyaan``, ``jawaban``, ``topik``, ``sumber``...), and a header
without a language (``question``, ``answer``) means the language given with ``--lang``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bot.atomic_file import replacing
from bot.csv_cells import Writer
from bot.faq.limits import check_storable
from bot.faq.loader import LANGUAGES, normalise_example
from bot.faq.model import Faq, Link
from bot.faq.rows import ImportRow, RowError
from bot.translatable import say

FORMATS = ("xlsx", "csv")
FIXED_COLUMNS = (
    "topic",
    "id",
    *(f"question_{language}" for language in LANGUAGES),
    *(f"answer_{language}" for language in LANGUAGES),
    "links",
    "source",
    "updated",
    "valid_until",
    *(f"topic_title_{language}" for language in LANGUAGES),
)
EXTRA_QUESTION = "extra_question_{language}_{number}"
LINK_SEPARATOR = " | "

# Fields whose columns carry a language (question_en); a header without one gets --lang.
LANGUAGE_FIELDS = ("question", "extra_question", "answer", "topic_title")
_ALIASES = {
    "topic": ("topic", "topik", "kategori", "category"),
    "topic_title": ("topic_title", "topic_name", "judul_topik", "nama_topik"),
    "question": ("question", "pertanyaan", "tanya", "q"),
    "extra_question": (
        "extra_question",
        "extra_questions",
        "questions",
        "other_questions",
        "pertanyaan_lain",
        "contoh_pertanyaan",
        "variasi_pertanyaan",
    ),
    "answer": ("answer", "jawaban", "jawab", "a"),
    "links": ("links", "link", "tautan", "url", "urls"),
    "source": ("source", "sumber"),
    "updated": ("updated", "last_updated", "updated_at", "diperbarui", "tanggal_diperbarui"),
    "valid_until": ("valid_until", "berlaku_sampai", "berlaku_hingga", "expires", "kedaluwarsa"),
}
_FIELD_OF = {alias: name for name, aliases in _ALIASES.items() for alias in aliases}
# "id" alone is the entry id, not Indonesian: checked before languages are looked for.
_ENTRY_ID = ("id", "entry_id", "faq_id", "slug", "kode")
_LANGUAGE_WORDS = {
    **dict.fromkeys(("id", "ind", "indonesia", "indonesian"), "id"),
    **dict.fromkeys(("en", "eng", "english", "inggris"), "en"),
}
_FILLER_WORDS = ("bahasa", "in", "dalam")
# Row numbers that spreadsheets often carry: not data, not worth a warning.
IGNORED_HEADERS = ("no", "nomor", "number", "nr")
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("januari", "january", "jan"),
            ("februari", "february", "feb", "pebruari"),
            ("maret", "march", "mar"),
            ("april", "apr"),
            ("mei", "may"),
            ("juni", "june", "jun"),
            ("juli", "july", "jul"),
            ("agustus", "august", "agu", "aug"),
            ("september", "sep", "sept"),
            ("oktober", "october", "okt", "oct"),
            ("november", "nov", "nop"),
            ("desember", "december", "des", "dec"),
        ],
        start=1,
    )
    for name in names
}
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MARKDOWN_LINK = re.compile(r"^\[(?P<title>[^\]]*)\]\((?P<url>[^)\s]+)\)$")


@dataclass(frozen=True)
class Column:
    """What a column holds: a field, its language when it has one."""

    field: str
    language: str | None = None


IGNORE = Column("ignore")


# --- reading headers and cells ----------------------------------------------------------


def _ascii_words(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()
    return re.sub(r"[^a-z0-9]+", "_", folded).strip("_")


def parse_header(header: str, language: str) -> Column | None:
    """The column a header names, ``IGNORE`` for row numbers, ``None`` when unknown."""
    name = _ascii_words(header)
    if name in IGNORED_HEADERS:
        return IGNORE
    if name in _ENTRY_ID:
        return Column("id")
    words = name.split("_")
    languages = [_LANGUAGE_WORDS[w] for w in words if w in _LANGUAGE_WORDS]
    numbers = [int(w) for w in words if w.isdigit()]
    rest = [w for w in words if w not in _LANGUAGE_WORDS and not w.isdigit()]
    base = "_".join(w for w in rest if w not in _FILLER_WORDS)
    field = _FIELD_OF.get(base)
    if field is None or len(languages) > 1:
        return None
    if field == "question" and numbers and numbers[0] > 1:
        field = "extra_question"  # question_2, pertanyaan 3: more ways to ask
    if field in LANGUAGE_FIELDS:
        return Column(field, languages[0] if languages else language)
    return None if languages else Column(field)


def cell_text(value: Any) -> str:
    """A cell as text: numbers without a spurious ``.0``, dates as ``YYYY-MM-DD``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def clean_question(text: str) -> str:
    return " ".join(text.split())


def clean_answer(text: str) -> str:
    # Trailing spaces would stop the answer from being written as a readable `|-` block;
    # runs of spaces inside a line are typing slips (indentation is kept).
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(re.sub(r"(?<=\S)[ \t]{2,}", " ", line).rstrip() for line in lines).strip()


def row_from_cells(
    where: str, cells: Iterable[tuple[Column, Any]], language: str
) -> ImportRow | None:
    """Turn one row's cells into an :class:`ImportRow`; ``None`` for an empty row."""
    row = ImportRow(where=where)
    seen: set[str] = set()
    has_value = False
    for column, value in _expand(cells):
        if column is IGNORE:
            continue
        _check_storable(value, column)
        if column.field in ("links", "source", "updated", "valid_until"):
            row.given.add(column.field)
        if _is_empty(value):
            continue
        has_value = True
        _set(row, column, value, language, seen)
    return row if has_value else None


def _check_storable(value: Any, column: Column) -> None:
    name = f"{column.field}_{column.language}" if column.language else column.field
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, dict):
            for text in (*map(str, item), *item.values()):
                _check_storable(text, column)
        elif isinstance(item, str):
            check_storable(item, name)


def _expand(cells: Iterable[tuple[Column, Any]]) -> Iterator[tuple[Column, Any]]:
    """JSON gives ``{"id": ..., "en": ...}`` where a spreadsheet has one column per language."""
    for column, value in cells:
        if isinstance(value, dict) and column.field in LANGUAGE_FIELDS:
            for key, item in value.items():
                language = _LANGUAGE_WORDS.get(_ascii_words(str(key)))
                if language is None:
                    raise RowError(
                        say("unknown language {key!r} in {field}", key=key, field=column.field)
                    )
                yield Column(column.field, language), item
        else:
            yield column, value


def _is_empty(value: Any) -> bool:
    if isinstance(value, list | tuple | dict):
        return not any(not _is_empty(item) for item in value)
    return not cell_text(value).strip()


def _set(row: ImportRow, column: Column, value: Any, language: str, seen: set[str]) -> None:
    field, lang = column.field, column.language or language
    if field == "question":
        items = value if isinstance(value, list) else [cell_text(value)]
        _add_questions(row, lang, [clean_question(_text(item, field)) for item in items], seen)
    elif field == "extra_question":
        items = value if isinstance(value, list) else cell_text(value).splitlines()
        _add_questions(row, lang, [clean_question(_text(item, field)) for item in items], seen)
    elif field == "answer":
        text = "\n".join(map(cell_text, value)) if isinstance(value, list) else _text(value, field)
        if lang in row.answers:
            raise RowError(say("two answers in the same language ({lang})", lang=lang))
        row.answers[lang] = clean_answer(text)
    elif field == "topic_title":
        row.topic_titles[lang] = _text(value, field).strip()
    elif field == "topic":
        row.topic = clean_question(_text(value, field))
    elif field == "id":
        row.entry_id = clean_question(_text(value, field))
    elif field == "links":
        row.links = parse_links(value)
    elif field == "source":
        row.source = _text(value, field).strip()
    elif field in ("updated", "valid_until"):
        setattr(row, field, parse_date(value, field))


def _text(value: Any, field: str) -> str:
    if isinstance(value, list | dict):
        raise RowError(
            say("{field} must be text, not {kind}", field=field, kind=type(value).__name__)
        )
    return cell_text(value)


def _add_questions(row: ImportRow, language: str, questions: list[str], seen: set[str]) -> None:
    for question in questions:
        key = normalise_example(question)
        if key and key not in seen:
            seen.add(key)
            row.questions.setdefault(language, []).append(question)


def parse_date(value: Any, field: str) -> date:
    """A date as spreadsheets write it: a date cell, ISO, or day first as in Indonesia."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = cell_text(value).strip()
    parts = re.split(r"[\s./-]+", text.casefold())
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T][\d:.]+)?", text)
    try:
        if iso:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
        if len(parts) == 3 and re.fullmatch(r"\d{4}", parts[0]):
            return date(int(parts[0]), int(parts[1]), int(parts[2]))
        if len(parts) == 3 and re.fullmatch(r"\d{4}", parts[2]):
            month = _MONTHS.get(parts[1]) or int(parts[1])
            return date(int(parts[2]), month, int(parts[0]))
    except ValueError:
        pass
    raise RowError(
        say("{field} {text!r} is not a date (write it as YYYY-MM-DD)", field=field, text=text)
    )


def parse_links(value: Any) -> tuple[Link, ...]:
    """Links from a cell (``Title | https://...`` per line) or a JSON list."""
    items = value if isinstance(value, list) else cell_text(value).splitlines()
    links: list[Link] = []
    for item in items:
        if isinstance(item, dict):
            links.append(_link(str(item.get("title") or ""), str(item.get("url") or "")))
        else:
            links += _links_in_line(cell_text(item).strip())
    return tuple(links)


def _links_in_line(line: str) -> list[Link]:
    if not line:
        return []
    if "|" in line:
        title, _, url = line.rpartition("|")
        return [_link(title, url)]
    markdown = _MARKDOWN_LINK.match(line)
    if markdown:
        return [_link(markdown["title"], markdown["url"])]
    urls = _URL.findall(line)
    title = _URL.sub(" ", line).strip(" :-–,;")
    if len(urls) == 1:
        return [_link(title, urls[0])]
    if urls and not title:
        return [_link("", url.rstrip(",;")) for url in urls]
    raise RowError(
        say("links: {line!r} is not a web address (write `Title | https://...`)", line=line)
    )


def _link(title: str, url: str) -> Link:
    url = url.strip()
    if url.casefold().startswith("www."):
        url = f"https://{url}"
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or " " in url:
        raise RowError(say("links: {url!r} is not a web address (https://...)", url=url))
    return Link(title=clean_question(title) or parsed.netloc, url=url)


def format_links(links: Iterable[Link]) -> str:
    return "\n".join(f"{link.title}{LINK_SEPARATOR}{link.url}" for link in links)


# --- writing the spreadsheet ------------------------------------------------------------


def header(faq: Faq) -> list[str]:
    extra = []
    for language in LANGUAGES:
        most = max((len(e.questions.get(language, ())) - 1 for e in faq.entries), default=0)
        extra += [EXTRA_QUESTION.format(language=language, number=n) for n in range(1, most + 1)]
    return [*FIXED_COLUMNS, *extra]


def table(faq: Faq) -> tuple[list[str], list[list[str | date | None]]]:
    """The header and one row per entry, in the FAQ's order."""
    columns = header(faq)
    rows = []
    for topic in faq.topics:
        for entry in topic.entries:
            values: dict[str, str | date | None] = {
                "topic": topic.slug,
                "id": entry.id,
                "links": format_links(entry.links) or None,
                "source": entry.source,
                "updated": entry.updated,
                "valid_until": entry.valid_until,
            }
            for language in LANGUAGES:
                questions = entry.questions.get(language, ())
                values[f"question_{language}"] = questions[0] if questions else None
                values[f"answer_{language}"] = entry.answers.get(language)
                values[f"topic_title_{language}"] = topic.titles.get(language)
                for number, question in enumerate(questions[1:], start=1):
                    values[EXTRA_QUESTION.format(language=language, number=number)] = question
            rows.append([values.get(column) for column in columns])
    return columns, rows


def export_faq(faq: Faq, path: Path, format: str) -> None:
    """Write the FAQ to ``path`` as XLSX or CSV, replacing it only once it is complete."""
    columns, rows = table(faq)
    with replacing(path) as temporary:
        if format == "xlsx":
            _write_xlsx(temporary, columns, rows)
        else:
            _write_csv(temporary, columns, rows)
        temporary.chmod(0o644)


def _write_csv(path: Path, columns: list[str], rows: list[list[str | date | None]]) -> None:
    # The BOM makes Excel read the file as UTF-8 (else it shows "Ã©" for "é").
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = Writer(file)  # cells a spreadsheet would compute get a quote
        writer.writerow(columns)
        writer.writerows([cell_text(value) for value in row] for row in rows)


def _write_xlsx(path: Path, columns: list[str], rows: list[list[str | date | None]]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "FAQ"
    sheet.append(columns)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    top = Alignment(vertical="top", wrap_text=True)
    for values in rows:
        sheet.append(values)
        for cell in sheet[sheet.max_row]:
            cell.alignment = top
            if isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text that looks like a formula stays text
    for number, name in enumerate(columns, start=1):
        wide = name.startswith(("answer", "question", "extra_question", "links"))
        sheet.column_dimensions[get_column_letter(number)].width = 50 if wide else 18
    sheet.freeze_panes = "C2"
    workbook.save(path)
