"""`tanya import` and `tanya export`: officials' files in, one spreadsheet out, and back again."""

from __future__ import annotations

import csv
import difflib
import shutil
import textwrap
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from bot.faq import Faq, Link, Severity, check_faq, load_faq, read_faq
from bot.faq.importing import ImportReport, UnreadableFile, import_faq, slugify
from bot.faq.loader import normalise_example
from bot.faq.spreadsheet import Column, export_faq, parse_header
from tests.conftest import ROOT, SMALL_FAQ, run_tanya

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "import"
SAMPLE_FAQ = ROOT / "faq"


@pytest.fixture
def small(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SMALL_FAQ, tmp_path / "faq"))


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    folder = tmp_path / "imported"
    folder.mkdir()
    return folder


def snapshot(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    old, new = before.splitlines(), after.splitlines()
    removed: list[str] = []
    added: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new).get_opcodes():
        if tag != "equal":
            removed += old[i1:i2]
            added += new[j1:j2]
    return removed, added


def messages(report: ImportReport) -> list[str]:
    return [str(notice) for notice in report.notices]


def check_errors(directory: Path) -> list[str]:
    return [str(p) for p in check_faq(directory).problems if p.severity is Severity.ERROR]


# --- each format --------------------------------------------------------------------------


def test_messy_csv_from_the_command_line(empty: Path) -> None:
    source = FIXTURES / "messy.csv"
    raw = source.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw and b";" in raw  # still messy

    result = run_tanya("import", str(source), "--faq", str(empty), cwd=ROOT)

    assert result.returncode == 0, result.stderr.decode()
    err, out = result.stderr.decode(), result.stdout.decode()
    assert "Traceback" not in err
    # Row numbers as a spreadsheet shows them: the quoted answer spans two lines of row 2.
    assert err.splitlines() == [
        "messy.csv row 4: not imported: no answer",
        "messy.csv row 5: not imported: updated '2026-13-01' is not a date (write it as "
        "YYYY-MM-DD)",
    ]
    assert "messy.csv: warning: unknown column 'Keterangan' (column I) ignored" in out
    assert "2 new, 0 updated, 0 unchanged, 2 not imported" in out

    faq = read_faq(empty)
    [topic] = faq.topics
    assert (topic.slug, dict(topic.titles)) == ("pajak-daerah", {"id": "pajak daerah"})
    pay, discount = faq.entries
    assert pay.id == "bayar-pbb"
    assert pay.questions == {
        "id": ("Bagaimana cara bayar PBB?", "bayar pbb dimana", "bayar pbb online bisa?")
    }
    assert pay.answers == {"id": "Bayar di bank daerah\natau lewat aplikasi Contoh Pay."}
    assert pay.links == (Link("Info PBB", "https://bapenda.contoh.go.id/pbb"),)
    assert (pay.source, pay.updated) == ("Bapenda Kota Contoh", date(2026, 10, 1))
    assert discount.valid_until == date(2027, 8, 31)  # "31 Agustus 2027"
    assert run_tanya("check", "--faq", str(empty), cwd=ROOT).returncode == 0


