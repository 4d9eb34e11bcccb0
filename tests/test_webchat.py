"""Web chat API on the real aiohttp app: sessions, answers, buttons, history, bad input."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.channels.webchat import SESSION_HEADER
from bot.config import Settings
from bot.server import STORE, create_app
from bot.service import Loaded
from bot.store import Store
from tests.desk_helpers import add_official


@pytest.fixture
async def client(
    trained_settings: Settings, loaded: Loaded, store_url: str
) -> AsyncIterator[TestClient]:
    app = create_app(trained_settings, loaded, Store.open(store_url))
    async with TestClient(TestServer(app)) as test_client:
        page = await test_client.get("/chat")
        assert page.status == 200
        # The page carries its session and sends it with every request, as chat.js does.
        test_client.session.headers[SESSION_HEADER] = session_of(await page.text())
        yield test_client


def session_of(page: str) -> str:
    match = re.search(r'<meta name="tanya-session" content="([^"]+)">', page)
    assert match, "the chat page carries no session"
    return match.group(1)


async def say(client: TestClient, **body: Any) -> list[dict[str, Any]]:
    response = await client.post("/chat/api/messages", json=body)
    assert response.status == 200, await response.text()
    return list((await response.json())["replies"])


async def test_page_and_scripts_have_no_third_party_code(client: TestClient) -> None:
    page = await (await client.get("/chat")).text()
    assert '<script src="/chat/chat.js"></script>' in page
    assert "http://" not in page and "https://" not in page
    for path in ("/chat/chat.js", "/chat/embed.js"):
        response = await client.get(path)
        assert response.status == 200
        assert response.content_type == "application/javascript"


async def test_question_answer_and_feedback(client: TestClient) -> None:
    [prompt] = await say(client, text="ktp saya hilang gimana", id="a1")
    assert prompt["text"].startswith("Bawa surat kehilangan")
    assert prompt["text"].endswith("Apakah jawaban ini membantu?")
    assert [b["label"] for b in prompt["buttons"]] == ["👍 Ya", "👎 Tidak"]
    [thanks] = await say(client, payload=prompt["buttons"][0]["payload"], id="a2")
    assert thanks["text"] == "Terima kasih atas masukan Anda!"


async def test_resubmitted_message_is_answered_once(client: TestClient) -> None:
    assert await say(client, text="halo", id="same")
    assert await say(client, text="halo", id="same") == []


async def test_history_shows_the_conversation(client: TestClient) -> None:
    await say(client, text="/start", id="h1")  # sent by the page itself: not shown back
    await say(client, text="/bahasa en", id="h2")  # the page's language switch: neither
    await say(client, text="where can I get vaccinated?", id="h3")
    data = await (await client.get("/chat/api/history")).json()
    history = data["messages"]
    assert [m["from"] for m in history] == ["bot", "bot", "citizen", "bot"]
    assert history[3]["text"].startswith("Vaccination is available")
    # After a reload the last answer's buttons still work; the page speaks English.
    assert [b["label"] for b in history[3]["buttons"]] == ["👍 Yes", "👎 No"]
    assert data["language"] == "en"


async def test_works_in_a_frame_that_may_not_keep_cookies(
    trained_settings: Settings, loaded: Loaded, tmp_path: Path
) -> None:
    """Embedded on another site, a browser may refuse the chat's cookie: the page's own
    copy of its session still works; and another site cannot post with the cookie."""
    app = create_app(trained_settings, loaded, Store.open(tmp_path / "tanya.db"))
    async with TestClient(TestServer(app)) as frame:
        page = await frame.get("/chat")
        cookie = page.headers["Set-Cookie"]
        assert "SameSite=None" in cookie and "Secure" in cookie
        frame.session.cookie_jar.clear()  # third-party cookies blocked
        session = session_of(await page.text())
        answer = await frame.post(
            "/chat/api/messages",
            json={"text": "halo", "id": "e1"},
            headers={SESSION_HEADER: session},
        )
        assert answer.status == 200
        assert (await answer.json())["replies"][0]["text"].startswith("Halo!")
        # A page on another site posting with the citizen's cookie is refused.
        frame.session.cookie_jar.update_cookies({"tanya_chat": session})
        forged = await frame.post(
            "/chat/api/messages",
            json={"text": "spam", "id": "e2"},
            headers={"Origin": "https://attacker.example"},
        )
        assert forged.status == 400


async def test_an_open_page_polls_for_an_officials_answer_once(
    client: TestClient, store_url: str
) -> None:
    await say(client, text="boleh bawa kucing ke taman kota?", id="u1")
    [handed_over] = await say(client, text="/petugas", id="u2")
    ticket = int(re.findall(r"#(\d+)", handed_over["text"])[-1])
    cursor = (await (await client.get("/chat/api/history")).json())["cursor"]
    # The replies to the citizen's own messages came with them: nothing to poll yet.
    assert await updates(client, cursor) == ([], cursor)

    store = Store.open(store_url)  # the desk, as another process would
    official = add_official(store, "Budi")
    store.escalations.answer(ticket, official.id, "Boleh, asal kucingnya dalam kandang.", "[]")
    store.close()
    [answer, rate], cursor = await updates(client, cursor)
    assert answer["text"].startswith(f"Petugas menjawab pertanyaan Anda (tiket #{ticket})")
    assert "asal kucingnya dalam kandang" in answer["text"]
    assert [b["label"] for b in rate["buttons"]] == ["1", "2", "3", "4", "5"]
    assert await updates(client, cursor) == ([], cursor)
    # Another browser (no session) gets nothing, and a bad cursor a clear error.
    client.session.cookie_jar.clear()
    del client.session.headers[SESSION_HEADER]
    assert await updates(client, 0) == ([], 0)
    client.session.headers[SESSION_HEADER] = "x"
    response = await client.get("/chat/api/updates?after=latest")
    assert response.status == 400
    assert "after must be a message number" in await response.text()


async def updates(client: TestClient, after: int) -> tuple[list[dict[str, Any]], int]:
    response = await client.get(f"/chat/api/updates?after={after}")
    assert response.status == 200, await response.text()
    data = await response.json()
    return data["messages"], data["cursor"]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"text": 5}',
        b'{"text": "hi", "language": "fr"}',
        b'{"text": "hi", "id": "bad id with spaces"}',
    ],
)
async def test_bad_requests_get_a_clear_error(client: TestClient, body: bytes) -> None:
    response = await client.post("/chat/api/messages", data=body)
    assert response.status == 400
    assert "error" in await response.json()


async def test_without_session_cookie(
    trained_settings: Settings, loaded: Loaded, tmp_path: Path
) -> None:
    app = create_app(trained_settings, loaded, Store.open(tmp_path / "tanya.db"))
    async with TestClient(TestServer(app)) as fresh:
        response = await fresh.post("/chat/api/messages", json={"text": "halo"})
        assert response.status == 400
        history = await (await fresh.get("/chat/api/history")).json()
        assert history == {"messages": [], "cursor": 0}


async def test_huge_and_empty_messages(client: TestClient) -> None:
    [long_reply] = await say(client, text="tolong " * 3000, id="big")
    assert "petugas" in long_reply["text"]
    [empty] = await say(client, text="   ", id="empty")
    assert empty["text"] == "Pesan yang saya terima kosong. Silakan ketik pertanyaan Anda."


async def test_an_invented_session_is_refused(
    trained_settings: Settings, loaded: Loaded, tmp_path: Path
) -> None:
    """Only sessions the bot issued may post: a made-up cookie cannot invent citizens."""
    app = create_app(trained_settings, loaded, Store.open(tmp_path / "tanya.db"))
    async with TestClient(TestServer(app)) as attacker:
        attacker.session.cookie_jar.update_cookies({"tanya_chat": "A" * 40})
        response = await attacker.post("/chat/api/messages", json={"text": "halo", "id": "x"})
        assert response.status == 400
        assert "reload the page" in (await response.json())["error"]
        store: Store = app[STORE]
        assert store.db.execute("SELECT count(*) FROM citizens").fetchone() == (0,)


async def test_a_flood_is_slowed_down_with_429(
    client: TestClient, trained_settings: Settings
) -> None:
    """300 long messages in a few seconds made 300 tickets; a session now gets a burst,
    then is asked to wait."""
    statuses = []
    for n in range(25):
        response = await client.post(
            "/chat/api/messages", json={"text": "tolong " * 400, "id": f"flood{n}"}
        )
        statuses.append(response.status)
    burst = trained_settings.webchat.burst
    assert statuses[:burst] == [200] * burst
    assert set(statuses[burst + 1 :]) == {429}
    assert int(response.headers["Retry-After"]) >= 1
    assert "Too many messages" in (await response.json())["error"]
    store: Store = client.app[STORE]
    # One open ticket per citizen: the flood joins the first ticket, not 300 new ones.
    assert store.db.execute("SELECT count(*) FROM escalations").fetchone() == (1,)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"text": "' + b"x" * 40_000 + b'"}', 413),
        (b"[" * 10_000 + b"]" * 10_000, 400),
        (b'{"text": "hi", "x": ' + b"[" * 50 + b"]" * 50 + b"}", 400),
        (b'{"text": "\\ud800 lone surrogate", "id": "s1"}', 200),
        (b'{"text": "nul \\u0000 inside", "id": "s2"}', 200),
        (b'{"payload": "rate:99999999999999999999:5", "id": "s3"}', 200),
        (b'{"payload": "vote:\\u00b2:0", "id": "s4"}', 200),
    ],
    ids=["oversized", "deep", "nested", "surrogate", "nul", "huge-id", "superscript"],
)
async def test_hostile_bodies_get_a_clear_answer_never_a_500(
    client: TestClient, body: bytes, status: int
) -> None:
    response = await client.post(
        "/chat/api/messages", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == status, await response.text()
    assert "Traceback" not in await response.text()


async def test_a_vote_from_someone_the_poll_was_not_sent_to_is_not_counted(
    client: TestClient,
) -> None:
    store: Store = client.app[STORE]
    poll = store.broadcasts.create(
        kind="poll",
        text="Jam layanan mana yang Anda pilih?",
        options=["Pagi", "Sore"],
        topics=["pengumuman"],
        channels=["webchat"],
        send_at="2099-01-01T00:00:00.000+00:00",  # not sent to anyone yet
        created_by=None,
    )
    [reply] = await say(client, payload=f"vote:{poll}:0", id="v1")
    assert reply["text"].startswith("Tombol itu sudah tidak berlaku")
    assert store.broadcasts.results(poll) == ([0, 0], 0)


async def test_numbered_choices_as_buttons_and_a_typed_number(
    client: TestClient, loaded: Loaded
) -> None:
    [choices] = await say(client, text="ktp", id="k1")
    assert [line[:2] for line in choices["text"].splitlines()[1:]] == ["1.", "2."]
    assert choices["buttons"][-1]["label"] == "Teruskan ke petugas"
    first = choices["buttons"][0]["payload"].removeprefix("faq:")
    [answer] = await say(client, text="1", id="k2")
    assert answer["text"].startswith(loaded.answerer.faq.entry(first).answers["id"][:20])
