"""Messenger end to end: signed webhook POSTs into the real aiohttp app, replies captured
by a local server that speaks the Graph API's Send API (Meta's documented payloads).

The second half drives the officials' desk over HTTP, as an official would, and checks
what reaches the citizen on Messenger: Meta's 24-hour window, the HUMAN_AGENT tag up to 7
days, permanent Send API errors with "Kirim ulang", and the citizen's rating."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import html
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.server import STORE, create_app
from bot.service import Loaded
from bot.store import Store
from tests.desk_helpers import add_official, browser, post_form, running, sign_in
from tests.store_switch import engine_at

SECRET = "test-app-secret"
VERIFY = "test-verify-token"
PAGE = "1122334455"


class GraphApi:
    """A local stand-in for graph.facebook.com: records Send API calls."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.failures = 0  # answer this many calls with HTTP 500 first
        self.down = False  # while true, every call gets 503 (an outage)
        # While set, every call is refused with this (HTTP status, Graph error object).
        self.refuse: tuple[int, dict[str, Any]] | None = None
        self.refused: list[dict[str, Any]] = []
        self.event = asyncio.Event()

    async def messages(self, request: web.Request) -> web.Response:
        assert request.query["access_token"] == "test-page-token"
        body = await request.json()
        if self.down:
            self.refused.append(body)
            return web.json_response(
                {"error": {"message": "Service temporarily unavailable", "code": 2}}, status=503
            )
        if self.failures:
            self.failures -= 1
            return web.json_response({"error": {"message": "temporary", "code": 2}}, status=500)
        if self.refuse is not None:
            self.refused.append(body)
            status, error = self.refuse
            return web.json_response({"error": error}, status=status)
        self.sent.append(body)
        self.event.set()
        return web.json_response(
            {"recipient_id": body["recipient"]["id"], "message_id": f"m_{len(self.sent)}"}
        )

    async def wait_for(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        async def enough() -> None:
            while len(self.sent) < count:
                self.event.clear()
                await self.event.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.sent

    def to(self, psid: str) -> list[dict[str, Any]]:
        """What was sent to one citizen, in order."""
        return [body for body in self.sent if body["recipient"] == {"id": psid}]

    async def wait_for_to(self, psid: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        """Wait until at least ``count`` messages were sent to ``psid``; return them all."""

        async def enough() -> None:
            while len(self.to(psid)) < count:
                self.event.clear()
                await self.event.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.to(psid)


@pytest.fixture
async def graph() -> AsyncIterator[tuple[GraphApi, str]]:
    api = GraphApi()
    app = web.Application()
    app.router.add_post("/v21.0/me/messages", api.messages)
    server = TestServer(app)
    await server.start_server()
    yield api, str(server.make_url("/v21.0"))
    await server.close()


@pytest.fixture
def messenger_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's secrets in the environment: Messenger is one of the app's channels."""
    monkeypatch.setenv("FACEBOOK_PAGE_ACCESS_TOKEN", "test-page-token")
    monkeypatch.setenv("FACEBOOK_APP_SECRET", SECRET)
    monkeypatch.setenv("FACEBOOK_VERIFY_TOKEN", VERIFY)


def messenger_settings(
    trained_settings: Settings, graph_api_url: str, human_agent_tag: bool = False
) -> Settings:
    return dataclasses.replace(
        trained_settings,
        messenger=dataclasses.replace(
            trained_settings.messenger,
            graph_api_url=graph_api_url,
            human_agent_tag=human_agent_tag,
        ),
    )


@pytest.fixture
async def client(
    graph: tuple[GraphApi, str],
    trained_settings: Settings,
    loaded: Loaded,
    store_url: str,
    messenger_on: None,
) -> AsyncIterator[TestClient]:
    settings = messenger_settings(trained_settings, graph[1])
    app = create_app(settings, loaded, Store.open(store_url))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def signed(payload: Any, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def event(psid: str, **fields: Any) -> dict[str, Any]:
    messaging = {
        "sender": {"id": psid},
        "recipient": {"id": PAGE},
        "timestamp": 1762902671000,
        **fields,
    }
    return {
        "object": "page",
        "entry": [{"id": PAGE, "time": 1762902671000, "messaging": [messaging]}],
    }


def text_event(psid: str, text: str, mid: str) -> dict[str, Any]:
    return event(psid, message={"mid": mid, "text": text})


async def test_verification_handshake(client: TestClient) -> None:
    ok = await client.get(
        "/webhooks/messenger",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"},
    )
    assert (ok.status, await ok.text()) == (200, "1158201444")
    bad = await client.get(
        "/webhooks/messenger",
        params={"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "x"},
    )
    assert bad.status == 403


async def test_question_is_answered_through_the_send_api(
    client: TestClient, graph: tuple[GraphApi, str]
) -> None:
    body, headers = signed(text_event("psid-1", "ktp saya hilang gimana ngurusnya", "mid.1"))
    response = await client.post("/webhooks/messenger", data=body, headers=headers)
    assert (response.status, await response.text()) == (200, "EVENT_RECEIVED")
    [answer] = await graph[0].wait_for(1)
    assert answer["recipient"] == {"id": "psid-1"}
    assert answer["messaging_type"] == "RESPONSE"
    assert answer["message"]["text"].startswith("Bawa surat kehilangan")
    assert answer["message"]["text"].endswith("Apakah jawaban ini membantu?")
    assert [q["title"] for q in answer["message"]["quick_replies"]] == ["👍 Ya", "👎 Tidak"]


async def test_forged_or_missing_signature_is_refused(
    client: TestClient, graph: tuple[GraphApi, str]
) -> None:
    body, headers = signed(text_event("psid-2", "halo", "mid.2"), secret="not-the-secret")
    assert (await client.post("/webhooks/messenger", data=body, headers=headers)).status == 403
    plain = {"Content-Type": "application/json"}
    assert (await client.post("/webhooks/messenger", data=body, headers=plain)).status == 403
    await asyncio.sleep(0.5)
    assert graph[0].sent == []


async def test_bad_json_and_unknown_events(client: TestClient, graph: tuple[GraphApi, str]) -> None:
    body, headers = signed({"x": 1})
    bad = b"{not json"
    digest = hmac.new(SECRET.encode(), bad, hashlib.sha256).hexdigest()
    response = await client.post(
        "/webhooks/messenger", data=bad, headers={"X-Hub-Signature-256": f"sha256={digest}"}
    )
    assert response.status == 400
    for payload in (
        {
            "object": "page",
            "entry": [
                {
                    "id": PAGE,
                    "messaging": [
                        {"sender": {"id": "p"}, "delivery": {"mids": ["m"], "watermark": 1}},
                        {"sender": {"id": "p"}, "read": {"watermark": 1}},
                    ],
                }
            ],
        },
        {"object": "instagram", "entry": []},
        [1, 2, 3],
    ):
        body, headers = signed(payload)
        assert (await client.post("/webhooks/messenger", data=body, headers=headers)).status == 200
    await asyncio.sleep(0.5)
    assert graph[0].sent == []


async def test_redelivered_event_is_answered_once(
    client: TestClient, graph: tuple[GraphApi, str]
) -> None:
    body, headers = signed(text_event("psid-3", "halo", "mid.same"))
    for _ in range(3):
        assert (await client.post("/webhooks/messenger", data=body, headers=headers)).status == 200
    await graph[0].wait_for(1)
    await asyncio.sleep(1)
    assert len(graph[0].sent) == 1


async def test_sticker_get_started_and_quick_reply(
    client: TestClient, graph: tuple[GraphApi, str]
) -> None:
    sticker = event(
        "psid-4",
        message={
            "mid": "mid.s",
            "sticker_id": 369239263222822,
            "attachments": [{"type": "image", "payload": {"url": "https://example.org/s.png"}}],
        },
    )
    body, headers = signed(sticker)
    await client.post("/webhooks/messenger", data=body, headers=headers)
    [polite] = await graph[0].wait_for(1)
    assert polite["message"]["text"].startswith("Maaf, saya hanya bisa membaca pesan teks")

    body, headers = signed(
        event("psid-4", postback={"title": "Get Started", "payload": "GET_STARTED", "mid": "mid.g"})
    )
    await client.post("/webhooks/messenger", data=body, headers=headers)
    sent = await graph[0].wait_for(2)
    assert sent[1]["message"]["text"].startswith("Selamat datang")

    body, headers = signed(text_event("psid-4", "jadwal vaksin booster kapan", "mid.q"))
    await client.post("/webhooks/messenger", data=body, headers=headers)
    sent = await graph[0].wait_for(3)
    payload = sent[2]["message"]["quick_replies"][0]["payload"]
    quick = event(
        "psid-4", message={"mid": "mid.qr", "text": "👍 Ya", "quick_reply": {"payload": payload}}
    )
    body, headers = signed(quick)
    await client.post("/webhooks/messenger", data=body, headers=headers)
    sent = await graph[0].wait_for(4)
    assert sent[3]["message"]["text"] == "Terima kasih atas masukan Anda!"


async def test_send_api_errors_are_retried(client: TestClient, graph: tuple[GraphApi, str]) -> None:
    graph[0].failures = 2
    body, headers = signed(text_event("psid-5", "halo", "mid.r"))
    await client.post("/webhooks/messenger", data=body, headers=headers)
    [reply] = await graph[0].wait_for(1)
    assert reply["message"]["text"].startswith("Halo!")


async def test_signed_body_arriving_in_pieces_is_accepted(
    client: TestClient, graph: tuple[GraphApi, str]
) -> None:
    """Meta's servers may send a body in several TCP segments (chunked): the signature is
    over all of it, so all of it must be read before checking."""
    long_text = "jalan di depan rumah saya rusak parah sudah lama " * 100  # ~5 KB
    body, headers = signed(text_event("psid-6", long_text[:1900], "mid.pieces"))
    headers.pop("Content-Type")

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 700):
            yield body[start : start + 700]
            await asyncio.sleep(0.02)

    response = await client.post("/webhooks/messenger", data=pieces(), headers=headers)
    assert (response.status, await response.text()) == (200, "EVENT_RECEIVED")
    [reply] = await graph[0].wait_for(1)
    assert reply["recipient"] == {"id": "psid-6"}


async def test_large_bodies_signed_are_read_whole_and_oversized_ones_get_413(
    client: TestClient, graph: tuple[GraphApi, str]
) -> None:
    padding = {"id": PAGE, "time": 1, "messaging": [], "padding": "x" * 900_000}
    payload = text_event("psid-7", "halo", "mid.big")
    payload["entry"].append(padding)
    body, headers = signed(payload)
    response = await client.post("/webhooks/messenger", data=body, headers=headers)
    assert (response.status, len(body) > 900_000) == (200, True)
    await graph[0].wait_for(1)

    padding["padding"] = "x" * 1_100_000
    body, headers = signed(payload)
    response = await client.post("/webhooks/messenger", data=body, headers=headers)
    assert response.status == 413


async def test_reply_survives_a_send_api_outage_and_is_not_counted_before(
    client: TestClient, graph: tuple[GraphApi, str]
) -> None:
    """An outage longer than any quick retry: the reply waits in the outbox (not
    recorded as sent) and reaches the citizen once the Graph API is back."""
    api = graph[0]
    api.down = True
    body, headers = signed(text_event("psid-8", "ktp saya hilang gimana ngurusnya", "mid.o"))
    assert (await client.post("/webhooks/messenger", data=body, headers=headers)).status == 200
    store: Store = client.app[STORE]
    while len(api.refused) < 3:
        await asyncio.sleep(0.1)
    [reply_row] = [m for m in store.messages(1) if m.direction == "out"]
    assert reply_row.status == "pending"
    health = await (await client.get("/healthz")).json()
    assert health["outbox"]["retrying"] == 1
    await asyncio.sleep(4)  # longer than the old 4 tries with 0.5 s backoff
    assert api.sent == []

    api.down = False
    [answer] = await api.wait_for(1, timeout=60)
    assert answer["message"]["text"].startswith("Bawa surat kehilangan")
    while store.messages(1)[-1].status != "sent":
        await asyncio.sleep(0.05)
    health = await (await client.get("/healthz")).json()
    assert health["outbox"]["retrying"] == 0 and health["channels"]["messenger"]["up"]


async def test_refused_reply_is_recorded_as_not_delivered(
    client: TestClient, graph: tuple[GraphApi, str]
) -> None:
    graph[0].refuse = (
        400,
        {"message": "(#100) No matching user found", "code": 100, "error_subcode": 2018001},
    )
    body, headers = signed(text_event("psid-9", "halo", "mid.refused"))
    assert (await client.post("/webhooks/messenger", data=body, headers=headers)).status == 200
    store: Store = client.app[STORE]
    while not store.outbox.not_delivered():
        await asyncio.sleep(0.05)
    [item] = store.outbox.not_delivered()
    assert (item.state, item.platform_id) == ("failed", "psid-9")
    assert "No matching user found" in (item.last_error or "")
    assert [m.status for m in store.messages(item.citizen_id)] == ["answered", "failed"]
    assert graph[0].sent == []


# The officials' desk answering a Messenger citizen


OFFICIAL_ANSWER = "Silakan datang ke Disdukcapil dengan surat kehilangan dari polisi."
_DELIVERY = re.compile(
    r'<span class="delivery \w+">([^<]*)</span>\s*'
    r'(?:<small class="muted delivery-detail">— ([^<]*)</small>)?'
)
_FLASH = re.compile(r'<p class="flash (ok|error)" role="\w+">([^<]*)</p>')


@dataclass
class Desk:
    """The real app with Messenger on, served on loopback: Meta's servers post to its
    webhook, an official is signed in to its desk, the Graph API mock records what left."""

    store: Store
    database: Path
    graph: GraphApi
    meta: ClientSession
    official: ClientSession

    async def exchange(self, psid: str, payload: Any, replies: int) -> list[dict[str, Any]]:
        """Deliver a signed webhook event from ``psid``; wait for the bot's ``replies``
        Send API calls to that citizen and return them."""
        before = len(self.graph.to(psid))
        body, headers = signed(payload)
        response = await self.meta.post("/webhooks/messenger", data=body, headers=headers)
        assert (response.status, await response.text()) == (200, "EVENT_RECEIVED")
        return (await self.graph.wait_for_to(psid, before + replies))[before:]

    async def page(self, path: str) -> str:
        response = await self.official.get(path)
        assert response.status == 200, path
        return await response.text()

    async def submit(self, path: str, **fields: Any) -> str:
        """Submit a desk form like the browser does, and return the page it leads to."""
        response = await post_form(self.official, path, **fields)
        assert response.status == 303, await response.text()
        return await self.page(response.headers["Location"])

    def delivery(self, ticket: int) -> str:
        row = self.store.escalations.get(ticket)
        assert row is not None
        return str(row.delivery)


StartDesk = Callable[..., Awaitable[Desk]]


@pytest.fixture
async def start_desk(
    graph: tuple[GraphApi, str],
    trained_settings: Settings,
    loaded: Loaded,
    tmp_path: Path,
    messenger_on: None,
) -> AsyncIterator[StartDesk]:
    """Start the app (``human_agent_tag`` as given) and sign the official Budi in."""
    database = tmp_path / "tanya.db"
    async with AsyncExitStack() as stack:

        async def start(human_agent_tag: bool = False, announcement_tag: str = "") -> Desk:
            store = Store.open(database)
            add_official(store, "Budi")
            settings = messenger_settings(trained_settings, graph[1], human_agent_tag)
            settings = dataclasses.replace(
                settings,
                announcements=dataclasses.replace(
                    settings.announcements, messenger_tag=announcement_tag
                ),
            )
            server = await stack.enter_async_context(running(create_app(settings, loaded, store)))
            meta = await stack.enter_async_context(browser(server))
            official = await stack.enter_async_context(browser(server))
            assert (await sign_in(official, "Budi")).status == 303
            return Desk(store, database, graph[0], meta, official)

        yield start


def quick_reply_event(psid: str, payload: str, title: str, mid: str) -> dict[str, Any]:
    return event(psid, message={"mid": mid, "text": title, "quick_reply": {"payload": payload}})


async def escalate(
    desk: Desk, psid: str, question: str = "ktp saya hilang gimana ngurusnya"
) -> int:
    """On Messenger a citizen asks, answers 👎 and takes the offer of an official (the
    quick replies the bot sent); return the ticket number the citizen was told."""
    [prompt] = await desk.exchange(psid, text_event(psid, question, f"{psid}.q"), 1)
    [no] = [q for q in prompt["message"]["quick_replies"] if q["title"] == "👎 Tidak"]
    [offer] = await desk.exchange(
        psid, quick_reply_event(psid, no["payload"], no["title"], f"{psid}.no"), 1
    )
    [ask_official] = offer["message"]["quick_replies"]
    assert ask_official["title"] == "Teruskan ke petugas"
    [told] = await desk.exchange(
        psid, quick_reply_event(psid, ask_official["payload"], "Teruskan", f"{psid}.h"), 1
    )
    match = re.search(r"Nomor tiket Anda: #(\d+)", told["message"]["text"])
    assert match, told
    return int(match.group(1))


def age_conversation(database: Path, psid: str, by: timedelta) -> None:
    """Move the citizen's stored messages back in time (ISO UTC strings in the file)."""
    with engine_at(database) as db:
        rows = db.execute(
            "SELECT m.id, m.created_at FROM messages m JOIN citizens c "
            "ON c.id = m.citizen_id WHERE c.channel = 'messenger' AND c.platform_id = ?",
            [psid],
        ).fetchall()
        assert rows, psid
        for id_, at in rows:
            older = (datetime.fromisoformat(at) - by).isoformat(timespec="milliseconds")
            db.execute("UPDATE messages SET created_at = ? WHERE id = ?", [older, id_])


def delivery_shown(page: str) -> tuple[str, str]:
    """The delivery status and its detail as the escalation page shows them."""
    match = _DELIVERY.search(page)
    assert match, "the page shows no delivery status"
    return html.unescape(match.group(1)), html.unescape(match.group(2) or "")


def flash_shown(page: str) -> str:
    match = _FLASH.search(page)
    return html.unescape(match.group(2)) if match else ""


def retry_offered(page: str, ticket: int) -> bool:
    return f'action="/desk/tickets/{ticket}/retry"' in page and "Kirim ulang" in page


def assert_answer_sent(
    sent: list[dict[str, Any]], psid: str, ticket: int, tag: str | None = None
) -> None:
    """The official's answer and the 1-5 rating quick replies, as Meta's rules want them."""
    answer, rate = sent
    for body in sent:
        assert body["recipient"] == {"id": psid}
        if tag is None:
            assert body["messaging_type"] == "RESPONSE" and "tag" not in body
        else:
            assert (body["messaging_type"], body["tag"]) == ("MESSAGE_TAG", tag)
    assert f"tiket #{ticket}" in answer["message"]["text"]
    assert OFFICIAL_ANSWER in answer["message"]["text"]
    assert "quick_replies" not in answer["message"]
    assert rate["message"]["text"].startswith("Seberapa membantu jawaban ini?")
    assert rate["message"]["quick_replies"] == [
        {"content_type": "text", "title": n, "payload": f"rate:{ticket}:{n}"}
        for n in ("1", "2", "3", "4", "5")
    ]


@pytest.mark.parametrize("hours_ago", [0, 23])
async def test_answer_within_24_hours_is_sent_as_a_response_with_rating(
    start_desk: StartDesk, hours_ago: int
) -> None:
    desk = await start_desk()
    psid = "psid-10"
    ticket = await escalate(desk, psid)
    assert f"#{ticket}" in await desk.page("/desk/")
    age_conversation(desk.database, psid, timedelta(hours=hours_ago))
    before = len(desk.graph.to(psid))

    page = await desk.submit(f"/desk/tickets/{ticket}/answer", answer=OFFICIAL_ANSWER)

    assert_answer_sent(desk.graph.to(psid)[before:], psid, ticket)
    assert flash_shown(page) == "Jawaban disimpan: terkirim."
    assert delivery_shown(page) == ("terkirim", "")
    assert not retry_offered(page, ticket)
    assert desk.delivery(ticket) == "sent"


async def test_answer_after_24_hours_without_human_agent_tag_is_undeliverable(
    start_desk: StartDesk,
) -> None:
    desk = await start_desk(human_agent_tag=False)
    psid = "psid-20"
    ticket = await escalate(desk, psid)
    age_conversation(desk.database, psid, timedelta(hours=25))
    before = len(desk.graph.sent)

    page = await desk.submit(f"/desk/tickets/{ticket}/answer", answer=OFFICIAL_ANSWER)

    assert len(desk.graph.sent) == before  # nothing reached the Send API
    assert desk.graph.refused == []
    assert desk.delivery(ticket) == "undeliverable"
    assert flash_shown(page) == "Jawaban disimpan: tidak dapat dikirim."
    status, detail = delivery_shown(page)
    assert status == "tidak dapat dikirim"
    # What Messenger's rule means, in the official's language (the desk is in Indonesian).
    assert "lebih dari 24 jam" in detail and "HUMAN_AGENT" in detail
    again = await desk.page(f"/desk/tickets/{ticket}")  # the status stays on the page
    assert delivery_shown(again) == (status, detail)

    # The citizen writes again, which opens Messenger's window: the answer goes now.
    before = len(desk.graph.to(psid))
    body, headers = signed(text_event(psid, "halo, ada kabar?", f"{psid}.again"))
    await desk.meta.post("/webhooks/messenger", data=body, headers=headers)
    sent = await desk.graph.wait_for_to(psid, before + 3)
    assert any(OFFICIAL_ANSWER in m["message"].get("text", "") for m in sent[before:])
    for _ in range(100):
        if desk.delivery(ticket) == "sent":
            break
        await asyncio.sleep(0.05)
    assert desk.delivery(ticket) == "sent"


@pytest.mark.parametrize("age", [timedelta(hours=25), timedelta(days=6, hours=23)])
async def test_answer_after_24_hours_goes_with_the_human_agent_tag(
    start_desk: StartDesk, age: timedelta
) -> None:
    desk = await start_desk(human_agent_tag=True)
    psid = "psid-30"
    ticket = await escalate(desk, psid)
    age_conversation(desk.database, psid, age)
    before = len(desk.graph.to(psid))

    page = await desk.submit(f"/desk/tickets/{ticket}/answer", answer=OFFICIAL_ANSWER)

    assert_answer_sent(desk.graph.to(psid)[before:], psid, ticket, tag="HUMAN_AGENT")
    assert delivery_shown(page) == ("terkirim", "")
    assert desk.delivery(ticket) == "sent"


async def test_answer_after_7_days_is_undeliverable_even_with_the_tag(
    start_desk: StartDesk,
) -> None:
    desk = await start_desk(human_agent_tag=True)
    psid = "psid-40"
    ticket = await escalate(desk, psid)
    age_conversation(desk.database, psid, timedelta(days=7, hours=1))
    before = len(desk.graph.sent)

    page = await desk.submit(f"/desk/tickets/{ticket}/answer", answer=OFFICIAL_ANSWER)

    assert len(desk.graph.sent) == before and desk.graph.refused == []
    assert desk.delivery(ticket) == "undeliverable"
    status, detail = delivery_shown(page)
    assert status == "tidak dapat dikirim" and "lebih dari 7 hari" in detail
    assert not retry_offered(page, ticket)


@pytest.mark.parametrize(
    "error",
    [
        {
            "message": "(#551) This person isn't available right now.",
            "type": "OAuthException",
            "code": 551,
            "error_subcode": 1545041,
            "fbtrace_id": "AbCdEf123",
        },
        {
            "message": "(#100) No matching user found",
            "type": "OAuthException",
            "code": 100,
            "error_subcode": 2018001,
            "fbtrace_id": "GhIjKl456",
        },
    ],
    ids=["551", "100"],
)
async def test_refused_answer_is_failed_and_sent_again_with_kirim_ulang(
    start_desk: StartDesk, error: dict[str, Any]
) -> None:
    desk = await start_desk()
    psid = "psid-50"
    ticket = await escalate(desk, psid)
    before = len(desk.graph.to(psid))
    desk.graph.refuse = (400, error)

    page = await desk.submit(f"/desk/tickets/{ticket}/answer", answer=OFFICIAL_ANSWER)

    assert len(desk.graph.refused) == 1  # a permanent error is not retried
    assert len(desk.graph.to(psid)) == before
    assert desk.delivery(ticket) == "failed"
    assert flash_shown(page) == "Jawaban disimpan: gagal."
    status, detail = delivery_shown(page)
    assert status == "gagal"
    assert detail == f"platform menjawab HTTP 400: {error['message']}"
    assert retry_offered(page, ticket)

    desk.graph.refuse = None  # the citizen is reachable again
    page = await desk.submit(f"/desk/tickets/{ticket}/retry")

    assert_answer_sent(desk.graph.to(psid)[before:], psid, ticket)
    assert flash_shown(page) == "Jawaban disimpan: terkirim."
    assert delivery_shown(page) == ("terkirim", "")
    assert not retry_offered(page, ticket)
    assert desk.delivery(ticket) == "sent"

    # "Kirim ulang" pressed again on a stale page (or by a second official) must not
    # give the citizen the answer twice.
    sent = len(desk.graph.sent)
    page = await desk.submit(f"/desk/tickets/{ticket}/retry")
    assert len(desk.graph.sent) == sent
    assert delivery_shown(page) == ("terkirim", "")


async def test_rating_quick_reply_is_stored_only_for_the_asker(start_desk: StartDesk) -> None:
    desk = await start_desk()
    psid, stranger = "psid-60", "psid-61"
    ticket = await escalate(desk, psid)
    await desk.submit(f"/desk/tickets/{ticket}/answer", answer=OFFICIAL_ANSWER)
    rate = desk.graph.to(psid)[-1]
    five = rate["message"]["quick_replies"][4]
    assert (five["title"], five["payload"]) == ("5", f"rate:{ticket}:5")

    # Someone else sends the rating payload of this ticket: not stored.
    await desk.exchange(stranger, quick_reply_event(stranger, f"rate:{ticket}:1", "1", "x.1"), 1)
    assert desk.store.escalations.get(ticket).rating is None  # type: ignore[union-attr]
    assert "Penilaian warga" not in await desk.page(f"/desk/tickets/{ticket}")

    [thanks] = await desk.exchange(
        psid, quick_reply_event(psid, five["payload"], five["title"], "rate.5"), 1
    )
    assert thanks["message"]["text"] == "Terima kasih atas penilaian Anda."
    assert desk.store.escalations.get(ticket).rating == 5  # type: ignore[union-attr]
    page = await desk.page(f"/desk/tickets/{ticket}")
    assert "Penilaian warga: <strong>5/5</strong>" in page

    await desk.exchange(stranger, quick_reply_event(stranger, f"rate:{ticket}:1", "1", "x.2"), 1)
    assert desk.store.escalations.get(ticket).rating == 5  # type: ignore[union-attr]


def postback_event(psid: str, payload: str, mid: str) -> dict[str, Any]:
    return event(psid, postback={"mid": mid, "title": payload, "payload": payload})


async def test_subscription_commands_and_menu_on_messenger(start_desk: StartDesk) -> None:
    desk = await start_desk()
    psid = "psid-sub"
    [pick] = await desk.exchange(psid, text_event(psid, "/langganan", "s1"), 1)
    # Titles longer than Messenger's 20 characters would be cut alike ("Peringatan
    # darurat…"): the choices are listed in the text, numbered, and the buttons are numbers.
    choices = {q["title"]: q["payload"] for q in pick["message"]["quick_replies"]}
    lines = pick["message"]["text"].splitlines()
    number = next(line for line in lines if "Peringatan darurat dan bencana" in line)
    title = number.split(".")[0]
    assert choices[title] == "sub:darurat"
    assert all(len(t) <= 20 for t in choices)
    [done] = await desk.exchange(psid, quick_reply_event(psid, "sub:darurat", title, "s2"), 1)
    assert "Peringatan darurat dan bencana" in done["message"]["text"]
    citizen = desk.store.find_citizen("messenger", psid)
    assert citizen is not None
    assert desk.store.subscriptions.topics_of(citizen.id) == ["darurat"]
    [stopped] = await desk.exchange(psid, text_event(psid, "/berhenti semua", "s3"), 1)
    assert "tidak akan lagi menerima pengumuman" in stopped["message"]["text"]
    assert desk.store.subscriptions.topics_of(citizen.id) == []
    # The page's persistent menu sends commands as postbacks.
    [confirm] = await desk.exchange(psid, postback_event(psid, "/hapusdata", "s4"), 1)
    assert [q["payload"] for q in confirm["message"]["quick_replies"]] == [
        "erase:yes",
        "erase:no",
    ]


async def test_announcements_keep_to_messengers_24_hour_window(start_desk: StartDesk) -> None:
    from tests.test_broadcasts import compose, wait_until_sent

    desk = await start_desk()
    for psid in ("recent", "old"):
        await desk.exchange(psid, text_event(psid, "/langganan darurat", f"{psid}.s"), 1)
    age_conversation(desk.database, "old", timedelta(hours=25))
    preview, number = await compose(
        desk.official,
        kind="announcement",
        text="Air sungai naik: warga bantaran bersiap mengungsi.",
        topics="darurat",
        channels="messenger",
    )
    # The preview warns before sending: one subscriber will be skipped.
    assert "1 pelanggan Messenger di luar jendela 24 jam akan dilewati." in preview
    await wait_until_sent(desk.store, number)
    [sent] = desk.graph.to("recent")[-1:]
    assert sent["messaging_type"] == "UPDATE" and "tag" not in sent
    assert "bersiap mengungsi" in sent["message"]["text"]
    assert not any("mengungsi" in m["message"].get("text", "") for m in desk.graph.to("old"))
    page = await desk.page(f"/desk/announcements/{number}")
    assert 'data-state="sent">1<' in page and 'data-state="skipped">1<' in page
    assert "di luar jendela 24 jam Messenger" in page


async def test_announcements_outside_the_window_go_with_a_permitted_tag(
    start_desk: StartDesk,
) -> None:
    from tests.test_broadcasts import compose, wait_until_sent

    desk = await start_desk(announcement_tag="CONFIRMED_EVENT_UPDATE")
    await desk.exchange("old", text_event("old", "/langganan darurat", "old.s"), 1)
    age_conversation(desk.database, "old", timedelta(days=3))
    _, number = await compose(
        desk.official,
        kind="announcement",
        text="Vaksinasi massal di balai kota besok pukul 08.00.",
        topics="darurat",
        channels="messenger",
    )
    await wait_until_sent(desk.store, number)
    [sent] = desk.graph.to("old")[-1:]
    assert sent["messaging_type"] == "MESSAGE_TAG" and sent["tag"] == "CONFIRMED_EVENT_UPDATE"


async def test_a_redelivered_webhook_does_not_bring_back_an_erased_citizen(
    client: TestClient, graph: tuple[GraphApi, str]
) -> None:
    """After /hapusdata, Meta may deliver an old event again: the citizen stays erased.
    A message they send afterwards starts afresh, under a new number."""
    api, store = graph[0], client.app[STORE]
    old = text_event("psid-e", "nik saya 3201234567890001 mau tanya ktp", "mid.e1")
    for payload in (old, event("psid-e", message={"mid": "mid.e2", "text": "/hapusdata"})):
        body, headers = signed(payload)
        await client.post("/webhooks/messenger", data=body, headers=headers)
    await api.wait_for(2)
    erased = store.find_citizen("messenger", "psid-e")
    assert erased is not None
    yes = event(
        "psid-e", message={"mid": "mid.e3", "text": "Ya", "quick_reply": {"payload": "erase:yes"}}
    )
    body, headers = signed(yes)
    await client.post("/webhooks/messenger", data=body, headers=headers)
    await api.wait_for(3)
    while store.find_citizen("messenger", "psid-e") is not None:
        await asyncio.sleep(0.05)

    body, headers = signed(old)  # Meta redelivers the first message
    assert (await client.post("/webhooks/messenger", data=body, headers=headers)).status == 200
    await asyncio.sleep(1)
    assert store.find_citizen("messenger", "psid-e") is None
    assert store.db.execute("SELECT count(*) FROM messages").fetchone() == (0,)
    assert len(api.sent) == 3

    now_ms = int(datetime.now().timestamp() * 1000)
    fresh = event("psid-e", message={"mid": "mid.e4", "text": "halo"})
    fresh["entry"][0]["messaging"][0]["timestamp"] = now_ms + 1000
    body, headers = signed(fresh)
    await client.post("/webhooks/messenger", data=body, headers=headers)
    await api.wait_for(4)
    citizen = store.find_citizen("messenger", "psid-e")
    assert citizen is not None and citizen.id > erased.id  # never the erased one's number


async def test_numbered_choices_as_quick_replies_and_a_typed_number(
    client: TestClient, graph: tuple[GraphApi, str], loaded: Loaded
) -> None:
    body, headers = signed(text_event("psid-9", "ktp", "mid.k1"))
    await client.post("/webhooks/messenger", data=body, headers=headers)
    [choices] = await graph[0].wait_for(1)
    lines = choices["message"]["text"].splitlines()
    assert [line[:2] for line in lines[1:]] == ["1.", "2."]
    quick = choices["message"]["quick_replies"]
    assert quick[-1]["title"] == "Teruskan ke petugas"  # none of these: an official
    second = quick[1]["payload"].removeprefix("faq:")
    body, headers = signed(text_event("psid-9", "2", "mid.k2"))
    await client.post("/webhooks/messenger", data=body, headers=headers)
    sent = await graph[0].wait_for(2)
    entry = loaded.answerer.faq.entry(second)
    assert sent[1]["message"]["text"].startswith(entry.answers["id"][:20])