def test_xlsx_with_a_title_row_and_merged_cells(small: Path, tmp_path: Path) -> None:
    path = tmp_path / "dinkes.xlsx"
    workbook = Workbook()
    sheet = workbook.active
    sheet["A1"] = "Daftar FAQ Dinas Kesehatan Kota Contoh"
    sheet.merge_cells("A1:G1")
    sheet.append(["No", "Topik", "Pertanyaan", "Jawaban", "Pertanyaan (English)", "Jawaban (EN)"])
    sheet["G2"] = "Berlaku sampai"
    rows = [
        (1, "vaksinasi", "Di mana vaksin rabies untuk anjing?", "Di Puskeswan.", "Where can my"
         " dog get a rabies shot?", "At the animal health centre.", datetime(2027, 6, 30)),
        (2, None, "Vaksin rabies gratis?", "Ya, gratis.\nBawa buku hewan.",
         "Is the rabies shot free?", "Yes, free.", None),
        (3, None, "biaya vaksin rabies berapa", None, "how much is the rabies vaccine", None, None),
        (None,) * 7,
        (4, None, None, "Jawaban tanpa pertanyaan.", None, None, None),
    ]  # fmt: skip
    for row in rows:
        sheet.append(list(row))
    sheet.merge_cells("B3:B7")  # one topic cell for all rows
    sheet.merge_cells("D4:D5")  # one answer for two ways to ask: one entry
    sheet.merge_cells("F4:F5")
    workbook.save(path)
    before = (small / "vaksinasi.yml").read_text(encoding="utf-8")

    report = import_faq(path, small)

    assert messages(report) == ["dinkes.xlsx row 7: not imported: no question"]
    assert len(report.created) == 2
    after = (small / "vaksinasi.yml").read_text(encoding="utf-8")
    assert after.startswith(before)  # appended, the existing entries untouched
    faq = read_faq(small)
    shot, free = (faq.entry(entry_id) for entry_id in report.created)
    assert shot.valid_until == date(2027, 6, 30)
    assert shot.answers == {"id": "Di Puskeswan.", "en": "At the animal health centre."}
    assert free.questions == {
        "id": ("Vaksin rabies gratis?", "biaya vaksin rabies berapa"),
        "en": ("Is the rabies shot free?", "how much is the rabies vaccine"),
    }
    assert free.answers["id"] == "Ya, gratis.\nBawa buku hewan."
    assert {e.topic for e in (shot, free)} == {"vaksinasi"}
    assert check_errors(small) == []


def test_json_with_topics_and_languages(empty: Path) -> None:
    report = import_faq(FIXTURES / "entries.json", empty)

    assert messages(report) == [
        "entries.json: warning: unknown field 'catatan' ignored",
        "entries.json entry 3: not imported: not an object with question and answer",
        "entries.json entry 4: not imported: links: 'lihat situs BPJS' is not a web address "
        "(write `Title | https://...`)",
    ]
    faq = read_faq(empty)
    topic = faq.topic("bpjs-kesehatan")
    assert topic is not None
    assert topic.titles == {"id": "BPJS Kesehatan", "en": "National health insurance"}
    register = faq.entry("bpjs-daftar-baru")
    assert register.questions == {
        "id": ("Bagaimana cara daftar BPJS Kesehatan?", "daftar bpjs mandiri gimana"),
        "en": ("How do I register for BPJS?", "register bpjs online"),
    }
    assert register.answers["en"] == (
        "Register in the Mobile JKN app or at a BPJS office.\nBring your KTP and KK."
    )
    assert register.links == (Link("Mobile JKN", "https://bpjs.contoh.go.id/jkn"),)
    assert register.updated == date(2026, 9, 15)
    assert faq.entry("bpjs-dipakai-luar-kota").questions["id"][1:] == (
        "bpjs berobat di luar kota",
        "pakai bpjs waktu mudik",
    )


def test_markdown_page(empty: Path) -> None:
    report = import_faq(FIXTURES / "faq-dinkes.md", empty, topic="kesehatan")

    assert messages(report)[0] == "faq-dinkes.md line 25: not imported: no answer"
    faq = read_faq(empty)
    [topic] = faq.topics
    assert (topic.slug, dict(topic.titles)) == ("kesehatan", {"id": "Tanya Jawab Dinas Kesehatan"})
    schedule, required, letter = faq.entries
    assert schedule.questions == {"id": ("Kapan jadwal imunisasi anak di puskesmas?",)}
    assert schedule.answers["id"] == (
        "Imunisasi dasar anak dilayani *setiap Selasa dan Kamis* pukul 08.00–12.00. "
        "Bawa buku _KIA_ anak.\n"
        "- Gratis di semua puskesmas\n"
        "- Jadwal lengkap: Jadwal imunisasi (https://dinkes.contoh.go.id/imunisasi)"
    )
    assert schedule.links == (Link("Jadwal imunisasi", "https://dinkes.contoh.go.id/imunisasi"),)
    # A deeper heading belongs to the answer; a higher one ends it.
    assert required.answers["id"].splitlines()[1:] == [
        "*Catatan*",
        "Imunisasi lanjutan diberikan di sekolah.",
    ]
    assert letter.id == "mendapatkan-surat-keterangan-sehat"
    # One question per entry: accepted, because the entry names where it came from.
    assert schedule.source == "faq-dinkes.md"
    assert check_errors(empty) == []


