"""Officials answering Telegram citizens, end to end: the real app (``create_app``, with the
desk and Telegram in polling mode) against the Bot API emulator on loopback. Officials
answer on the desk or by replying in the officials' Telegram group; citizens read and
rate the answers in Telegram."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web

from bot.config import Settings, TelegramSettings
from bot.server import create_app
from bot.service import Loaded
from bot.store import Store
from bot.store.officials import AuditEntry, Official
from tests.desk_helpers import add_official, browser, post_form, running, sign_in
from tests.telegram_harness import (
    BOT_USER,
    TOKEN,
    Citizen,
    Emulator,
    GroupMember,
    eventually,
)

GROUP = -100123
PACE = 0.05
NIK = "3201234567890001"
PHONE = "081234567890"
BUDI_TELEGRAM = 7001  # Budi's Telegram account, registered with the desk
STRANGER_TELEGRAM = 9999  # in the group, but not an official
TICKET = re.compile(r"Nomor tiket Anda: #(\d+)\.")
PASSED_ON = "Pesan Anda saya teruskan ke petugas"  # the reply to "/petugas"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "tanya.db")


@pytest.fixture
def budi(store: Store) -> Official:
    add_official(store, "Ayu", "admin")
    return add_official(store, "Budi", "agent", telegram_user_id=BUDI_TELEGRAM)


@pytest.fixture
def make_app(
    trained_settings: Settings,
    loaded: Loaded,
    store: Store,
    budi: Official,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., web.Application]:
    """``make_app(officials_chat_id=...)``: the app with Telegram on, polling the emulator."""
    monkeypatch.setenv(trained_settings.telegram.token_env, TOKEN)
    monkeypatch.delenv(trained_settings.messenger.page_token_env, raising=False)

    def make(officials_chat_id: int = 0) -> web.Application:
        telegram = TelegramSettings(
            api_url=emulator.url,
            poll_timeout=1,
            per_chat_interval=PACE,
            officials_chat_id=officials_chat_id,
        )
        settings = dataclasses.replace(trained_settings, telegram=telegram)
        return create_app(settings, loaded, store)

    return make


async def escalate(citizen: Citizen, question: str) -> int:
    """Ask something, then ask for an official; the ticket number the citizen is told."""
    await citizen.say(question)
    await citizen.wait_for(1)  # the bot's reply to the question, before "/petugas"
    await citizen.say("/petugas")
    reply = await citizen.wait_until(lambda text: text.startswith(PASSED_ON))
    match = TICKET.search(reply["message"]["text"])
    assert match, reply
    return int(match.group(1))


async def official_answer(citizen: Citizen) -> tuple[dict[str, Any], dict[str, Any]]:
    """The official's answer as the citizen received it, and the message that follows it."""
    answer = await citizen.wait_until(lambda text: text.startswith("Petugas menjawab"))
    index = citizen.received.index(answer)
    following = (await citizen.wait_for(index + 2))[index + 1]
    return answer, following


