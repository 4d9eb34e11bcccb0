"""CSV, XLSX and JSON files into import rows.

Spreadsheets come from many hands: a title row above the header, a BOM, `;` as the
delimiter (Excel in an Indonesian locale), Windows line ends, Windows-1252 instead of UTF-8,
a topic cell merged down over its rows, an answer merged over the rows of the questions it
answers. Each of these is read as the official meant it; what cannot be read is reported
with the row number the spreadsheet program shows.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from bot.csv_cells import restored
from bot.faq.limits import MAX_DEPTH, MAX_ROWS, check_file_size, check_grid, depth
from bot.faq.rows import ImportRow, Notice, ReadResult, RowError, UnreadableFile
from bot.faq.spreadsheet import IGNORE, Column, cell_text, parse_header, row_from_cells
from bot.translatable import message_of, say

# A title or a note may sit above the header; the header is looked for in these first rows.
HEADER_SEARCH_ROWS = 10
DELIMITERS = (",", ";", "\t")
TOO_DEEP = f"lists and objects nested more than {MAX_DEPTH} levels deep"


@dataclass
class Grid:
    """A sheet's cells by row number, with what merged cells did to them."""

    name: str
    rows: list[tuple[int, list[Any]]]
    # Cells that show a merged cell's value without holding it.
    filled: set[tuple[int, int]] = field(default_factory=set)
    # Cells inside a merge over several rows: (row, column) -> the merged range.
    merged: dict[tuple[int, int], str] = field(default_factory=dict)
    # CSV: `tanya export` quoted text a spreadsheet would compute (bot.csv_cells).
    quoted: bool = False


# --- CSV ----------------------------------------------------------------------------------


def read_csv(path: Path, language: str) -> ReadResult:
    notices: list[Notice] = []
    text = decode(read_bytes(path), path.name, notices)
    try:
        reader = csv.reader(
            io.StringIO(text, newline=""), delimiter=_delimiter(text), skipinitialspace=True
        )
        records = list(islice(reader, MAX_ROWS + 1))
    except csv.Error as exc:
        raise UnreadableFile(say("not a readable CSV file: {reason}", reason=str(exc))) from exc
    check_grid(records)
    grid = Grid(path.name, list(enumerate(records, start=1)), quoted=True)
    result = read_grid(grid, language)
    result.notices[:0] = notices
    return result


def read_bytes(path: Path) -> bytes:
    check_file_size(path)
    return path.read_bytes()


def decode(raw: bytes, name: str, notices: list[Notice]) -> str:
    """Text of a file: UTF-8 (with or without BOM), UTF-16, or Excel's Windows-1252."""
    if not raw.strip():
        raise UnreadableFile(say("the file is empty"))
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            text = raw[: exc.start].decode("utf-16", errors="replace")
            line = text.count("\n") + 1
            raise UnreadableFile(
                say("not valid UTF-16 text (line {line}: {reason})", line=line, reason=exc.reason)
            ) from exc
    if b"\x00" in raw[:4096]:
        raise UnreadableFile(say("not a text file (is it a spreadsheet saved under another name?)"))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise UnreadableFile(say("not UTF-8 text (line {line})", line=line)) from exc
        notices.append(
            Notice(
                name,
                say(
                    "not UTF-8 (line {line}): read as Windows-1252, the encoding of Excel's "
                    "plain 'CSV' format; check accented letters, or save as 'CSV UTF-8' next time",
                    line=line,
                ),
            )
        )
        return text


