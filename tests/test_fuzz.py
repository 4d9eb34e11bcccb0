"""10,000 hostile inputs at every door of the running app, and a clean restart after.

Random button payloads, JSON bodies and form fields, made from a fixed seed so a failure
can be replayed: the web chat (anyone on the internet), Messenger's webhook (correctly
signed: what passes the signature must still be parsed strictly), the JSON question API,
and the officials' desk (ids in URLs, query strings and forms, signed in, with a valid
CSRF token). Whatever comes in, the answer is a 2xx, 3xx or 4xx with a clear message:
never a 500, never a traceback in a response or in the log, and the bot starts again
cleanly on the same database afterwards.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from yarl import URL

from bot.config import Settings
from bot.server import create_app
from bot.service import Loaded
from bot.store import Store
from tests.desk_helpers import add_official, browser, csrf_of, running, sign_in

SEED = 20261207
SECRET = "fuzz-app-secret"
KINDS = ("faq", "helpful", "escalate", "rate", "sub", "unsub", "erase", "vote", "survey", "")
# Numbers as attackers write them: huge, negative, other scripts' digits, superscripts.
NUMBERS = ("0", "1", "7", "-1", "99999999999999999999", "9" * 400, "²", "٣", "１", "1e9", "0x1f")
STRINGS = ("", " ", "\x00", "\ud800", "\udfff", "☃", "' OR 1=1 --", "<script>", "%s%n", "ktp")
DESK_GETS = (
    "/desk/tickets/{n}",
    "/desk/announcements/{n}",
    "/desk/announcements/{n}/chart.svg",
    "/desk/announcements/{n}/results.csv",
    "/desk/?status={s}&topic={s}&channel={s}&assignee={n}&q={s}",
    "/desk/history?status={s}&q={s}",
    "/desk/audit?offset={n}",
    "/desk/dashboard?period={s}&month={s}",
    "/desk/clusters?days={n}",
    "/desk/rumours?days={n}",
    "/desk/undelivered",
    "/chat/api/updates?after={n}",
)
DESK_POSTS = (
    "/desk/tickets/{n}/answer",
    "/desk/tickets/{n}/close",
    "/desk/tickets/{n}/assign",
    "/desk/tickets/{n}/retry",
    "/desk/tickets/{n}/faq",
    "/desk/announcements/preview",
    "/desk/announcements/{n}/cancel",
    "/desk/undelivered/{n}/retry",
    "/desk/rumours/{n}/ticket",
)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FORM_FIELDS = ("answer", "also", "reason", "note", "entry", "topic", "language", "kind", "text")


def token(rng: random.Random) -> str:
    return rng.choice(NUMBERS) if rng.random() < 0.6 else rng.choice(STRINGS)


def payload(rng: random.Random) -> str:
    parts = [rng.choice(KINDS)] + [token(rng) for _ in range(rng.randrange(0, 4))]
    return ":".join(parts)


def value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value, sometimes deeply nested."""
    roll = rng.random()
    if depth < 40 and roll < 0.15:
        return [value(rng, depth + 1) for _ in range(rng.randrange(0, 3))]
    if depth < 40 and roll < 0.3:
        return {token(rng): value(rng, depth + 1) for _ in range(rng.randrange(0, 3))}
    return rng.choice([None, True, -1, 10**30, 1.5, token(rng), payload(rng), "halo", "ktp hilang"])


