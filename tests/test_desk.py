"""The officials' desk on the real app: access control, CSRF, sign-in limits, answering a
web chat citizen, similar questions, privacy masking and hostile input."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from bot.config import Settings
from bot.desk.passwords import WeakPassword, check_strength, hash_password, verify_password
from bot.server import create_app
from bot.service import Loaded
from bot.store import Store
from tests.desk_helpers import PASSWORD, add_official, browser, csrf_of, post_form, running, sign_in

NIK = "3201234567890001"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.open(store_url)
    yield store
    store.close()


@pytest.fixture
def app(trained_settings: Settings, loaded: Loaded, store: Store) -> web.Application:
    add_official(store, "Ayu", "admin")
    add_official(store, "Budi", "agent")
    return create_app(trained_settings, loaded, store)


@pytest.fixture
async def server(app: web.Application) -> AsyncIterator[TestServer]:
    async with running(app) as server:
        yield server


@pytest.fixture
async def citizen(server: TestServer) -> AsyncIterator[ClientSession]:
    async with browser(server) as client:
        assert (await client.get("/chat")).status == 200
        yield client


@pytest.fixture
async def official(server: TestServer) -> AsyncIterator[ClientSession]:
    async with browser(server) as client:
        response = await sign_in(client, "Budi")
        assert response.status == 303, await response.text()
        yield client


async def ask(client: ClientSession, text: str, message_id: str) -> list[dict[str, Any]]:
    response = await client.post("/chat/api/messages", json={"text": text, "id": message_id})
    assert response.status == 200
    return list((await response.json())["replies"])


async def escalate(client: ClientSession, text: str, message_id: str) -> int:
    """Ask something and then for an official; return the ticket number."""
    await ask(client, text, message_id)
    [reply] = await ask(client, "/petugas", f"{message_id}-h")
    match = re.search(r"#(\d+)", reply["text"])
    assert match, reply
    return int(match.group(1))


async def test_asking_for_an_official_escalates_the_question_once(
    citizen: ClientSession, store: Store
) -> None:
    first = await escalate(citizen, "boleh bawa kucing ke taman kota?", "c1")
    [again] = await ask(citizen, "/petugas", "c3")
    assert f"#{first}" in again["text"]  # the same ticket as the question just before
    row = store.escalations.get(first)
    assert row is not None and row.question == "boleh bawa kucing ke taman kota?"
    # Asked again while the ticket is open: it joins that ticket, not a second one.
    assert await escalate(citizen, "kucing boleh dibawa ke taman kota tidak?", "c2") == first
    # Another need is another ticket.
    other = await escalate(citizen, "jadwal pengangkutan sampah di perumahan", "c4")
    assert other == first + 1
    assert store.escalations.count_open() == 2


def desk_routes(app: web.Application) -> list[tuple[str, str]]:
    desk = next(r for r in app.router.resources() if r.canonical == "/desk")
    routes = []
    for route in desk._app.router.routes():  # type: ignore[attr-defined]
        path = re.sub(r"\{\w+\}", "1", route.resource.canonical)  # already under /desk
        if route.resource.name == "static":
            path = "/desk/static/desk.css"
        routes.append((route.method, path))
    return routes


async def test_every_page_and_form_is_refused_without_sign_in(
    app: web.Application, server: TestServer
) -> None:
    public = {("GET", "/desk/login"), ("POST", "/desk/login"), ("GET", "/desk/static/desk.css")}
    routes = [r for r in desk_routes(app) if r not in public and r[0] != "HEAD"]
    assert len(routes) >= 12
    async with browser(server) as client:
        for method, path in routes:
            response = await client.request(method, path, allow_redirects=False)
            if method == "GET":
                assert response.status == 303, path
                assert response.headers["Location"].startswith("/desk/login?next="), path
            else:
                assert response.status == 401, path


async def test_audit_log_is_for_admins_only(server: TestServer) -> None:
    async with browser(server) as agent:
        await sign_in(agent, "Budi")
        refused = await agent.get("/desk/audit")
        assert refused.status == 403
        assert "tidak berhak" in await refused.text()
    async with browser(server) as admin:
        await sign_in(admin, "Ayu")
        page = await admin.get("/desk/audit")
        assert page.status == 200
        text = await page.text()
        assert "sign-in" in text and "Ayu" in text and "Budi" in text


async def test_session_cookie_is_secure_httponly_samesite(server: TestServer) -> None:
    async with browser(server) as client:
        response = await sign_in(client, "Budi")
        cookie = response.cookies["tanya_desk"]
        assert cookie["secure"] and cookie["httponly"]
        assert cookie["samesite"] == "Lax" and cookie["path"] == "/desk"
        assert (await client.get("/desk/", allow_redirects=False)).status == 200
        await post_form(client, "/desk/logout")
        assert (await client.get("/desk/", allow_redirects=False)).status == 303


async def test_wrong_passwords_are_rate_limited(server: TestServer) -> None:
    async with browser(server) as client:
        for _ in range(5):
            refused = await sign_in(client, "Budi", "salah-salah-salah")
            assert refused.status == 401
            assert "Nama atau kata sandi salah" in await refused.text()
        blocked = await sign_in(client, "Budi", PASSWORD)  # even the right password
        assert blocked.status == 429
        assert "Terlalu banyak percobaan" in await blocked.text()


def behind_proxy(settings: Settings, **desk: Any) -> Settings:
    """Settings for a bot behind a reverse proxy on this machine (as the README advises)."""
    return dataclasses.replace(
        settings,
        server=dataclasses.replace(settings.server, trusted_proxies=("127.0.0.1",)),
        desk=dataclasses.replace(settings.desk, **desk),
    )


async def test_nobody_can_lock_an_official_out_from_elsewhere(
    trained_settings: Settings, loaded: Loaded, store: Store
) -> None:
    add_official(store, "Budi", "agent")
    app = create_app(behind_proxy(trained_settings), loaded, store)
    async with running(app) as server, browser(server) as attacker, browser(server) as budi:
        for _ in range(5):
            refused = await sign_in(attacker, "Budi", "tebak-tebak-saja", via="203.0.113.66")
            assert refused.status == 401
        blocked = await sign_in(attacker, "Budi", PASSWORD, via="203.0.113.66")
        assert blocked.status == 429  # the guesser is stopped, even with the right password
        # Budi, at the office behind the same proxy, signs in as usual.
        assert (await sign_in(budi, "Budi", via="198.51.100.5")).status == 303
        failed = [r for r in store.officials.audit_log() if r.action == "sign-in-failed"]
        assert len(failed) == 5 and {r.detail for r in failed} == {
            "wrong password, from 203.0.113.66"
        }


async def test_one_address_may_not_try_many_accounts(
    trained_settings: Settings, loaded: Loaded, store: Store
) -> None:
    add_official(store, "Ayu", "admin")
    settings = behind_proxy(trained_settings, max_address_login_failures=4)
    async with running(create_app(settings, loaded, store)) as server, browser(server) as client:
        for name in ("admin", "root", "operator", "budi"):
            assert (await sign_in(client, name, "Rahasia-2024!", via="203.0.113.9")).status == 401
        assert (await sign_in(client, "Ayu", via="203.0.113.9")).status == 429
        assert (await sign_in(client, "Ayu", via="198.51.100.5")).status == 303


async def test_parallel_guesses_cannot_slip_past_the_limit(server: TestServer) -> None:
    async with browser(server) as client:
        page = await client.get("/desk/login")
        form = {"csrf": csrf_of(await page.text()), "name": "Budi", "next": ""}
        guesses = [
            client.post("/desk/login", data={**form, "password": f"tebakan-{n}"}) for n in range(8)
        ]
        statuses = sorted([r.status for r in await asyncio.gather(*guesses)])
    assert statuses == [401] * 5 + [429] * 3


async def test_a_password_typed_into_the_name_field_is_stored_nowhere(
    server: TestServer, store: Store
) -> None:
    async with browser(server) as client:
        assert (await sign_in(client, PASSWORD, "Budi")).status == 401
        assert (await sign_in(client, "Budi")).status == 303
    dump = "\n".join(
        repr(row)
        for table in store.engine.tables()
        for row in store.db.execute(f'SELECT * FROM "{table}"')
    )
    assert PASSWORD not in dump and PASSWORD.casefold() not in dump.casefold()
    [failed] = [r for r in store.officials.audit_log() if r.action == "sign-in-failed"]
    assert failed.target == "" and failed.detail == "unknown name, from 127.0.0.1"


async def test_signing_in_does_not_stall_the_channels(server: TestServer) -> None:
    """Argon2 takes a CPU for a sixth of a second: on the event loop it would stop every
    channel (and the web chat) for that long at each attempt."""
    started = time.perf_counter()
    verify_password(hash_password("contoh-kata-sandi-lain"), "salah")
    one_hash = time.perf_counter() - started
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.get_running_loop().create_task(tick())
    try:
        async with browser(server) as client:
            for _ in range(3):
                await sign_in(client, "Budi", "salah-salah-salah")
    finally:
        ticking.cancel()
    assert len(gaps) > 20
    assert max(gaps) < one_hash / 2, (max(gaps), one_hash)


async def test_forms_without_csrf_token_or_from_another_site_are_refused(
    server: TestServer, citizen: ClientSession, official: ClientSession, store: Store
) -> None:
    ticket = await escalate(citizen, "berapa biaya sewa gedung olahraga", "c1")
    answer_path = f"/desk/tickets/{ticket}/answer"
    no_token = await official.post(answer_path, data={"answer": "x"}, allow_redirects=False)
    assert no_token.status == 403
    page = await official.get(f"/desk/tickets/{ticket}")
    forged = await official.post(
        answer_path,
        data={"answer": "x", "csrf": csrf_of(await page.text())},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert forged.status == 403
    assert store.escalations.get(ticket).status == "open"  # type: ignore[union-attr]


async def test_official_answers_a_web_chat_citizen_who_rates_it(
    citizen: ClientSession, official: ClientSession, store: Store
) -> None:
    ticket = await escalate(citizen, f"NIK saya {NIK} tidak terdaftar di DTKS", "c1")
    inbox = await (await official.get("/desk/")).text()
    assert f"#{ticket}" in inbox
    assert NIK not in inbox and "************0001" in inbox  # masked in lists
    page = await (await official.get(f"/desk/tickets/{ticket}")).text()
    assert NIK in page  # whole on the escalation page, to a signed-in official
    response = await post_form(
        official, f"/desk/tickets/{ticket}/answer", answer="Silakan datang ke dinas sosial."
    )
    assert response.status == 303
    row = store.escalations.get(ticket)
    assert row is not None and row.status == "answered" and row.delivery == "waiting"
    history = await (await citizen.get("/chat/api/history")).json()
    answer, rate = history["messages"][-2:]
    assert "Silakan datang ke dinas sosial." in answer["text"] and f"#{ticket}" in answer["text"]
    assert [b["label"] for b in rate["buttons"]] == ["1", "2", "3", "4", "5"]
    row = store.escalations.get(ticket)
    assert row is not None and row.delivery == "sent"  # shown to the citizen
    [thanks] = await _press(citizen, rate["buttons"][3]["payload"])
    assert "Terima kasih" in thanks["text"]
    assert store.escalations.get(ticket).rating == 4  # type: ignore[union-attr]
    detail = await (await official.get(f"/desk/tickets/{ticket}")).text()
    assert "4/5" in detail and "terkirim" in detail


async def _press(client: ClientSession, payload: str) -> list[dict[str, Any]]:
    response = await client.post(
        "/chat/api/messages", json={"payload": payload, "id": payload.replace(":", "-")}
    )
    return list((await response.json())["replies"])


async def test_second_official_cannot_answer_twice(
    server: TestServer, citizen: ClientSession, official: ClientSession, store: Store
) -> None:
    ticket = await escalate(citizen, "apakah ada lowongan kerja di pemkot", "c1")
    assert (await post_form(official, f"/desk/tickets/{ticket}/answer", answer="A")).status == 303
    async with browser(server) as other:
        await sign_in(other, "Ayu")
        page = await other.get(f"/desk/tickets/{ticket}")
        response = await other.post(
            f"/desk/tickets/{ticket}/answer",
            data={"answer": "B", "csrf": csrf_of(await page.text())},
        )
        html = await response.text()
        assert response.status == 409 and "sudah ditangani" in html
        # Nothing the second official typed is lost: it is on the page, not sent.
        assert re.search(r'<section class="card unsent"[^$]*<textarea[^>]*>B</textarea>', html)
    assert store.escalations.get(ticket).answer == "A"  # type: ignore[union-attr]
    messages = store.messages(store.escalations.get(ticket).citizen_id)  # type: ignore[union-attr]
    assert [m.text for m in messages if m.action == "official"] == ["A"]


async def test_close_without_answer_records_reason_in_audit_log(
    server: TestServer, citizen: ClientSession, official: ClientSession, store: Store
) -> None:
    ticket = await escalate(citizen, "asdf qwerty", "c1")
    await post_form(official, f"/desk/tickets/{ticket}/close", reason="spam", note="tes")
    row = store.escalations.get(ticket)
    assert row is not None and row.status == "closed" and row.closed_reason == "spam: tes"
    [entry] = [r for r in store.officials.audit_log() if r.action == "close"]
    assert entry.official == "Budi" and entry.target == f"ticket #{ticket}"
    history = await (await official.get("/desk/history?status=closed")).text()
    assert f"#{ticket}" in history


async def test_similar_open_questions_get_the_same_answer_at_once(
    server: TestServer, official: ClientSession, store: Store
) -> None:
    questions = [
        "kapan pasar malam di alun-alun dibuka",
        "pasar malam alun alun buka kapan ya",
        "jadwal pasar malam alun-alun kapan",
        "berapa tarif parkir bus pariwisata",
    ]
    tickets = []
    for number, question in enumerate(questions):
        async with browser(server) as client:
            await client.get("/chat")
            tickets.append(await escalate(client, question, f"q{number}"))
    page = await (await official.get(f"/desk/tickets/{tickets[0]}")).text()
    offered = {int(n) for n in re.findall(r'name="also" value="(\d+)"', page)}
    assert offered == {tickets[1], tickets[2]}  # not the parking question
    # Offered, never chosen for the official: they tick what truly asks the same thing,
    # and the page says those citizens receive the answer as written.
    assert not re.search(r'name="also" value="\d+" checked', page)
    assert "receive your answer exactly as written" in page or "persis seperti" in page
    response = await post_form(
        official,
        f"/desk/tickets/{tickets[0]}/answer",
        answer="Pasar malam buka setiap Sabtu pukul 18.00.",
        also=sorted(offered),
    )
    assert response.status == 303
    states = [store.escalations.get(t).status for t in tickets]  # type: ignore[union-attr]
    assert states == ["answered", "answered", "answered", "open"]


async def test_without_its_sentence_encoder_the_desk_works_without_similar_questions(
    trained_settings: Settings,
    loaded: Loaded,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The encoder loads after the bot serves; when it cannot (weights missing or broken),
    officials still open and answer tickets, only without "similar questions"."""
    import bot.nlu.minilm

    def broken(backend: str = "int8") -> None:
        raise OSError("model.safetensors: no such file")

    monkeypatch.setattr(bot.nlu.minilm, "shared_model", broken)
    add_official(store, "Budi", "agent")
    async with running(create_app(trained_settings, loaded, store)) as server:
        tickets = []
        for number, question in enumerate(
            ["kapan pasar malam di alun-alun dibuka", "pasar malam alun alun buka kapan ya"]
        ):
            async with browser(server) as client:
                await client.get("/chat")
                tickets.append(await escalate(client, question, f"e{number}"))
        async with browser(server) as official:
            await sign_in(official, "Budi")
            page = await official.get(f"/desk/tickets/{tickets[0]}")
            assert page.status == 200
            assert 'name="also"' not in await page.text()
            response = await post_form(
                official, f"/desk/tickets/{tickets[0]}/answer", answer="Sabtu pukul 18.00."
            )
            assert response.status == 303
    assert "similar questions are off" in caplog.text


