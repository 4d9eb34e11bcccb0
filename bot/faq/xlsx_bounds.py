"""Measure an XLSX workbook before openpyxl loads it.

openpyxl builds an object for every cell a sheet names, including each cell of a merged
range, and ``iter_rows`` walks the rectangle up to the farthest cell. A tiny file can
therefore ask for billions of cells (one cell at XFD1048576, a merge over the whole
sheet, a highly compressed run of empty cells) or, through XML entities, for gigabytes
of text. The workbook's parts are streamed here through defusedxml, which refuses
entity declarations, counting rows, columns, cells and merged ranges; openpyxl only
sees workbooks within ``bot.faq.limits``.
"""

from __future__ import annotations

import posixpath
import zipfile
import zlib
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from openpyxl.utils.cell import (
    column_index_from_string,
    coordinate_from_string,
    get_column_letter,
    range_boundaries,
)

from bot.faq.limits import (
    MAX_CELLS,
    MAX_COLUMNS,
    MAX_MERGED_RANGES,
    MAX_ROWS,
    MAX_UNPACKED_BYTES,
    too_many_columns,
)
from bot.faq.rows import UnreadableFile

NOT_XLSX = "not an XLSX workbook (save it from Excel as .xlsx)"
ENTITIES = (
    "the workbook declares XML entities, which are refused (they can make a small file "
    "fill the memory): save it again from Excel"
)
# The rectangle up to the farthest cell, which openpyxl walks row by row.
MAX_SPAN = 5_000_000


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _sheet_titles(archive: zipfile.ZipFile) -> dict[str, str]:
    """Worksheet part (``xl/worksheets/sheet1.xml``) -> the sheet's title."""
    targets: dict[str, str] = {}
    titles: dict[str, str] = {}
    try:
        for _, node in iterparse(archive.open("xl/_rels/workbook.xml.rels")):
            if _local(node.tag) == "Relationship" and node.get("Id"):
                target = node.get("Target", "")
                path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                targets[node.get("Id", "")] = posixpath.normpath(path)
        for _, node in iterparse(archive.open("xl/workbook.xml")):
            if _local(node.tag) == "sheet":
                ids = [v for k, v in node.attrib.items() if _local(k) == "id"]
                if ids and ids[0] in targets:
                    titles[targets[ids[0]]] = node.get("name", "")
    except KeyError:
        pass  # openpyxl will say what is missing
    return titles


class _Sheet:
    """Counts one worksheet part as it streams by."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.row = 0
        self.column = 0
        self.cells = 0
        self.merged = 0
        self.ranges = 0
        self.last_row = 0
        self.last_column = 0

    def refuse(self, where: str, why: str) -> UnreadableFile:
        return UnreadableFile(f"sheet {self.title!r}{where}: {why}")

    def start_row(self, number: str | None) -> None:
        self.row = int(number) if number and number.isdigit() else self.row + 1
        self.column = 0
        if self.row > MAX_ROWS:
            raise self.refuse(f" row {self.row}", f"more than {MAX_ROWS} rows")

    def cell(self, reference: str | None) -> None:
        if reference:
            letters, row = coordinate_from_string(reference)
            self.column, self.row = column_index_from_string(letters), row
        else:
            self.column += 1
        self.cells += 1
        where = f" row {self.row}"
        if self.row > MAX_ROWS:
            raise self.refuse(where, f"more than {MAX_ROWS} rows")
        if self.column > MAX_COLUMNS:
            letter = get_column_letter(min(self.column, 18_278))
            raise self.refuse(f"{where} column {letter}", too_many_columns(self.column))
        self.last_row = max(self.last_row, self.row)
        self.last_column = max(self.last_column, self.column)
        self._check_totals(where)

    def merge(self, reference: str) -> None:
        first_column, first_row, last_column, last_row = range_boundaries(reference)
        if None in (first_column, first_row, last_column, last_row):
            raise self.refuse("", f"merged cells {reference} are not a range")
        assert first_column and first_row and last_column and last_row
        if last_row > MAX_ROWS or last_column > MAX_COLUMNS:
            raise self.refuse(
                f" cells {reference}", f"merged beyond {MAX_ROWS} rows or {MAX_COLUMNS} columns"
            )
        self.ranges += 1
        self.merged += (last_row - first_row + 1) * (last_column - first_column + 1)
        self.last_row = max(self.last_row, last_row)
        self.last_column = max(self.last_column, last_column)
        if self.ranges > MAX_MERGED_RANGES:
            raise self.refuse("", f"more than {MAX_MERGED_RANGES} merged ranges")
        self._check_totals(f" cells {reference}")

    def _check_totals(self, where: str) -> None:
        if self.cells + self.merged > MAX_CELLS:
            raise self.refuse(where, f"more than {MAX_CELLS:,} cells".replace(",", " "))
        if self.last_row * self.last_column > MAX_SPAN:
            raise self.refuse(
                where,
                f"the sheet spans {self.last_row} rows by {self.last_column} columns; "
                "delete the empty rows and columns around the FAQ",
            )


def _scan_sheet(source: IO[bytes], sheet: _Sheet) -> None:
    for event, node in iterparse(source, events=("start", "end")):
        tag = _local(node.tag)
        if event == "end":
            if tag == "row":
                node.clear()  # memory stays flat however long the sheet
            continue
        if tag == "row":
            sheet.start_row(node.get("r"))
        elif tag == "c":
            sheet.cell(node.get("r"))
        elif tag == "mergeCell":
            sheet.merge(node.get("ref", ""))


def check_workbook(path: Path) -> None:
    """``UnreadableFile`` unless the workbook is within the limits and has no entities."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
            unpacked = sum(part.file_size for part in parts)
            if unpacked > MAX_UNPACKED_BYTES:
                raise UnreadableFile(
                    f"the workbook unpacks to {unpacked / 1e6:.0f} MB; at most "
                    f"{MAX_UNPACKED_BYTES // 2**20} MB can be imported"
                )
            titles = _sheet_titles(archive)
            for part in parts:
                name = part.filename
                if not name.endswith((".xml", ".rels")):
                    continue
                with archive.open(part) as source:
                    if name.startswith("xl/worksheets/") and name.count("/") == 2:
                        title = titles.get(name) or posixpath.basename(name)
                        _scan_sheet(source, _Sheet(title))
                    else:
                        for _ in iterparse(source):
                            pass  # only that it parses without entities
    except DefusedXmlException:
        raise UnreadableFile(ENTITIES) from None
    except (zipfile.BadZipFile, ParseError, ValueError, KeyError, EOFError, OSError):
        raise UnreadableFile(NOT_XLSX) from None
    except (NotImplementedError, zlib.error):
        raise UnreadableFile(NOT_XLSX) from None
