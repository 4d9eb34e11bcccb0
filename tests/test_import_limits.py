"""Hostile files for `tanya import` and `tanya check`: each is refused (or its bad row
skipped) with a message naming the file, and the row or column where it applies, quickly
and without a traceback; the FAQ folder is left as it was."""

from __future__ import annotations

import io
import json
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from bot.faq import check_faq, read_faq
from bot.faq.importing import UnreadableFile, import_faq
from tests.conftest import ROOT, SMALL_FAQ, run_tanya

QUICK = 10.0  # seconds: each of these took minutes (or gigabytes) before


@pytest.fixture
def faq(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SMALL_FAQ, tmp_path / "faq"))


def snapshot(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def refused(path: Path, faq: Path, message: str) -> None:
    """Importing ``path`` raises UnreadableFile with ``message``, soon, changing nothing."""
    before = snapshot(faq)
    started = time.perf_counter()
    with pytest.raises(UnreadableFile, match=message):
        import_faq(path, faq)
    assert time.perf_counter() - started < QUICK
    assert snapshot(faq) == before


# --- text files ---------------------------------------------------------------------------


def test_utf16_with_a_lone_surrogate(faq: Path, tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    text = "question,answer\nsatu,jawaban\n".encode("utf-16-le")
    path.write_bytes(b"\xff\xfe" + text + b"\x00\xd8" + "dua,x\n".encode("utf-16-le"))
    refused(path, faq, r"not valid UTF-16 text \(line 3")

    result = run_tanya("import", str(path), "--faq", str(faq), cwd=ROOT)
    assert result.returncode == 1
    assert result.stderr.decode().startswith(f"Error: {path}: not valid UTF-16 text (line 3")
    assert "Traceback" not in result.stderr.decode()


def test_nul_and_lone_surrogates_in_json_skip_their_entry(faq: Path, tmp_path: Path) -> None:
    path = tmp_path / "faq.json"
    entries = [
        {"question": "kapan \ud800 buka?", "answer": "pukul 8"},
        {"question": "di mana kantornya?", "answer": "Jl. Merdeka\u0000 1"},
        {"question": "berapa biaya izin keramaian?", "answer": "Gratis."},
    ]
    path.write_text(json.dumps(entries), encoding="utf-8")  # escaped: valid JSON text

    report = import_faq(path, faq, topic="layanan")

    assert [str(n) for n in report.skipped] == [
        "faq.json entry 1: not imported: question_id contains half of a UTF-16 character "
        "pair (U+D800), which cannot be stored",
        "faq.json entry 2: not imported: answer_id contains a NUL character (U+0000), "
        "which cannot be stored",
    ]
    assert len(report.created) == 1 and check_faq(faq).errors == []


@pytest.mark.parametrize("levels", [40, 100_000])
def test_deeply_nested_json(faq: Path, tmp_path: Path, levels: int) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * levels + "]" * levels, encoding="utf-8")
    refused(path, faq, "nested more than 32 levels deep")


def test_a_csv_with_100000_columns(faq: Path, tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("question,answer," + "x," * 100_000 + "\nq,a\n", encoding="utf-8")
    refused(path, faq, "row 1: 100003 columns; an FAQ sheet has at most 1000")


def test_a_csv_with_too_many_rows(faq: Path, tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("question,answer\n" + "q,a\n" * 25_000, encoding="utf-8")
    refused(path, faq, "row 20001: more than 20000 rows")


PATHOLOGICAL_MARKDOWN = {
    "brackets": "[" * 200_000,
    "unclosed links": "[a](" * 50_000,
    "bold openers": "**a " * 50_000,
    "underscores": "__a " * 50_000,
    "autolinks": "<http://a" * 22_000,
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("text", PATHOLOGICAL_MARKDOWN.values(), ids=PATHOLOGICAL_MARKDOWN)
def test_markdown_that_made_the_link_regex_quadratic(faq: Path, tmp_path: Path, text: str) -> None:
    path = tmp_path / "halaman.md"
    path.write_text(f"# Layanan\n\n## Kapan kantor buka?\n\n{text}\n", encoding="utf-8")
    started = time.perf_counter()
    report = import_faq(path, faq, dry_run=True)
    assert time.perf_counter() - started < QUICK  # 200 KB took 42 s
    assert report.skipped == [] or "no question" not in str(report.skipped)


@pytest.mark.timeout(120)
def test_a_long_markdown_heading(faq: Path, tmp_path: Path) -> None:
    path = tmp_path / "halaman.md"
    path.write_text("## Kapan" + " " * 200_000 + "kantor buka? ##\n\nPukul 8.\n", encoding="utf-8")
    started = time.perf_counter()
    report = import_faq(path, faq, dry_run=True, topic="layanan")
    assert time.perf_counter() - started < QUICK
    assert len(report.created) == 1


# --- XLSX bombs ---------------------------------------------------------------------------


def workbook(path: Path, build: object = None) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "FAQ"
    sheet.append(["question", "answer"])
    sheet.append(["kapan kantor buka?", "pukul 8"])
    if callable(build):
        build(sheet)
    book.save(path)
    return path


def rewrite(path: Path, part: str, content: bytes) -> Path:
    """The workbook with one of its parts replaced (or added)."""
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    parts[part] = content
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return path


@pytest.mark.timeout(120)
def test_a_cell_in_the_far_corner(faq: Path, tmp_path: Path) -> None:
    path = workbook(tmp_path / "far.xlsx", lambda sheet: sheet.cell(1_048_576, 16_384, "x"))
    refused(path, faq, "sheet 'FAQ' row 1048576: more than 20000 rows")


def test_a_cell_beyond_the_columns(faq: Path, tmp_path: Path) -> None:
    path = workbook(tmp_path / "wide.xlsx", lambda sheet: sheet.cell(2, 5000, "x"))
    refused(path, faq, "sheet 'FAQ' row 2 column GJH: 5000 columns; an FAQ sheet has at most")


def with_merges(path: Path, ranges: list[str]) -> Path:
    """The workbook with merged ranges written straight into its sheet (openpyxl itself
    would build every merged cell while writing them)."""
    with zipfile.ZipFile(path) as source:
        sheet = source.read("xl/worksheets/sheet1.xml")
    merges = "".join(f'<mergeCell ref="{r}"/>' for r in ranges)
    block = f'</sheetData><mergeCells count="{len(ranges)}">{merges}</mergeCells>'
    return rewrite(path, "xl/worksheets/sheet1.xml", sheet.replace(b"</sheetData>", block.encode()))


@pytest.mark.timeout(120)
def test_a_merge_over_the_whole_sheet(faq: Path, tmp_path: Path) -> None:
    path = with_merges(workbook(tmp_path / "merged.xlsx"), ["C1:XFD1048576"])
    refused(path, faq, r"sheet 'FAQ' cells C1:XFD1048576: merged beyond 20000 rows")


@pytest.mark.timeout(120)
def test_merges_that_add_up(faq: Path, tmp_path: Path) -> None:
    ranges = [f"A{row}:AL{row + 1}" for row in range(3, 19_000, 2)]
    path = with_merges(workbook(tmp_path / "merges.xlsx"), ranges)
    refused(path, faq, "more than 500 000 cells")


@pytest.mark.timeout(120)
def test_a_million_compressed_cells(faq: Path, tmp_path: Path) -> None:
    path = workbook(tmp_path / "cells.xlsx")
    rows = io.BytesIO()
    rows.write(
        b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns='
        b'"http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    )
    for number in range(1, 2_001):
        cells = b"<c/>" * 500  # cells without a reference follow one another
        rows.write(b'<row r="%d">%s</row>' % (number, cells))
    rows.write(b"</sheetData></worksheet>")
    rewrite(path, "xl/worksheets/sheet1.xml", rows.getvalue())
    assert path.stat().st_size < 200_000
    refused(path, faq, "sheet 'FAQ' row 1001: more than 500 000 cells")


def test_xml_entity_expansion(faq: Path, tmp_path: Path) -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;'
        b'&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" '
        b'uniqueCount="1"><si><t>&c;</t></si></sst>'
    )
    path = rewrite(workbook(tmp_path / "laughs.xlsx"), "xl/sharedStrings.xml", laughs)
    refused(path, faq, "the workbook declares XML entities, which are refused")


def test_a_part_that_unpacks_to_gigabytes(faq: Path, tmp_path: Path) -> None:
    path = rewrite(workbook(tmp_path / "zip.xlsx"), "xl/media/padding.bin", bytes(150 * 2**20))
    assert path.stat().st_size < 1_000_000
    refused(path, faq, "the workbook unpacks to 157 MB; at most 100 MB can be imported")


def test_a_normal_workbook_still_imports(faq: Path, tmp_path: Path) -> None:
    report = import_faq(workbook(tmp_path / "layanan.xlsx"), faq)
    assert report.skipped == [] and len(report.created) == 1


# --- tanya check --------------------------------------------------------------------------


def topic_file(faq: Path, text: str) -> Path:
    path = faq / "layanan.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "text",
    [
        "topic: layanan\ntitle: {id: Layanan}\nentries: " + "[" * 5000 + "]" * 5000 + "\n",
        "topic: layanan\ntitle: {id: Layanan}\nentries:\n"
        + "".join("  " * (level + 1) + "a:\n" for level in range(400)),
    ],
    ids=["flow", "block"],
)
def test_check_refuses_deep_nesting(faq: Path, text: str) -> None:
    path = topic_file(faq, text)
    started = time.perf_counter()
    report = check_faq(faq)
    assert time.perf_counter() - started < QUICK  # the flow case took 30 s, then recursed
    [error] = report.errors
    assert error.path == path and "nested more than 32 levels deep" in error.message


@pytest.mark.parametrize(
    "text", ["", "\n\n", "~\n", "null\n", "# entries will come later\n# (Budi)\n"]
)
def test_check_refuses_an_empty_topic_file(faq: Path, text: str) -> None:
    path = topic_file(faq, text)
    [error] = check_faq(faq).errors
    assert error.path == path and "the file is empty" in error.message
    assert len(read_faq(SMALL_FAQ)) > 0


def test_tanya_check_names_the_empty_file(faq: Path) -> None:
    path = topic_file(faq, "# nothing yet\n")
    result = run_tanya("check", "--faq", str(faq), cwd=ROOT)
    assert result.returncode == 1
    err = result.stderr.decode()
    assert f"{path}:1: error: the file is empty" in err and "Traceback" not in err