async def test_an_answer_with_personal_data_goes_to_its_citizen_only(
    server: TestServer, official: ClientSession, store: Store
) -> None:
    """An answer naming one citizen's NIK must not reach the others who asked alike."""
    tickets = []
    for number, question in enumerate(
        ["kapan pasar malam di alun-alun dibuka", "pasar malam alun alun buka kapan ya"]
    ):
        async with browser(server) as client:
            await client.get("/chat")
            tickets.append(await escalate(client, question, f"p{number}"))
    answer = f"Bapak Joko (NIK {NIK}), pasar malam buka Sabtu; data Anda sudah kami cek."
    response = await post_form(
        official, f"/desk/tickets/{tickets[0]}/answer", answer=answer, also=[tickets[1]]
    )
    page = await response.text()
    assert response.status == 400 and "data pribadi" in page  # refused, with the reason
    assert f"Bapak Joko (NIK {NIK})" in page  # and the answer is still in the box
    assert f'name="also" value="{tickets[1]}" checked' in page
    states = [store.escalations.get(t).status for t in tickets]  # type: ignore[union-attr]
    assert states == ["open", "open"]
    assert (
        await post_form(official, f"/desk/tickets/{tickets[0]}/answer", answer=answer)
    ).status == 303
    states = [store.escalations.get(t).status for t in tickets]  # type: ignore[union-attr]
    assert states == ["answered", "open"]


