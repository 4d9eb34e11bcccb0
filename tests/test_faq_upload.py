"""The FAQ spreadsheet on the desk: admins only, the same checks as `tanya import`, and
nothing saved before the preview is confirmed or when the FAQ changed meanwhile."""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestServer

from bot.config import Settings
from bot.faq import read_faq
from bot.faq.edit import add_question
from bot.faq.spreadsheet import export_faq
from bot.faq.upload import FaqChanged, apply_import, preview_import
from bot.server import create_app
from bot.service import load_answerer
from bot.store import Store
from tests.conftest import SMALL_FAQ, private_project
from tests.desk_helpers import add_official, browser, csrf_of, running, sign_in


@pytest.fixture
def faq(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SMALL_FAQ, tmp_path / "faq"))


def exported(faq: Path, tmp_path: Path, change: str = "", by: str = "") -> Path:
    """The FAQ as `tanya export` writes it (CSV), with one text replaced."""
    out = tmp_path / "faq.csv"
    export_faq(read_faq(faq), out, "csv")
    out.write_text(out.read_text(encoding="utf-8").replace(change, by), encoding="utf-8")
    return out


def test_a_round_trip_changes_nothing(faq: Path, tmp_path: Path) -> None:
    preview = preview_import(exported(faq, tmp_path), faq, "id")
    assert not preview.added and not preview.changed and not preview.missing
    assert len(preview.report.unchanged) == 6


def test_the_preview_says_what_changes_and_writes_nothing(faq: Path, tmp_path: Path) -> None:
    before = {p.name: p.read_bytes() for p in faq.iterdir()}
    sheet = exported(faq, tmp_path, "Datang ke kantor kecamatan", "Datang ke kelurahan")
    lines = sheet.read_text(encoding="utf-8").splitlines(keepends=True)
    sheet.write_text("".join(line for line in lines if ",akta-lahir," not in line))
    preview = preview_import(sheet, faq, "id")
    assert [(c.entry.id, c.fields) for c in preview.changed] == [("ktp-baru", ("answer.id",))]
    assert [e.id for e in preview.missing] == ["akta-lahir"]
    assert {p.name: p.read_bytes() for p in faq.iterdir()} == before

    apply_import(sheet, faq, "id", preview.digest, remove=["akta-lahir"])
    after = read_faq(faq)
    assert after.get("akta-lahir") is None
    assert after.entry("ktp-baru").answers["id"].startswith("Datang ke kelurahan")


def test_an_faq_changed_since_the_preview_is_not_overwritten(faq: Path, tmp_path: Path) -> None:
    sheet = exported(faq, tmp_path, "Datang ke kantor kecamatan", "Datang ke kelurahan")
    preview = preview_import(sheet, faq, "id")
    add_question(faq, "ktp-baru", "id", "rekam ktp el di mana ya")  # another official
    with pytest.raises(FaqChanged):
        apply_import(sheet, faq, "id", preview.digest)
    assert "rekam ktp el di mana ya" in read_faq(faq).entry("ktp-baru").questions["id"]


@pytest.fixture
def project(trained: Path, tmp_path: Path) -> Settings:
    return private_project(trained, tmp_path)


@pytest.fixture
async def server(project: Settings) -> AsyncIterator[TestServer]:
    store = Store.open(project.storage.location)
    add_official(store, "Ayu", "admin")
    add_official(store, "Budi", "agent")
    async with running(create_app(project, load_answerer(project), store)) as server:
        yield server


def upload(csrf: str, name: str, content: bytes) -> FormData:
    form = FormData()
    form.add_field("csrf", csrf)
    form.add_field("language", "id")
    form.add_field("file", content, filename=name, content_type="application/octet-stream")
    return form


async def test_the_spreadsheet_is_for_admins_and_checked_like_tanya_import(
    server: TestServer, project: Settings, tmp_path: Path
) -> None:
    async with browser(server) as agent:
        await sign_in(agent, "Budi")
        assert (await agent.get("/desk/faq")).status == 403
        assert (await agent.get("/desk/faq/download?format=csv")).status == 403
        page = await (await agent.get("/desk/")).text()
        refused = await agent.post("/desk/faq/upload", data=upload(csrf_of(page), "f.csv", b"x"))
        assert refused.status == 403
    async with browser(server) as admin:
        await sign_in(admin, "Ayu")
        page = await (await admin.get("/desk/faq")).text()
        csrf = csrf_of(page)
        download = await admin.get("/desk/faq/download?format=csv")
        assert download.status == 200
        assert "attachment" in download.headers["Content-Disposition"]
        assert "ktp-hilang" in (await download.read()).decode("utf-8-sig")

        old_excel = await admin.post("/desk/faq/upload", data=upload(csrf, "faq.xls", b"\xd0\xcf"))
        assert old_excel.status == 400
        assert "format Excel lama (.xls) tidak dibaca" in await old_excel.text()
        no_token = await admin.post("/desk/faq/upload", data=upload("salah", "f.csv", b"a"))
        assert no_token.status == 403
        huge = await admin.post(
            "/desk/faq/upload", data=upload(csrf, "f.csv", b"question,answer\n" * 400_000)
        )
        assert huge.status == 413 and "terlalu panjang" in await huge.text()
        bad_row = b"id,question_id,answer_id,updated\nktp-baru,bikin ktp,Ke kecamatan,kemarin\n"
        previewed = await admin.post("/desk/faq/upload", data=upload(csrf, "faq.csv", bad_row))
        text = await previewed.text()
        assert previewed.status == 200
        assert "faq.csv baris 2: updated 'kemarin' bukan tanggal" in html.unescape(text)
        token = re.search(r'name="token" value="([^"]+)"', text)
        assert token is not None
    assert read_faq(project.faq.dir).entry("ktp-baru").answers["id"].startswith("Datang")