def test_html_page_with_headings_details_and_definition_list(empty: Path) -> None:
    report = import_faq(FIXTURES / "faq-dukcapil.html", empty, topic="kependudukan")

    assert messages(report)[0] == "faq-dukcapil.html line 28: not imported: no answer"
    faq = read_faq(empty)
    [topic] = faq.topics
    assert topic.titles == {"id": "Pertanyaan Umum Kependudukan"}  # the page's <h1>
    assert [(e.questions["id"][0], e.answers["id"]) for e in faq.entries] == [
        (
            "Bagaimana cara membuat KK baru setelah menikah?",
            "Bawa buku nikah, KK lama kedua pasangan, dan KTP ke kantor Dukcapil.\n"
            "1. Isi formulir F-1.01\n2. Serahkan berkas di loket",
        ),
        (
            "Berapa lama akta kelahiran selesai?",
            "Paling lama 3 hari kerja.\n"
            "Bisa juga diurus lewat layanan online (https://dukcapil.contoh.go.id/online).",
        ),
        ("Apakah mengurus KTP dipungut biaya?", "Tidak. Semua layanan Dukcapil gratis."),
    ]
    assert faq.entries[1].links == (Link("layanan online", "https://dukcapil.contoh.go.id/online"),)
    text = "".join(e.answers["id"] for e in faq.entries)
    assert "Beranda" not in text and "console" not in text and "©" not in text


def test_without_topic_the_file_name_is_the_topic(empty: Path) -> None:
    import_faq(FIXTURES / "faq-dukcapil.html", empty, language="en")

    topic = read_faq(empty).topic("faq-dukcapil")
    assert topic is not None and topic.titles == {"en": "Pertanyaan Umum Kependudukan"}


# --- the round trip -----------------------------------------------------------------------


@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_export_then_import_is_lossless(file_format: str, tmp_path: Path, empty: Path) -> None:
    faq_dir = Path(shutil.copytree(SAMPLE_FAQ, tmp_path / "faq"))
    sheet = tmp_path / f"faq.{file_format}"

    export = ("export", "--faq", str(faq_dir), "--format", file_format, "--out", str(sheet))
    result = run_tanya(*export, cwd=ROOT)
    assert result.returncode == 0, result.stderr.decode()
    assert "Exported 74 entries of 10 topics" in result.stdout.decode()
    report = import_faq(sheet, empty)

    assert report.notices == [] and len(report.created) == 74
    original, imported = read_faq(faq_dir), read_faq(empty)
    for before, after in zip(original.entries, imported.entries, strict=True):
        assert after == before
    assert [(t.slug, t.titles) for t in imported.topics] == [
        (t.slug, t.titles) for t in original.topics
    ]
    assert imported == original
    assert check_faq(empty).problems == check_faq(faq_dir).problems == []


def test_the_spreadsheet_has_a_column_per_field_and_language(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    export_faq(read_faq(SAMPLE_FAQ), path, "csv")

    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens it as UTF-8
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines(keepends=True)))
    assert list(rows[0])[:12] == [
        "topic",
        "id",
        "question_id",
        "question_en",
        "answer_id",
        "answer_en",
        "links",
        "source",
        "updated",
        "valid_until",
        "topic_title_id",
        "topic_title_en",
    ]
    row = next(r for r in rows if r["id"] == "vaksin-jadwal")
    assert row["question_en"] == "When is the booster vaccination schedule?"
    assert row["extra_question_en_1"] == "vaccination schedule this week"
    assert row["links"] == (
        "Jadwal vaksinasi Dinkes Kota Contoh | https://dinkes.contoh.go.id/jadwal-vaksin"
    )
    assert (row["updated"], row["valid_until"]) == ("2026-10-01", "2027-06-30")
    assert len(rows) == 74