async def test_html_and_sql_in_questions_and_search_are_harmless(
    citizen: ClientSession, official: ClientSession, store: Store
) -> None:
    hostile = "<script>alert('x')</script>' OR 1=1; DROP TABLE escalations; --"
    ticket = await escalate(citizen, hostile, "c1")
    for path in ("/desk/", f"/desk/tickets/{ticket}"):
        page = await (await official.get(path)).text()
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(" in page
    for search in (hostile, '"unbalanced', "NEAR(", "*", "pasar OR"):
        response = await official.get("/desk/", params={"q": search})
        assert response.status == 200
    found = await (await official.get("/desk/", params={"q": "script alert"})).text()
    assert f"#{ticket}" in found
    assert store.escalations.count_open() == 1  # the table is still there


async def test_search_finds_questions_by_words(
    citizen: ClientSession, official: ClientSession
) -> None:
    first = await escalate(citizen, "izin keramaian untuk konser musik", "c1")
    second = await escalate(citizen, "subsidi pupuk untuk petani", "c2")
    page = await (await official.get("/desk/", params={"q": "konser"})).text()
    assert f"#{first}" in page and f"#{second}" not in page
    prefix = await (await official.get("/desk/", params={"q": "pupu"})).text()
    assert f"#{second}" in prefix and f"#{first}" not in prefix


async def test_search_finds_words_typed_without_their_accents(
    citizen: ClientSession, official: ClientSession
) -> None:
    """Officials type "jose" for José, as SQLite's index folds it (PostgreSQL: unaccent)."""
    jose = await escalate(citizen, "Pak José belum terima bantuan sosial", "c1")
    other = await escalate(citizen, "jalan rusak di depan pasar", "c2")
    for search in ("jose", "JOSÉ", "josé bantuan"):
        page = await (await official.get("/desk/", params={"q": search})).text()
        assert f"#{jose}" in page and f"#{other}" not in page, search


async def test_desk_can_be_turned_off(
    trained_settings: Settings, loaded: Loaded, store: Store
) -> None:
    settings = dataclasses.replace(
        trained_settings, desk=dataclasses.replace(trained_settings.desk, enabled=False)
    )
    async with running(create_app(settings, loaded, store)) as server, browser(server) as client:
        assert (await client.get("/desk/login")).status == 404


@pytest.mark.parametrize(
    ("password", "name", "strong"),
    [
        ("1234567890", "", False),
        ("abcdefghijkl", "", False),
        ("bismillah123", "", False),
        ("indonesia2024", "", False),
        ("Sulastri1990", "Sulastri", False),  # the account's own name and a year
        ("a" * 200, "", False),
        ("kata-sandi-rahasia", "Budi", True),
        ("pohon mangga di teras", "", True),
        ("Kucing-Oren-Lompat-7", "Budi", True),
    ],
)
def test_password_strength(password: str, name: str, strong: bool) -> None:
    if strong:
        check_strength(password, name)
    else:
        with pytest.raises(WeakPassword, match=r"terlalu .* / The password is too"):
            check_strength(password, name)
