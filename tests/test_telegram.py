"""Telegram end to end: the real python-telegram-bot stack against a Bot API emulator
(npm telegram-test-api) on loopback, a simulated citizen on the emulator's client API."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.channels.telegram import MAX_TEXT, TelegramChannel, to_html
from bot.channels.text import split_text
from bot.channels.webchat import SESSION_HEADER
from bot.config import Settings, TelegramSettings
from bot.core.answerer import Answerer
from bot.core.conversation import Conversation
from bot.core.decision import Decision
from bot.core.dispatch import Dispatcher
from bot.core.messages import Reply
from bot.server import create_app
from bot.service import Loaded, with_thresholds
from bot.store import Store
from tests.telegram_harness import TOKEN, Citizen, Emulator, eventually, free_port

PACE = 0.3


def telegram_only(
    settings: TelegramSettings, answerer: Answerer, store: Store
) -> tuple[TelegramChannel, web.Application]:
    """The Telegram channel with the conversation and the outbox it needs, wired as
    ``bot.server.create_app`` does, on an app of its own."""

    async def decide(text: str, language: str | None) -> Decision:
        return answerer.decide(text, language)

    channels: dict[str, TelegramChannel] = {}
    dispatcher = Dispatcher(store, channels)
    conversation = Conversation(
        store, decide, answerer.replies, answerer.faq, dispatcher=dispatcher
    )
    channel = channels["telegram"] = TelegramChannel(settings, TOKEN, conversation)
    channel.up_listeners.append(dispatcher.channel_up)
    app = web.Application()
    channel.setup(app)

    async def outbox(app: web.Application) -> AsyncIterator[None]:
        dispatcher.start()
        yield
        await dispatcher.stop()

    app.cleanup_ctx.append(outbox)
    return channel, app


async def start_bot(
    emulator: Emulator, answerer: Answerer, store: Store
) -> tuple[TelegramChannel, web.AppRunner]:
    settings = TelegramSettings(api_url=emulator.url, poll_timeout=1, per_chat_interval=PACE)
    channel, app = telegram_only(settings, answerer, store)
    runner = web.AppRunner(app)
    await runner.setup()  # starts the channel: getMe, then polling
    return channel, runner


@pytest.fixture
async def bot(
    emulator: Emulator, loaded: Loaded, tmp_path: Path
) -> AsyncIterator[tuple[TelegramChannel, Store]]:
    store = Store.open(tmp_path / "tanya.db")
    channel, runner = await start_bot(emulator, loaded.answerer, store)
    yield channel, store
    await runner.cleanup()


def texts(messages: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [m["message"]["text"] for m in messages]


async def test_start_question_and_feedback(
    emulator: Emulator, bot: tuple[TelegramChannel, Store]
) -> None:
    citizen = Citizen(emulator, 101)
    await citizen.say("/start")
    [welcome] = await citizen.wait_for(1)
    assert welcome["message"]["text"].startswith("Selamat datang! Saya Tanya")
    await citizen.say("ktp saya hilang gimana ngurusnya")
    answer = (await citizen.wait_for(2))[1]
    # One message: the answer, "was it helpful?" last, the buttons under it.
    assert answer["message"]["text"].startswith("Bawa surat kehilangan")
    assert answer["message"]["text"].endswith("\n\nApakah jawaban ini membantu?")
    assert answer["message"]["parse_mode"] == "HTML"
    [row] = answer["message"]["reply_markup"]["inline_keyboard"]
    assert [b["text"] for b in row] == ["👍 Ya", "👎 Tidak"]
    await citizen.press(answer, "👍 Ya")
    assert texts(await citizen.wait_for(3))[2] == "Terima kasih atas masukan Anda!"
    store = bot[1]
    assert store.db.execute("SELECT helpful FROM feedback").fetchall() == [(1,)]
    # Telegram allows about one message per second to a private chat: two replies due at
    # once reach Telegram a whole interval apart, however long each request takes.
    await citizen.say("halo")
    await citizen.say("makasih ya")
    first, second = (await citizen.wait_for(5))[3:]
    assert second["time"] - first["time"] >= PACE * 1000 - 1  # the emulator's clock, in ms


async def test_thumbs_down_then_official(
    emulator: Emulator, bot: tuple[TelegramChannel, Store]
) -> None:
    citizen = Citizen(emulator, 102, language="en")
    await citizen.say("where can I get vaccinated?")
    [answer] = await citizen.wait_for(1)
    assert answer["message"]["text"].startswith("Vaccination is available")
    await citizen.press(answer, "👎 No")
    sorry = (await citizen.wait_for(2))[1]
    assert sorry["message"]["text"].startswith("Sorry that did not help")
    await citizen.press(sorry, "Ask an official")
    ticket = (await citizen.wait_for(3))[2]
    assert "Your ticket number: #1." in ticket["message"]["text"]


async def test_photo_and_sticker_get_a_polite_reply(
    emulator: Emulator, bot: tuple[TelegramChannel, Store]
) -> None:
    citizen = Citizen(emulator, 103)
    await citizen.send_photo()
    [reply] = await citizen.wait_for(1)
    assert reply["message"]["text"].startswith("Maaf, saya hanya bisa membaca pesan teks")
    kinds = [m.kind for m in bot[1].messages(1)]
    assert kinds == ["photo", "text"]


async def test_clarify_buttons(emulator: Emulator, loaded: Loaded, tmp_path: Path) -> None:
    answerer = with_thresholds(
        loaded.answerer, answer_threshold=0.6, clarify_threshold=0.2, clarify_margin=0.3
    )
    _, runner = await start_bot(emulator, answerer, Store.open(tmp_path / "t.db"))
    try:
        citizen = Citizen(emulator, 104)
        await citizen.say("ktp")  # a topic word: its entries, numbered, as buttons
        [clarify] = await citizen.wait_for(1)
        rows = clarify["message"]["reply_markup"]["inline_keyboard"]
        assert all(len(row) == 1 for row in rows)  # long labels: one option per row
        assert [line[:2] for line in clarify["message"]["text"].splitlines()[1:]] == ["1.", "2."]
        label = next(r[0]["text"] for r in rows if r[0]["callback_data"] == "faq:ktp-baru")
        await citizen.press(clarify, label)
        answer = (await citizen.wait_for(2))[1]
        assert answer["message"]["text"].startswith("Datang ke kantor kecamatan")
        # Typing a number works as well as a tap.
        await citizen.say("ktp")
        again = (await citizen.wait_for(3))[2]
        first = again["message"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        await citizen.say("1")
        typed = (await citizen.wait_for(4))[3]
        entry = loaded.answerer.faq.entry(first.removeprefix("faq:"))
        assert typed["message"]["text"].startswith(entry.answers["id"][:20])
    finally:
        await runner.cleanup()


def test_markup_becomes_escaped_html() -> None:
    assert to_html("Bawa *KTP asli* & KK <wajib>, _gratis_") == (
        "Bawa <b>KTP asli</b> &amp; KK &lt;wajib&gt;, <i>gratis</i>"
    )
    # Underscores inside links and words stay as they are.
    assert to_html("https://a.go.id/x_y_z dan nama_file") == ("https://a.go.id/x_y_z dan nama_file")


async def test_webhook_mode(emulator: Emulator, loaded: Loaded, tmp_path: Path) -> None:
    """Updates POSTed to the bot's own server (as Telegram does in webhook mode) are answered;
    calls without the secret token Telegram was given are refused."""

    settings = TelegramSettings(
        api_url=emulator.url,
        mode="webhook",
        webhook_url="https://tanya.example.go.id",
        per_chat_interval=0,
    )
    channel, app = telegram_only(settings, loaded.answerer, Store.open(tmp_path / "w.db"))
    citizen = Citizen(emulator, 105)
    update = {
        "update_id": 9001,
        "message": {
            "message_id": 1,
            "date": 1764000000,
            "text": "halo",
            "from": citizen.user,
            "chat": citizen.chat,
        },
    }
    async with TestClient(TestServer(app)) as client:
        refused = await client.post("/webhooks/telegram", json=update)
        assert refused.status == 403
        accepted = await client.post(
            "/webhooks/telegram",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": channel.webhook_secret},
        )
        assert accepted.status == 200
        [reply] = await citizen.wait_for(1)
        assert reply["message"]["text"].startswith("Halo! Saya Tanya")
        garbage = await client.post(
            "/webhooks/telegram",
            data=b"{not json",
            headers={"X-Telegram-Bot-Api-Secret-Token": channel.webhook_secret},
        )
        assert garbage.status == 400


async def test_webhook_mode_end_to_end_with_the_secret_from_the_environment(
    emulator: Emulator, loaded: Loaded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Webhook mode as Telegram runs it: at start the bot registers its URL and the secret
    from the environment (setWebhook), the emulator POSTs each update there with the secret
    in X-Telegram-Bot-Api-Secret-Token, and the citizen gets the answer. Every worker
    serving one webhook shares that secret; a forged call gets 403, deeply nested or
    non-JSON bodies 400, never a 500."""
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "rahasia-bersama-semua-worker")
    port = free_port()
    settings = TelegramSettings(
        api_url=emulator.url,
        mode="webhook",
        webhook_url=f"http://127.0.0.1:{port}",
        per_chat_interval=0,
    )
    channel, app = telegram_only(settings, loaded.answerer, Store.open(tmp_path / "w.db"))
    assert channel.webhook_secret == "rahasia-bersama-semua-worker"
    async with TestClient(TestServer(app, host="127.0.0.1", port=port)) as client:
        await eventually(lambda: channel.up)
        citizen = Citizen(emulator, 106)
        await citizen.say("halo")
        [reply] = await citizen.wait_for(1)
        assert reply["message"]["text"].startswith("Halo! Saya Tanya")
        deliveries = await emulator.webhook_deliveries()
        assert [d["status"] for d in deliveries] == [200]
        forged = await client.post(
            "/webhooks/telegram",
            json={"update_id": 1},
            headers={"X-Telegram-Bot-Api-Secret-Token": "tebakan"},
        )
        assert forged.status == 403
        secret = {"X-Telegram-Bot-Api-Secret-Token": channel.webhook_secret}
        for body in (
            b"[" * 100_000,
            b"\xff\xfe",
            b'"just a string"',
            b'{"update_id": 5, "message": "no"}',
        ):
            answer = await client.post("/webhooks/telegram", data=body, headers=secret)
            assert answer.status == 400, body[:20]
        assert len(await citizen.fetch()) == 0  # nothing else reached the citizen
        await channel.bot.delete_webhook()