def test_edits_in_the_spreadsheet_update_the_faq_files(tmp_path: Path) -> None:
    faq_dir = Path(shutil.copytree(SAMPLE_FAQ, tmp_path / "faq"))
    sheet = tmp_path / "faq.xlsx"
    export_faq(read_faq(faq_dir), sheet, "xlsx")
    workbook = load_workbook(sheet)
    rows = workbook.active
    columns = {cell.value: cell.column for cell in rows[1]}
    row = next(r for r in range(2, rows.max_row + 1) if rows.cell(r, 2).value == "vaksin-jadwal")
    rows.cell(row, columns["answer_en"]).value = "The schedule moved.\nSee the website."
    rows.cell(row, columns["valid_until"]).value = None
    rows.cell(row + 1, columns["topic_title_en"]).value = "Vaccinations"  # one row of the topic
    new_column = rows.max_column + 1  # an official adds a column for one more question
    rows.cell(1, new_column).value = "extra_question_en_12"
    rows.cell(row, new_column).value = "is there a vaccination on monday"
    workbook.save(sheet)
    before = (faq_dir / "vaksinasi.yml").read_text(encoding="utf-8")

    report = import_faq(sheet, faq_dir)

    assert (report.created, report.updated, len(report.unchanged)) == ([], ["vaksin-jadwal"], 73)
    after = (faq_dir / "vaksinasi.yml").read_text(encoding="utf-8")
    assert after.startswith(before[: before.index("topic:")])  # the header comment is kept
    entry = read_faq(faq_dir).entry("vaksin-jadwal")
    assert entry.answers["en"] == "The schedule moved.\nSee the website."
    assert entry.questions["en"][-1] == "is there a vaccination on monday"
    assert entry.valid_until is None
    removed, added = changed_lines(before, after)
    assert added == [
        "title: {id: Vaksinasi, en: Vaccinations}",
        "        - is there a vaccination on monday",
        "        The schedule moved.",
        "        See the website.",
    ]
    assert [line.strip()[:20] for line in removed] == [
        "title: {id: Vaksinas",
        "*Kota Contoh Vaccina",
        "- Community health c",
        "- Mobile vaccination",
        "- The programme runs",
        "The weekly schedule ",
        "valid_until: 2027-06",
    ]
    assert check_errors(faq_dir) == []


# --- importing again ----------------------------------------------------------------------


def test_importing_the_same_file_again_changes_nothing(empty: Path) -> None:
    import_faq(FIXTURES / "messy.csv", empty)
    first = snapshot(empty)

    again = import_faq(FIXTURES / "messy.csv", empty)

    assert (again.created, again.updated) == ([], [])
    assert again.unchanged == ["bayar-pbb", "ada-diskon-pbb-tahun-ini"]
    assert snapshot(empty) == first


def test_a_known_question_updates_its_entry(small: Path, tmp_path: Path) -> None:
    path = tmp_path / "ktp.csv"
    path.write_text(
        "question,answer,question_2\n"
        "ktp ilang gmn ngurusnya,Lapor ke Disdukcapil secara daring.,ktp hilang pas mudik\n",
        encoding="utf-8",
    )

    report = import_faq(path, small)

    assert (report.created, report.updated) == ([], ["ktp-hilang"])
    faq = read_faq(small)
    assert len(faq) == 6
    entry = faq.entry("ktp-hilang")
    assert entry.answers["id"] == "Lapor ke Disdukcapil secara daring."
    assert entry.answers["en"].startswith("Bring a police loss report")
    assert entry.questions["id"][-1] == "ktp hilang pas mudik"
    assert entry.updated == date(2026, 10, 1)  # a column the file lacks is left alone


def test_only_the_main_question_finds_an_existing_entry(tmp_path: Path) -> None:
    faq_dir = Path(shutil.copytree(SAMPLE_FAQ, tmp_path / "faq"))
    discount = read_faq(faq_dir).entry("pbb-keringanan")
    # An extra question of the messy row 6:
    assert "diskon pbb" in {normalise_example(q) for _, q in discount.all_questions()}

    report = import_faq(FIXTURES / "messy.csv", faq_dir)

    assert (report.created, report.updated) == (["bayar-pbb", "ada-diskon-pbb-tahun-ini"], [])
    assert (
        "messy.csv row 6: warning: 'diskon pbb' is already an example of entry pbb-keringanan: "
        "left out"
    ) in messages(report)
    faq = read_faq(faq_dir)
    assert faq.entry("pbb-keringanan") == discount
    assert faq.entry("ada-diskon-pbb-tahun-ini").questions == {
        "id": ("Apakah ada diskon PBB tahun ini?",)
    }
    assert faq.entry("bayar-pbb").topic == "pajak-daerah"  # appended to the sample's file
    assert check_errors(faq_dir) == []