def webchat_body(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.45:
        body: Any = {"payload": payload(rng), "id": f"f{rng.randrange(10**9)}"}
    elif roll < 0.7:
        body = {"text": token(rng), "id": value(rng), "language": value(rng)}
    elif roll < 0.9:
        body = value(rng)
    else:
        return rng.choice([b"{", b"\xff\xfe", b"[" * 5000, b'{"text": "\\ud800"}', b""])
    return json.dumps(body).encode()


def messenger_body(rng: random.Random) -> bytes:
    sender = rng.choice([{"id": token(rng)}, {"id": value(rng)}, value(rng), None])
    message = rng.choice(
        [
            {"mid": token(rng), "text": value(rng)},
            {"mid": value(rng), "quick_reply": rng.choice([{"payload": payload(rng)}, "x"])},
            {"mid": token(rng), "attachments": value(rng), "sticker_id": value(rng)},
            value(rng),
        ]
    )
    event = {"sender": sender, "timestamp": value(rng), "message": message}
    if rng.random() < 0.3:
        event = {"sender": sender, "postback": {"payload": payload(rng), "mid": value(rng)}}
    if rng.random() < 0.1:
        event = {"sender": sender, "referral": value(rng)}
    entry = rng.choice([{"id": "1", "messaging": [event]}, {"messaging": value(rng)}, value(rng)])
    return json.dumps(
        {"object": rng.choice(["page", "page", value(rng)]), "entry": [entry]}
    ).encode()


def encoded(text: str) -> str:
    """Percent-encoded as a hostile client would send it: lone surrogates as the bytes
    they would be (invalid UTF-8), which a well-behaved client refuses to send."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def desk_form(rng: random.Random, csrf: str) -> bytes:
    fields = [("csrf", csrf)]
    for _ in range(rng.randrange(0, 5)):
        fields.append((rng.choice(FORM_FIELDS), token(rng)))
    return "&".join(f"{encoded(k)}={encoded(v)}" for k, v in fields).encode()


def desk_url(template: str, rng: random.Random) -> URL:
    return URL(template.format(n=encoded(token(rng)), s=encoded(token(rng))), encoded=True)


@pytest.fixture
def settings(trained_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("FACEBOOK_PAGE_ACCESS_TOKEN", "fuzz-page-token")
    monkeypatch.setenv("FACEBOOK_APP_SECRET", SECRET)
    monkeypatch.setenv("FACEBOOK_VERIFY_TOKEN", "fuzz")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    return dataclasses.replace(
        trained_settings,
        # Nothing listens there: replies to Messenger wait in the outbox, as in an outage.
        messenger=dataclasses.replace(
            trained_settings.messenger, graph_api_url="http://127.0.0.1:9/v21.0"
        ),
        # The flood limits would answer most of this with 429 before parsing anything.
        webchat=dataclasses.replace(
            trained_settings.webchat, burst=100_000, burst_per_address=100_000
        ),
    )


async def test_ten_thousand_hostile_inputs_give_no_500_and_no_traceback(
    settings: Settings, loaded: Loaded, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(SEED)
    database = tmp_path / "tanya.db"
    store = Store.open(database)
    add_official(store, "Ayu", "admin")
    statuses: dict[int, int] = {}
    problems: list[str] = []
    caplog.set_level(logging.ERROR)

    async def check(request: Callable[[], Any], what: str) -> None:
        async with request() as response:
            body = await response.text(errors="replace")
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if response.status >= 500 or "Traceback" in body:
                problems.append(f"{what} -> {response.status}: {body[:200]}")

    app = create_app(settings, loaded, store)
    async with running(app) as server, browser(server) as citizen, browser(server) as official:
        await citizen.get("/chat")
        await sign_in(official, "Ayu")
        csrf = csrf_of(await (await official.get("/desk/")).text())
        for number in range(10_000):
            door = number % 5
            if door == 0:
                body = webchat_body(rng)
                await check(
                    lambda b=body: citizen.post("/chat/api/messages", data=b),
                    f"web chat {body[:80]!r}",
                )
            elif door == 1:
                body = messenger_body(rng)
                digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                headers = {"X-Hub-Signature-256": f"sha256={digest}"}
                await check(
                    lambda b=body, h=headers: citizen.post(
                        "/webhooks/messenger", data=b, headers=h
                    ),
                    f"messenger {body[:80]!r}",
                )
            elif door == 2:
                body = webchat_body(rng)
                await check(lambda b=body: citizen.post("/api/ask", data=b), f"api {body[:80]!r}")
            elif door == 3:
                url = desk_url(rng.choice(DESK_GETS), rng)
                await check(lambda u=url: official.get(u), f"GET {url}")
            else:
                url = desk_url(rng.choice(DESK_POSTS), rng)
                form = desk_form(rng, csrf)
                await check(
                    lambda u=url, f=form: official.post(
                        u, data=f, headers=FORM, allow_redirects=False
                    ),
                    f"POST {url} {form!r}",
                )
    tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not problems, "\n".join(problems[:20])
    assert not tracebacks, "\n".join(r.getMessage()[:300] for r in tracebacks[:20])
    assert sum(statuses.values()) == 10_000
    assert statuses.get(200, 0) > 2_000, statuses  # plenty got through to the parsers

    # The bot starts again on what was stored, answers what was left, and serves.
    store = Store.open(database)
    async with running(create_app(settings, loaded, store)) as server, browser(server) as client:
        health = await (await client.get("/healthz")).json()
        assert health["faq_entries"] > 0
        for _ in range(600):
            if not store.unanswered():
                break
            await asyncio.sleep(0.05)
        assert store.unanswered() == []
    assert not [r for r in caplog.records if r.exc_info], "a traceback at the restart"