def _delimiter(text: str) -> str:
    """The delimiter of the header line: Excel writes `;` where `,` is the decimal comma."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return max(DELIMITERS, key=first.count) if any(d in first for d in DELIMITERS) else ","


# --- XLSX ---------------------------------------------------------------------------------


def read_xlsx(path: Path, language: str) -> ReadResult:
    from openpyxl import load_workbook

    from bot.faq.xlsx_bounds import check_workbook

    check_file_size(path)
    check_workbook(path)  # within the limits, no XML entities: openpyxl may load it
    try:
        # A file object, because openpyxl refuses a workbook whose name does not end in
        # .xlsx; not read-only, because merged cells are only known to a fully loaded sheet.
        with path.open("rb") as file:
            workbook = load_workbook(file, data_only=True)
    except Exception as exc:  # zip, XML and openpyxl's own errors all mean the same here
        raise UnreadableFile(say("not an XLSX workbook (save it from Excel as .xlsx)")) from exc
    sheets = workbook.worksheets
    results: list[tuple[str, ReadResult | None]] = []
    for sheet in sheets:
        name = path.name if len(sheets) == 1 else f"{path.name} sheet {sheet.title!r}"
        try:
            result: ReadResult | None = read_grid(_grid(sheet, name), language)
        except UnreadableFile:
            result = None
        results.append((sheet.title, result))
    readable = [(title, result) for title, result in results if result is not None]
    if not readable:
        raise UnreadableFile(
            say(
                "no sheet has a column of questions: the first row must name the columns, "
                "for example question and answer (or pertanyaan and jawaban)"
            )
        )
    combined = ReadResult()
    for title, result in results:
        if result is None:
            combined.notices.append(
                Notice(f"{path.name} sheet {title!r}", say("no column of questions; sheet skipped"))
            )
            continue
        for row in result.rows:
            if row.topic is None and len(readable) > 1:
                row.topic = title  # a workbook with a sheet per topic
        combined.rows += result.rows
        combined.notices += result.notices
    return combined


def _grid(sheet: Any, name: str) -> Grid:
    rows = [
        (number, list(values)) for number, values in enumerate(sheet.iter_rows(values_only=True), 1)
    ]
    grid = Grid(name, rows)
    for cells in sheet.merged_cells.ranges:
        top, column = cells.min_row, cells.min_col - 1
        value = rows[top - 1][1][column] if top <= len(rows) else None
        # Filled down only: a merge across columns must not copy an answer into the next one.
        for number in range(top, min(cells.max_row, len(rows)) + 1):
            values = rows[number - 1][1]
            if number > top:
                values[column] = value
                grid.filled.add((number, column))
            if cells.max_row > top:
                grid.merged[(number, column)] = cells.coord
    return grid


# --- the table, shared by CSV and XLSX ----------------------------------------------------


def read_grid(grid: Grid, language: str) -> ReadResult:
    """Rows of a sheet whose header names at least a column of questions."""
    result = ReadResult()
    header_number, columns = _header(grid, language, result.notices)
    answers = [i for i, column in enumerate(columns) if column.field == "answer"]
    owner_of_answer: dict[tuple[str, ...], ImportRow] = {}
    for number, values in grid.rows:
        if number <= header_number or _empty(grid, number, values):
            continue
        where = f"{grid.name} row {number}"
        if grid.quoted:
            values = [restored(value) if isinstance(value, str) else value for value in values]
        try:
            row = row_from_cells(where, zip(columns, values, strict=False), language)
        except RowError as exc:
            result.notices.append(Notice(where, message_of(exc), skipped=True))
            continue
        if row is None:
            continue
        shared = tuple(grid.merged[(number, i)] for i in answers if (number, i) in grid.merged)
        first = owner_of_answer.get(shared) if shared else None
        if first is not None:
            _add_questions(first, row)  # one merged answer: the rows ask the same thing
            continue
        owner_of_answer.setdefault(shared, row)
        result.rows.append(row)
    return result


def _empty(grid: Grid, number: int, values: list[Any]) -> bool:
    return all(
        (number, i) in grid.filled or not cell_text(value).strip() for i, value in enumerate(values)
    )


def _header(grid: Grid, language: str, notices: list[Notice]) -> tuple[int, list[Column]]:
    candidates = [(n, v) for n, v in grid.rows if any(cell_text(c).strip() for c in v)]
    width = max((len(values) for _, values in grid.rows), default=0)
    for number, values in candidates[:HEADER_SEARCH_ROWS]:
        values = values + [None] * (width - len(values))  # data beyond the header is reported
        parsed = [parse_header(cell_text(v), language) for v in values]
        if any(c is not None and c.field in ("question", "extra_question") for c in parsed):
            return number, _columns(grid, number, values, parsed, notices)
    raise UnreadableFile(
        say(
            "no column of questions: the first row must name the columns, for example "
            "question and answer (or pertanyaan and jawaban)"
        )
    )


def _columns(
    grid: Grid,
    number: int,
    values: list[Any],
    parsed: list[Column | None],
    notices: list[Notice],
) -> list[Column]:
    from openpyxl.utils import get_column_letter

    columns: list[Column] = []
    seen: set[Column] = set()
    for index, (value, column) in enumerate(zip(values, parsed, strict=True)):
        letter = get_column_letter(index + 1)
        text = cell_text(value).strip()
        if column is not None and column in seen and column.field == "question":
            column = Column("extra_question", column.language)  # several question columns
        repeated = column in seen and column is not IGNORE and column.field != "extra_question"
        if column is None or repeated:
            if text:
                why = (
                    say(
                        "repeats an earlier column {text!r} (column {letter}) ignored",
                        text=text,
                        letter=letter,
                    )
                    if column
                    else say(
                        "unknown column {text!r} (column {letter}) ignored",
                        text=text,
                        letter=letter,
                    )
                )
                notices.append(Notice(grid.name, why))
            elif _has_data(grid, number, index):
                notices.append(
                    Notice(grid.name, say("column {letter} has no header: ignored", letter=letter))
                )
            column = IGNORE
        seen.add(column)
        columns.append(column)
    return columns


def _has_data(grid: Grid, header: int, index: int) -> bool:
    return any(
        index < len(values) and cell_text(values[index]).strip()
        for number, values in grid.rows
        if number > header
    )


def _add_questions(first: ImportRow, row: ImportRow) -> None:
    from bot.faq.loader import normalise_example

    known = {normalise_example(question) for question in first.all_questions()}
    for language, questions in row.questions.items():
        for question in questions:
            if normalise_example(question) not in known:
                known.add(normalise_example(question))
                first.questions.setdefault(language, []).append(question)


# --- JSON ---------------------------------------------------------------------------------


def read_json(path: Path, language: str) -> ReadResult:
    """A list of entries, or topics ``{"topic", "title", "entries"}`` as in the FAQ files."""
    result = ReadResult()
    text = decode(read_bytes(path), path.name, result.notices)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableFile(
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except RecursionError:
        raise UnreadableFile(TOO_DEEP) from None  # nested far deeper than MAX_DEPTH
    if depth(document) > MAX_DEPTH:
        raise UnreadableFile(TOO_DEEP)
    unknown: set[str] = set()
    for number, (item, inherited) in enumerate(_json_entries(document), start=1):
        where = f"{path.name} entry {number}"
        if not isinstance(item, dict):
            result.notices.append(Notice(where, "not an object with question and answer", True))
            continue
        cells = [*inherited, *_json_cells(item, language, unknown)]
        try:
            row = row_from_cells(where, cells, language)
        except RowError as exc:
            result.notices.append(Notice(where, message_of(exc), skipped=True))
            continue
        if row is not None:
            result.rows.append(row)
    result.notices += [Notice(path.name, f"unknown field {k!r} ignored") for k in sorted(unknown)]
    return result


def _json_entries(document: Any) -> Iterator[tuple[Any, list[tuple[Column, Any]]]]:
    items = document if isinstance(document, list) else [document]
    if not isinstance(document, list) and not (
        isinstance(document, dict) and isinstance(document.get("entries"), list)
    ):
        raise UnreadableFile('expected a list of entries, or an object with "entries"')
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("entries"), list):
            inherited = [(Column("topic"), item.get("topic"))]
            inherited.append((Column("topic_title"), item.get("title")))
            for entry in item["entries"]:
                yield entry, [(c, v) for c, v in inherited if v is not None]
        else:
            yield item, []


def _json_cells(item: dict[str, Any], language: str, unknown: set[str]) -> list[tuple[Column, Any]]:
    cells = []
    for key, value in item.items():
        column = parse_header(str(key), language)
        if column is None:
            unknown.add(str(key))
        elif column is not IGNORE:
            cells.append((column, value))
    return cells