def test_ids_are_slugs_of_the_questions_and_unique(empty: Path, tmp_path: Path) -> None:
    path = tmp_path / "pbb.csv"
    path.write_text(
        "pertanyaan;jawaban;pertanyaan lain\n"
        "Bagaimana cara bayar PBB?;Di bank.;pbb bayar dmn\n"
        "Gimana cara bayar PBB;Di bank daerah.;bayar pbb pakai apa\n"
        "Bagaimana cara bayar PBB?;Di bank atau daring.;\n",
        encoding="utf-8",
    )

    report = import_faq(path, empty, topic="pajak")

    assert report.created == ["bayar-pbb", "bayar-pbb-2"]
    assert read_faq(empty).entry("bayar-pbb").answers == {"id": "Di bank atau daring."}
    ktp = slugify("Bagaimana cara mengurus KTP yang hilang?", question=True)
    assert ktp == "mengurus-ktp-hilang"
    cafe = slugify("How do I register my café's NIB online, quickly and cheaply?", question=True)
    assert cafe == "register-cafe-s-nib-online-quickly"  # ASCII, at most six words


def test_a_question_of_another_entry_is_left_out(small: Path, tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    path.write_text(
        "id,question_id,extra_question_id_1,answer_id\n"
        "ktp-rusak,ktp saya rusak gimana,ktp ilang gmn ngurusnya,Ganti di Disdukcapil.\n",
        encoding="utf-8",
    )

    report = import_faq(path, small)

    assert messages(report) == [
        "new.csv row 2: warning: 'ktp ilang gmn ngurusnya' is already an example of entry "
        "ktp-hilang: left out",
        "new.csv: warning: 1 new entry has one example question only: add other ways citizens "
        "ask (`tanya check` lists them)",
    ]
    assert read_faq(small).entry("ktp-rusak").questions == {"id": ("ktp saya rusak gimana",)}
    assert check_errors(small) == []


def test_dry_run_writes_nothing(small: Path) -> None:
    before = snapshot(small)

    result = run_tanya(
        "import", str(FIXTURES / "entries.json"), "--faq", str(small), "--dry-run", cwd=ROOT
    )

    assert result.returncode == 0, result.stderr.decode()
    assert "Would import entries.json" in result.stdout.decode()
    assert "bpjs-kesehatan.yml (new file): 2 new" in result.stdout.decode()
    assert snapshot(small) == before


# --- what cannot be read ------------------------------------------------------------------


BAD_FILES = [
    ("missing.csv", None, "no such file"),
    ("empty.csv", b"  \r\n", "the file is empty"),
    ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file"),
    ("fake.xlsx", b"question,answer\nq,a\n", "not an XLSX workbook"),
    ("broken.xlsx", b"PK\x03\x04 not really a zip", "not an XLSX workbook"),
    ("old.xls", b"\xd0\xcf\x11\xe0", "save it as .xlsx"),
    ("notes.docx", b"hello", "unknown file type '.docx'"),
    ("no-header.csv", b"nama,alamat\nBudi,Jl. Mawar\n", "no column of questions"),
    ("bad.json", b'[{"question": "a", }]', "not valid JSON: Expecting property name"),
    ("object.json", b'{"question": "a"}', 'an object with "entries"'),
    ("plain.md", b"Just some text without headings.\n", "no questions found"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_unreadable_files_are_explained(
    small: Path, tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    before = snapshot(small)

    with pytest.raises(UnreadableFile, match=message):
        import_faq(path, small)

    assert snapshot(small) == before


def test_an_unreadable_file_exits_1_without_a_traceback(small: Path, tmp_path: Path) -> None:
    path = tmp_path / "faq.xlsx"
    path.write_text("not a workbook", encoding="utf-8")

    result = run_tanya("import", str(path), "--faq", str(small), cwd=ROOT)

    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"Error: {path}: not an XLSX workbook (save it from Excel as .xlsx)\n"
    )


def test_nothing_importable_exits_1(small: Path, tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text("question,answer\nsatu,\ndua,\n", encoding="utf-8")

    result = run_tanya("import", str(path), "--faq", str(small), cwd=ROOT)

    assert result.returncode == 1
    err = result.stderr.decode()
    assert "faq.csv row 2: not imported: no answer" in err
    assert "faq.csv row 3: not imported: no answer" in err
    assert "nothing could be imported from faq.csv" in err and "Traceback" not in err


def test_windows_1252_csv_is_read_with_a_warning(empty: Path, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("question;answer\nJam buka kafé?;08.00–16.00\n".encode("cp1252"))

    report = import_faq(path, empty, topic="umum")

    assert "read as Windows-1252" in messages(report)[0]
    assert read_faq(empty).entries[0].answers == {"id": "08.00–16.00"}


def test_bad_cells_skip_their_row_only(empty: Path, tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text(
        "topic,question,answer,links,valid_until\n"
        "umum,jam buka kantor?,08.00.,Situs | ftp://x.go.id,\n"
        "umum,alamat kantor?,Jl. Merdeka 1.,,2027-02-30\n"
        "!!!,telepon kantor?,0123.,,\n"
        "umum,email kantor?,info@contoh.go.id,www.contoh.go.id,31/12/2027\n",
        encoding="utf-8",
    )

    report = import_faq(path, empty)

    assert messages(report) == [
        "faq.csv row 2: not imported: links: 'ftp://x.go.id' is not a web address (https://...)",
        "faq.csv row 3: not imported: valid_until '2027-02-30' is not a date (write it as "
        "YYYY-MM-DD)",
        "faq.csv row 4: not imported: topic '!!!' has no letters or digits",
        "faq.csv: warning: 1 new entry has one example question only: add other ways citizens "
        "ask (`tanya check` lists them)",
    ]
    entry = read_faq(empty).entries[0]
    assert entry.links == (Link("www.contoh.go.id", "https://www.contoh.go.id"),)
    assert entry.valid_until == date(2027, 12, 31)


def test_a_broken_topic_file_is_not_touched(small: Path, tmp_path: Path) -> None:
    (small / "pajak.yml").write_text("topic: pajak\nentries: [\n", encoding="utf-8")
    path = tmp_path / "faq.csv"
    path.write_text("topic,question,answer\npajak,bayar pbb?,Di bank.\n", encoding="utf-8")
    before = snapshot(small)

    report = import_faq(path, small)

    assert messages(report) == [
        "faq.csv row 2: not imported: pajak.yml has errors: fix it first (run `tanya check`)"
    ]
    assert snapshot(small) == before


def test_export_refuses_a_faq_with_errors(small: Path, tmp_path: Path) -> None:
    (small / "rusak.yml").write_text("topic: [\n", encoding="utf-8")

    result = run_tanya("export", "--faq", str(small), "--out", str(tmp_path / "x.xlsx"), cwd=ROOT)

    assert result.returncode == 1
    assert b"rusak.yml" in result.stderr and b"Traceback" not in result.stderr
    assert not (tmp_path / "x.xlsx").exists()


# --- the pieces ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("question_en", Column("question", "en")),
        ("  Pertanyaan (Bahasa Indonesia) ", Column("question", "id")),
        ("Question", Column("question", "en")),  # --lang en
        ("Pertanyaan 2", Column("extra_question", "en")),
        ("extra_question_id_3", Column("extra_question", "id")),
        ("JAWABAN", Column("answer", "en")),
        ("ID", Column("id")),
        ("Topik", Column("topic")),
        ("topic_title_id", Column("topic_title", "id")),
        ("Berlaku Sampai", Column("valid_until")),
        ("Tautan", Column("links")),
        ("No.", Column("ignore")),
        ("Keterangan", None),
        ("source_en", None),
    ],
)
def test_headers(header: str, column: Column | None) -> None:
    assert parse_header(header, "en") == column


def test_one_question_is_enough_when_the_entry_names_its_source(tmp_path: Path) -> None:
    (tmp_path / "t.yml").write_text(
        textwrap.dedent("""\
            topic: t
            title: {id: T}
            entries:
              - id: satu
                questions:
                  id: [cuma satu]
                answer: {id: Jawab.}
                source: faq-lama.html
              - id: dua
                questions:
                  id: [cuma dua]
                answer: {id: Jawab.}
            """),
        encoding="utf-8",
    )

    faq, problems = load_faq(tmp_path)

    assert [(p.severity, p.entry, p.message) for p in problems] == [
        (Severity.WARNING, "satu", "only 1 example question: add other ways citizens ask it"),
        (Severity.ERROR, "dua", "needs at least 2 example questions, has 1"),
    ]
    assert isinstance(faq, Faq) and faq.get("satu") is not None and faq.get("dua") is None