async def test_replies_wait_out_telegram_errors_and_keep_their_order(
    emulator: Emulator, bot: tuple[TelegramChannel, Store]
) -> None:
    """5xx and dropped connections are temporary: the replies stay queued (not "sent")
    and reach the citizen, in order, once Telegram answers again."""
    _, store = bot
    citizen = Citizen(emulator, 120)
    await citizen.say("halo")
    await citizen.wait_for(1)
    await emulator.set_faults(1.0, ("500", "502", "reset"))
    await citizen.say("ktp saya hilang gimana ngurusnya")
    await citizen.say("makasih ya")
    deadline = asyncio.get_running_loop().time() + 30
    while store.outbox.counts()["retrying"] < 1:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.1)
    await asyncio.sleep(2)
    assert len(await citizen.fetch()) == 0
    assert [m.status for m in store.messages(1) if m.direction == "out"][1:] == [
        "pending",
        "pending",
    ]
    await emulator.set_faults(0.0)
    later = (await citizen.wait_for(3, timeout=60))[1:]
    assert texts(later)[0].startswith("Bawa surat kehilangan")
    assert texts(later)[1].startswith("Sama-sama")
    while store.outbox.counts()["queued"]:
        await asyncio.sleep(0.05)
    assert {m.status for m in store.messages(1) if m.direction == "out"} == {"sent"}