def button_labels(message: dict[str, Any]) -> list[str]:
    rows = message["message"].get("reply_markup", {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


async def ticket_page(official: ClientSession, ticket: int) -> str:
    response = await official.get(f"/desk/tickets/{ticket}")
    assert response.status == 200
    return await response.text()


async def test_desk_answer_reaches_the_telegram_citizen_who_rates_it(
    make_app: Callable[..., web.Application], emulator: Emulator, store: Store
) -> None:
    citizen = Citizen(emulator, 301)
    async with running(make_app()) as server, browser(server) as official:
        ticket = await escalate(citizen, "kapan pendaftaran beasiswa kuliah dibuka")
        assert (await sign_in(official, "Budi")).status == 303
        assert f"#{ticket}" in await (await official.get("/desk/")).text()

        response = await post_form(
            official,
            f"/desk/tickets/{ticket}/answer",
            answer="Pendaftaran beasiswa dibuka *1 Juli* di dinas pendidikan.",
        )
        assert response.status == 303
        flash = await (await official.get(response.headers["Location"])).text()
        assert "Jawaban disimpan: terkirim." in flash

        answer, rate = await official_answer(citizen)
        text = answer["message"]["text"]
        assert f"#{ticket}" in text and answer["message"]["parse_mode"] == "HTML"
        assert "Pendaftaran beasiswa dibuka <b>1 Juli</b> di dinas pendidikan." in text
        assert rate["message"]["text"].startswith("Seberapa membantu jawaban ini?")
        assert button_labels(rate) == ["1", "2", "3", "4", "5"]

        await citizen.press(rate, "4")
        thanks = await citizen.wait_until(lambda text: text.startswith("Terima kasih"))
        assert thanks["message"]["text"] == "Terima kasih atas penilaian Anda."
        assert citizen.received.index(thanks) == citizen.received.index(rate) + 1
        row = store.escalations.get(ticket)
        assert row is not None and row.rating == 4

        page = await ticket_page(official, ticket)
        assert '<span class="delivery sent">terkirim</span>' in page
        assert "<strong>4/5</strong>" in page


async def test_new_escalation_is_posted_masked_and_answered_by_replying_in_the_group(
    make_app: Callable[..., web.Application],
    emulator: Emulator,
    store: Store,
    budi: Official,
) -> None:
    citizen = Citizen(emulator, 302)
    member = GroupMember(emulator, BUDI_TELEGRAM, GROUP)
    async with running(make_app(GROUP)):
        question = f"NIK saya {NIK} dan HP {PHONE}, kenapa bansos saya belum cair?"
        ticket = await escalate(citizen, question)

        [post] = await member.wait_for(1)
        text = post["message"]["text"]
        assert f"#{ticket}" in text and "bansos saya belum cair" in text
        assert "************0001" in text and "*********890" in text
        assert NIK not in text and PHONE not in text
        assert NIK[:12] not in text and PHONE[:9] not in text

        reply = "Bansos tahap 2 cair minggu depan."
        await member.reply(post["messageId"], reply, author=BOT_USER)

        answer, rate = await official_answer(citizen)
        assert f"#{ticket}" in answer["message"]["text"] and reply in answer["message"]["text"]
        assert button_labels(rate) == ["1", "2", "3", "4", "5"]
        row = store.escalations.get(ticket)
        assert row is not None and row.status == "answered"
        assert row.answered_by == budi.id and row.delivery == "sent"

        [confirmation] = (await member.wait_for(2))[1:]
        assert confirmation["message"]["text"].startswith(f"✅ #{ticket}")
        quoted = json.loads(confirmation["message"]["reply_parameters"])["message_id"]
        assert quoted == await emulator.message_id(reply)  # threaded under Budi's reply

        # A second reply to the same post: the citizen gets one answer, not two.
        await member.reply(post["messageId"], "Koreksi: cair bulan depan.", author=BOT_USER)
        [already] = (await member.wait_for(3))[2:]
        assert already["message"]["text"].startswith(f"⚠️ #{ticket}")
        assert await citizen.fetch() == []
        row = store.escalations.get(ticket)
        assert row is not None and row.answer == reply


async def test_group_replies_from_strangers_or_to_other_messages_are_ignored(
    make_app: Callable[..., web.Application],
    emulator: Emulator,
    store: Store,
    budi: Official,
) -> None:
    citizen = Citizen(emulator, 303)
    member = GroupMember(emulator, BUDI_TELEGRAM, GROUP)
    stranger = GroupMember(emulator, STRANGER_TELEGRAM, GROUP)
    async with running(make_app(GROUP)):
        ticket = await escalate(citizen, "bagaimana cara mengurus izin usaha warung")
        seen_by_citizen = len(citizen.received)
        [post] = await member.wait_for(1)

        # Someone in the group who is not a registered official replies to the post.
        fake = "Hubungi saya saja, bisa dibantu cepat."
        await stranger.reply(post["messageId"], fake, author=BOT_USER)

        def refusals() -> list[AuditEntry]:
            return [r for r in store.officials.audit_log() if r.action == "refused"]

        [refused] = await eventually(refusals)
        assert refused.target == f"ticket #{ticket}"
        assert str(STRANGER_TELEGRAM) in (refused.detail or "") and refused.official is None
        row = store.escalations.get(ticket)
        assert row is not None and row.status == "open" and row.answered_by is None
        assert await citizen.fetch() == [] and await member.fetch() == []

        # An official replies to something that is not a ticket's post (the stranger's
        # message), then properly to the post: only the second one is an answer.
        stranger_message = await emulator.message_id(fake)
        await member.reply(stranger_message, "Jangan begitu.", author=stranger.user, quoted=fake)
        await member.reply(post["messageId"], "Izin usaha mikro lewat OSS.", author=BOT_USER)

        answer, _ = await official_answer(citizen)
        assert "Izin usaha mikro lewat OSS." in answer["message"]["text"]
        new = citizen.received[seen_by_citizen:]
        assert len(new) == 2 and not any(fake in m["message"]["text"] for m in new)
        assert not any("Jangan begitu" in m["message"]["text"] for m in new)
        [confirmation] = (await member.wait_for(2))[1:]
        assert confirmation["message"]["text"].startswith(f"✅ #{ticket}")
        assert await member.fetch() == []  # nothing said about the other reply
        row = store.escalations.get(ticket)
        assert row is not None and row.answered_by == budi.id
        assert row.answer == "Izin usaha mikro lewat OSS."


async def test_answer_that_cannot_reach_telegram_is_retried_until_it_arrives(
    make_app: Callable[..., web.Application], emulator: Emulator, store: Store
) -> None:
    """The Bot API is unreachable when the answer is sent: the desk says so, and the
    answer goes out by itself once Telegram is back (no "send again" needed)."""
    citizen = Citizen(emulator, 304)
    async with running(make_app()) as server, browser(server) as official:
        ticket = await escalate(citizen, "kapan jadwal pengambilan sampah di perumahan")
        assert (await sign_in(official, "Budi")).status == 303
        emulator.stop()
        restarted: Emulator | None = None
        try:
            response = await post_form(
                official, f"/desk/tickets/{ticket}/answer", answer="Setiap Selasa dan Jumat."
            )
            flash = await (await official.get(response.headers["Location"])).text()
            assert "Jawaban disimpan: belum terkirim, dicoba lagi otomatis." in flash
            page = await ticket_page(official, ticket)
            assert "belum terkirim, dicoba lagi otomatis" in page
            assert "Kirim ulang" not in page  # nothing for the official to do
            row = store.escalations.get(ticket)
            assert row is not None and row.status == "answered"
            assert row.delivery == "retrying"

            restarted = Emulator(port=emulator.port)
            answer, rate = await official_answer(citizen)
            assert "Setiap Selasa dan Jumat." in answer["message"]["text"]
            assert button_labels(rate) == ["1", "2", "3", "4", "5"]
            await eventually(lambda: store.escalations.get(ticket).delivery == "sent")  # type: ignore[union-attr]
            page = await ticket_page(official, ticket)
            assert '<span class="delivery sent">terkirim</span>' in page
        finally:
            if restarted is not None:
                restarted.stop()
