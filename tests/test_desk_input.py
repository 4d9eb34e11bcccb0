"""Hostile input at the desk's edge: ids that are too large or not ASCII digits, NUL and
lone surrogates, forms that are too large or do not parse. Each gets a clear 4xx page in
the official's language, never a 500 or a traceback; and no link can put its own text
on the desk as an alert."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from yarl import URL

from bot.config import Settings
from bot.server import create_app
from bot.service import Loaded
from bot.store import Store
from tests.desk_helpers import add_official, browser, csrf_of, post_form, running, sign_in

HUGE = "99999999999999999999"
SUPERSCRIPT_TWO = "%C2%B2"  # "²": str.isdigit() says it is a digit
ARABIC_THREE = "%D9%A3"  # "٣": a digit to Python's int(), not an id


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "tanya.db")


@pytest.fixture
def ticket(store: Store) -> int:
    citizen = store.citizen("webchat", "warga-1")
    message = store.save_incoming(citizen.id, "m1", "text", "kapan kantor kecamatan buka?")
    number, _ = store.open_escalation(citizen.id, message.id, "asked_human")
    return number


@pytest.fixture
async def server(
    trained_settings: Settings, loaded: Loaded, store: Store
) -> AsyncIterator[TestServer]:
    add_official(store, "Ayu", "admin")
    app: web.Application = create_app(trained_settings, loaded, store)
    async with running(app) as server:
        yield server


@pytest.fixture
async def admin(server: TestServer) -> AsyncIterator[ClientSession]:
    async with browser(server) as client:
        assert (await sign_in(client, "Ayu")).status == 303
        yield client


def url(path: str) -> URL:
    """The path exactly as written: percent escapes reach the server undecoded."""
    return URL(path, encoded=True)


GETS = [
    (f"/desk/tickets/{HUGE}", 404),
    (f"/desk/tickets/{2**63}", 404),
    (f"/desk/tickets/{SUPERSCRIPT_TWO}", 404),
    (f"/desk/tickets/{ARABIC_THREE}", 404),
    (f"/desk/announcements/{HUGE}", 404),
    (f"/desk/announcements/{SUPERSCRIPT_TWO}", 404),
    (f"/desk/announcements/{HUGE}/chart.svg", 404),
    (f"/desk/announcements/{SUPERSCRIPT_TWO}/results.csv", 404),
    ("/desk/tickets/%00", 400),
    ("/desk/?q=%00", 400),
    ("/desk/?q=pasar%00malam", 400),
    ("/desk/history?status=%00", 400),
    ("/desk/announcements?text=%00", 400),
    (f"/desk/?assignee={HUGE}", 200),
    (f"/desk/?assignee={SUPERSCRIPT_TWO}", 200),
    (f"/desk/audit?offset={HUGE}", 200),
    (f"/desk/audit?offset={SUPERSCRIPT_TWO}", 200),
    ("/desk/dashboard?period=month&month=0001-01", 200),
]
REFUSALS = {400: "Isian tidak sah", 404: "Tidak ditemukan", 413: "terlalu panjang"}
UNREADABLE = "Formulir tidak bisa dibaca"


@pytest.mark.parametrize(("path", "status"), GETS, ids=[g[0] for g in GETS])
async def test_hostile_urls_get_a_clear_page(
    server: TestServer, admin: ClientSession, path: str, status: int
) -> None:
    response = await admin.get(url(path), allow_redirects=False)
    page = await response.text()
    assert response.status == status, page
    assert "Traceback" not in page
    if status in REFUSALS:
        assert REFUSALS[status] in page  # the desk's page, in the official's language
        assert response.headers["X-Frame-Options"] == "DENY"


async def post(
    client: ClientSession, server: TestServer, path: str, body: bytes, content_type: str
) -> Any:
    return await client.post(url(path), data=body, headers={"Content-Type": content_type})


async def csrf(client: ClientSession) -> str:
    return csrf_of(await (await client.get("/desk/")).text())


FORM = "application/x-www-form-urlencoded"


async def test_hostile_forms_get_a_clear_page(
    server: TestServer, admin: ClientSession, store: Store, ticket: int
) -> None:
    token = (await csrf(admin)).encode()
    answer = f"/desk/tickets/{ticket}/answer"
    cases = [
        (f"/desk/tickets/{HUGE}/answer", b"answer=x&csrf=" + token, FORM, 404),
        (f"/desk/tickets/{SUPERSCRIPT_TWO}/close", b"reason=spam&csrf=" + token, FORM, 404),
        (f"/desk/announcements/{HUGE}/cancel", b"csrf=" + token, FORM, 404),
        (answer, b"answer=a%00b&csrf=" + token, FORM, 400),
        (answer, b"answer=" + b"x" * 100_000 + b"&csrf=" + token, FORM, 413),
        (answer, b"answer=x&csrf=" + token, FORM + "; charset=bogus", 400),
        (answer, b"answer=x&csrf=" + token, FORM + "; charset=utf-16", 400),
        # A charset that turns "\ud800" into a lone surrogate, which SQLite cannot store.
        (answer, b"answer=\\ud800&csrf=" + token, FORM + "; charset=raw_unicode_escape", 400),
        (answer, b"--XX\r\nbroken", "multipart/form-data; boundary=XX", 400),
        (
            answer,
            b'--XX\r\nContent-Disposition: form-data; name="answer"\r\n\r\n'
            b"\xed\xa0\x80\r\n--XX--\r\n",
            "multipart/form-data; boundary=XX",
            400,
        ),
    ]
    for path, body, content_type, status in cases:
        response = await post(admin, server, path, body, content_type)
        page = await response.text()
        assert response.status == status, (path, body[:40], content_type, page)
        assert REFUSALS[status] in page or (status == 400 and UNREADABLE in page), page
        assert "Traceback" not in page
    row = store.escalations.get(ticket)
    assert row is not None and row.status == "open"  # nothing was half done


async def test_bad_ids_among_ticked_boxes_are_ignored(
    server: TestServer, admin: ClientSession, store: Store, ticket: int
) -> None:
    response = await post_form(
        admin,
        f"/desk/tickets/{ticket}/answer",
        answer="Kantor kecamatan buka pukul 08.00.",
        also=[HUGE, "²", "-1", str(ticket)],
    )
    assert response.status == 303
    row = store.escalations.get(ticket)
    assert row is not None and row.status == "answered"


async def test_dates_outside_the_calendar_are_explained(
    server: TestServer, admin: ClientSession
) -> None:
    exported = await post_form(admin, "/desk/export", **{"from": "0001-01-01", "to": "0001-01-02"})
    assert exported.status == 400
    assert "Traceback" not in await exported.text()
    scheduled = await post_form(
        admin,
        "/desk/announcements/preview",
        kind="announcement",
        text="Uji",
        topics="pengumuman",
        channels="webchat",
        send_at="0001-01-01T00:00",
    )
    assert scheduled.status == 400
    page = await scheduled.text()
    assert "Waktu kirim tidak sah." in page and 'value="0001-01-01T00:00"' in page


async def test_a_link_cannot_put_its_own_text_on_the_desk(
    server: TestServer, admin: ClientSession, ticket: int
) -> None:
    forged = "Sistem diretas! Hubungi 0812-0000-0000 dan sebutkan kata sandi Anda"
    for query in ({"error": forged}, {"ok": forged}, {"error": forged, "sig": "0" * 32}):
        page = await (await admin.get("/desk/", params=query)).text()
        assert "Sistem diretas" not in page
    closed = await post_form(admin, f"/desk/tickets/{ticket}/close", reason="spam")
    location = closed.headers["Location"]
    assert "Tiket ditutup." in await (await admin.get(location)).text()  # the desk's own
    async with browser(server) as other:
        assert (await sign_in(other, "Ayu")).status == 303
        page = await (await other.get(location)).text()  # the same link, another session
        assert "Tiket ditutup." not in page