async def test_a_long_reply_reports_each_confirmed_part_before_the_next(
    emulator: Emulator, bot: tuple[TelegramChannel, Store]
) -> None:
    """A reply too long for one Telegram message goes out in parts, paced per chat: the
    outbox hears of each confirmed part before the next one's wait (so a worker dying in
    that wait leaves only the rest to send), and of the last in the result."""
    channel, _ = bot
    citizen = Citizen(emulator, 125)
    await citizen.say("halo")
    await citizen.wait_for(1)
    confirmed: list[int] = []
    long = " ".join(f"kalimat{n}" for n in range(1000))  # over Telegram's 4096 characters
    parts = len(split_text(long, MAX_TEXT))
    assert parts >= 2
    delivery = await channel.send("125", [Reply(long)], progress=confirmed.append)
    assert delivery.parts == parts
    assert confirmed == list(range(1, parts))  # each but the last, in order
    texts = [m["message"]["text"] for m in (await citizen.wait_for(1 + parts))[1:]]
    assert "".join(texts).replace(" ", "") == long.replace(" ", "")


async def test_a_refused_reply_is_recorded_as_failed_not_sent(
    emulator: Emulator, bot: tuple[TelegramChannel, Store]
) -> None:
    _, store = bot
    await emulator.set_faults(1.0, ("400",))
    citizen = Citizen(emulator, 121)
    await citizen.say("halo")
    deadline = asyncio.get_running_loop().time() + 30
    while not store.outbox.not_delivered():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    [item] = store.outbox.not_delivered()
    assert item.state == "failed" and "chat not found" in (item.last_error or "").lower()
    assert [m.status for m in store.messages(item.citizen_id)] == ["answered", "failed"]


