"""Messenger end to end: signed webhook POSTs into the real aiohttp app, replies captured
by a local server that speaks the Graph API's Send API (Meta's documented payloads)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.server import create_app
from bot.service import Loaded
from bot.store import Store

SECRET = "test-app-secret"
VERIFY = "test-verify-token"
PAGE = "1122334455"


class GraphApi:
    """A local stand-in for graph.facebook.com: records Send API calls."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.failures = 0  # answer this many calls with HTTP 500 first
        self.event = asyncio.Event()

    async def messages(self, request: web.Request) -> web.Response:
        assert request.query["access_token"] == "test-page-token"
        body = await request.json()
        if self.failures:
            self.failures -= 1
            return web.json_response({"error": {"message": "temporary", "code": 2}}, status=500)
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
async def client(
    graph: tuple[GraphApi, str],
    trained_settings: Settings,
    loaded: Loaded,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[TestClient]:
    monkeypatch.setenv("FACEBOOK_PAGE_ACCESS_TOKEN", "test-page-token")
    monkeypatch.setenv("FACEBOOK_APP_SECRET", SECRET)
    monkeypatch.setenv("FACEBOOK_VERIFY_TOKEN", VERIFY)
    settings = dataclasses.replace(
        trained_settings,
        messenger=dataclasses.replace(trained_settings.messenger, graph_api_url=graph[1]),
    )
    app = create_app(settings, loaded, Store.open(tmp_path / "tanya.db"))
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
    answer, prompt = await graph[0].wait_for(2)
    assert answer["recipient"] == {"id": "psid-1"}
    assert answer["messaging_type"] == "RESPONSE"
    assert answer["message"]["text"].startswith("Bawa surat kehilangan")
    assert [q["title"] for q in prompt["message"]["quick_replies"]] == ["👍 Ya", "👎 Tidak"]


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
    sent = await graph[0].wait_for(4)
    payload = sent[3]["message"]["quick_replies"][0]["payload"]
    quick = event(
        "psid-4", message={"mid": "mid.qr", "text": "👍 Ya", "quick_reply": {"payload": payload}}
    )
    body, headers = signed(quick)
    await client.post("/webhooks/messenger", data=body, headers=headers)
    sent = await graph[0].wait_for(5)
    assert sent[4]["message"]["text"] == "Terima kasih atas masukan Anda!"


async def test_send_api_errors_are_retried(client: TestClient, graph: tuple[GraphApi, str]) -> None:
    graph[0].failures = 2
    body, headers = signed(text_event("psid-5", "halo", "mid.r"))
    await client.post("/webhooks/messenger", data=body, headers=headers)
    [reply] = await graph[0].wait_for(1)
    assert reply["message"]["text"].startswith("Halo!")