async def test_telegram_away_at_start_stops_nothing_else(
    trained_settings: Settings, loaded: Loaded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram unreachable when the bot starts: the web chat answers at once, /healthz
    says which channel is down, and Telegram answers soon after it comes back."""
    monkeypatch.setenv(trained_settings.telegram.token_env, TOKEN)
    port = free_port()
    settings = dataclasses.replace(
        trained_settings,
        telegram=dataclasses.replace(
            trained_settings.telegram,
            api_url=f"http://127.0.0.1:{port}",
            poll_timeout=1,
            per_chat_interval=0.1,
        ),
    )
    app = create_app(settings, loaded, Store.open(tmp_path / "tanya.db"))
    async with TestClient(TestServer(app)) as client:
        chat = await client.get("/chat")
        assert chat.status == 200
        session = re.search(r'name="tanya-session" content="([^"]+)"', await chat.text())
        assert session
        answer = await client.post(
            "/chat/api/messages",
            json={"text": "halo", "id": "m1"},
            headers={SESSION_HEADER: session.group(1)},
        )
        assert (await answer.json())["replies"][0]["text"].startswith("Halo! Saya Tanya")
        health = await (await client.get("/healthz")).json()
        assert health["status"] == "degraded"
        assert not health["channels"]["telegram"]["up"]
        assert "not reachable" in health["channels"]["telegram"]["detail"]
        assert health["channels"]["webchat"]["up"]

        emulator = Emulator(port)  # Telegram comes back
        try:
            came_back = asyncio.get_running_loop().time()
            citizen = Citizen(emulator, 130)
            await citizen.say("halo")
            [reply] = await citizen.wait_for(1, timeout=30)
            assert reply["message"]["text"].startswith("Halo! Saya Tanya")
            assert asyncio.get_running_loop().time() - came_back < 30
            health = await (await client.get("/healthz")).json()
            assert health["channels"]["telegram"]["up"] and health["status"] == "ok"
        finally:
            emulator.stop()


async def test_captions_edits_and_buttons_that_work_once(
    emulator: Emulator, bot: tuple[TelegramChannel, Store]
) -> None:
    _, store = bot
    citizen = Citizen(emulator, 140)
    # A photo with words under it: the words are the question.
    await citizen.send_photo_with_caption("ktp saya hilang gimana ngurusnya")
    [answer] = await citizen.wait_for(1)
    assert answer["message"]["text"].startswith("Bawa surat kehilangan")
    [photo] = store.db.execute("SELECT attachment FROM messages WHERE direction = 'in'")
    assert photo == ("photo",)
    # 👍 is taken off once tapped: a second tap cannot count again.
    await citizen.press(answer, "👍 Ya")
    await citizen.wait_for(2)
    await eventually_edited(emulator, answer["messageId"])
    # The citizen corrects a message: the new wording is answered.
    await citizen.say("jadwal vaksin")
    await citizen.wait_for(3)
    message_id = await emulator.message_id("jadwal vaksin")
    await citizen.edit(message_id, "jadwal vaksin booster kapan")
    replies = await citizen.wait_for(4)
    assert replies[3]["message"]["text"].startswith("Vaksinasi booster dibuka")


async def eventually_edited(emulator: Emulator, message_id: int) -> None:
    for _ in range(100):
        edits = [e for e in await emulator.edits() if e["message_id"] == message_id]
        if edits:
            assert edits[-1]["reply_markup"] in (None, {})
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the buttons were not taken off")
