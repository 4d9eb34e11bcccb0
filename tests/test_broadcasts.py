"""Subscriptions, /hapusdata, announcements, polls and campaign links, through the real
app: citizens on the web chat API, officials on the desk's forms."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from bot.config import Settings
from bot.server import create_app
from bot.service import Loaded
from bot.store import Store
from tests.desk_helpers import add_official, browser, csrf_of, post_form, running, sign_in


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.open(store_url)
    yield store
    store.close()


@pytest.fixture
async def server(
    trained_settings: Settings, loaded: Loaded, store: Store
) -> AsyncIterator[TestServer]:
    add_official(store, "Rina", "agent")
    app: web.Application = create_app(trained_settings, loaded, store)
    async with running(app) as server:
        yield server


@pytest.fixture
async def citizen(server: TestServer) -> AsyncIterator[ClientSession]:
    async with browser(server) as client:
        await client.get("/chat")
        yield client


@pytest.fixture
async def official(server: TestServer) -> AsyncIterator[ClientSession]:
    async with browser(server) as client:
        await sign_in(client, "Rina")
        yield client


class Chat:
    """A web chat citizen: say things, press buttons, read the replies."""

    def __init__(self, client: ClientSession) -> None:
        self.client = client
        self.count = 0

    async def send(self, **body: Any) -> list[dict[str, Any]]:
        self.count += 1
        response = await self.client.post(
            "/chat/api/messages", json={**body, "id": f"m{self.count}"}
        )
        assert response.status == 200, await response.text()
        return list((await response.json())["replies"])

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self.send(text=text)

    async def press(self, reply: dict[str, Any], label: str) -> list[dict[str, Any]]:
        button = next(b for b in reply["buttons"] if b["label"] == label)
        return await self.send(payload=button["payload"])

    async def history(self) -> list[dict[str, Any]]:
        return list((await (await self.client.get("/chat/api/history")).json())["messages"])


async def test_subscribe_and_unsubscribe_with_commands_and_buttons(
    citizen: ClientSession, store: Store
) -> None:
    chat = Chat(citizen)
    [pick] = await chat.say("/langganan")
    labels = [b["label"] for b in pick["buttons"]]
    assert "Peringatan darurat dan bencana" in labels and "Vaksinasi" in labels
    [done] = await chat.press(pick, "Peringatan darurat dan bencana")
    assert "Anda akan menerima pengumuman tentang Peringatan darurat dan bencana" in done["text"]
    [again] = await chat.say("/langganan darurat")
    assert "sudah mengikuti" in again["text"]
    [listing] = await chat.say("/langganan")
    assert "Anda sudah mengikuti: Peringatan darurat dan bencana." in listing["text"]
    assert "Peringatan darurat dan bencana" not in [b["label"] for b in listing["buttons"]]
    await chat.say("/subscribe vaksinasi")
    [which] = await chat.say("/berhenti")
    assert [b["label"] for b in which["buttons"]] == [
        "Peringatan darurat dan bencana",
        "Vaksinasi",
        "Semua topik",
    ]
    [stopped] = await chat.press(which, "Vaksinasi")
    assert "tidak akan lagi menerima pengumuman tentang Vaksinasi" in stopped["text"]
    [everything] = await chat.say("/berhenti semua")
    assert "tidak akan lagi menerima pengumuman apa pun" in everything["text"]
    [nothing] = await chat.say("/berhenti")
    assert "belum mengikuti topik apa pun" in nothing["text"]
    [unknown] = await chat.say("/langganan sepakbola")
    assert "Topik itu tidak ada" in unknown["text"]


async def test_helpful_answer_offers_its_topic_once(citizen: ClientSession, store: Store) -> None:
    chat = Chat(citizen)
    [prompt] = await chat.say("ktp saya hilang gimana")
    [thanks] = await chat.press(prompt, "👍 Ya")
    assert [b["label"] for b in thanks["buttons"]] == ["🔔 Ikuti info Kependudukan"]
    [subscribed] = await chat.press(thanks, "🔔 Ikuti info Kependudukan")
    assert "Kependudukan" in subscribed["text"]
    await chat.say("/berhenti kependudukan")
    [prompt] = await chat.say("ktp hilang harus lapor polisi dulu?")
    [thanks] = await chat.press(prompt, "👍 Ya")
    assert thanks["buttons"] == []  # offered once only, even after leaving the topic


async def test_delete_my_data_after_confirmation(citizen: ClientSession, store: Store) -> None:
    chat = Chat(citizen)
    await chat.say("ktp saya hilang gimana")
    await chat.say("/langganan darurat")
    await chat.say("/petugas")
    [confirm] = await chat.say("/hapusdata")
    assert "Tidak bisa dibatalkan" in confirm["text"]
    [kept] = await chat.press(confirm, "Tidak")
    assert "Tidak ada yang dihapus" in kept["text"]
    assert store.db.execute("SELECT count(*) FROM citizens").fetchone()[0] == 1
    [confirm] = await chat.say("/hapusdata")
    [done] = await chat.press(confirm, "Ya, hapus")
    assert "semua data Anda sudah dihapus" in done["text"]
    for table in ("citizens", "messages", "subscriptions", "escalations", "feedback"):
        assert store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    assert await chat.history() == []
    erased = [r for r in store.officials.audit_log() if r.action == "citizen-data-erased"]
    assert len(erased) == 1 and erased[0].detail is None  # no content in the log


async def compose(official: ClientSession, **fields: Any) -> tuple[str, int]:
    """Preview, then confirm, as on the desk; returns the preview page and the new id."""
    preview = await post_form(official, "/desk/announcements/preview", **fields)
    page = await preview.text()
    assert preview.status == 200, page
    form = re.search(r'<form method="post" action="/desk/announcements">(.*?)</form>', page, re.S)
    assert form, page
    data = [
        (name, value)
        for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(1))
    ]
    import html

    data = [(k, html.unescape(v)) for k, v in data]
    sent = await official.post("/desk/announcements", data=data, allow_redirects=False)
    assert sent.status == 303, await sent.text()
    return page, int(sent.headers["Location"].rsplit("/", 1)[1])


async def wait_until_sent(store: Store, broadcast_id: int, timeout: float = 20) -> None:
    for _ in range(int(timeout * 10)):
        if store.broadcasts.status_of(broadcast_id) in ("sent", "cancelled"):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(
        f"broadcast {broadcast_id} still {store.broadcasts.status_of(broadcast_id)}"
    )


async def test_announcement_reaches_subscribers_of_its_topic_only(
    server: TestServer, official: ClientSession, store: Store
) -> None:
    chats = []
    for topic in ("darurat", "darurat", "vaksinasi"):
        client = browser(server)
        await client.get("/chat")
        chat = Chat(client)
        await chat.say(f"/langganan {topic}")
        chats.append(chat)
    try:
        page, number = await compose(
            official,
            kind="announcement",
            text="Banjir di Kelurahan Sukamaju: hindari Jalan Merdeka.",
            link="https://contoh.go.id/banjir",
            topics="darurat",
            channels="webchat",
        )
        assert 'data-channel="webchat">2<' in page  # the preview counts the audience
        await wait_until_sent(store, number)
        for chat, expected in zip(chats, (True, True, False), strict=True):
            texts = [m["text"] for m in await chat.history()]
            got = any("hindari Jalan Merdeka" in t and "contoh.go.id/banjir" in t for t in texts)
            assert got is expected
        detail = await (await official.get(f"/desk/announcements/{number}")).text()
        assert 'data-state="sent">2<' in detail and 'data-status="sent"' in detail
    finally:
        for chat in chats:
            await chat.client.close()


async def test_scheduled_announcement_can_be_cancelled(
    citizen: ClientSession, official: ClientSession, store: Store
) -> None:
    await Chat(citizen).say("/langganan darurat")
    _, number = await compose(
        official,
        kind="announcement",
        text="Latihan evakuasi besok.",
        topics="darurat",
        channels="webchat",
        send_at="2099-01-01T08:00",
    )
    assert store.broadcasts.status_of(number) == "scheduled"
    await post_form(official, f"/desk/announcements/{number}/cancel")
    assert store.broadcasts.status_of(number) == "cancelled"
    assert not any("evakuasi" in m["text"] for m in await Chat(citizen).history())


async def test_compose_form_refuses_incomplete_input(official: ClientSession) -> None:
    for fields, message in (
        ({"text": "", "topics": "darurat", "channels": "webchat"}, "Tulis isi pesannya"),
        ({"text": "x", "channels": "webchat"}, "Pilih paling sedikit satu topik"),
        (
            {
                "text": "x",
                "topics": "darurat",
                "channels": "webchat",
                "kind": "poll",
                "options": "satu",
            },
            "Jajak pendapat perlu 2",
        ),
        (
            {
                "text": "x",
                "topics": "darurat",
                "channels": "webchat",
                "link": "javascript:alert(1)",
            },
            "Alamat tidak sah",
        ),
    ):
        response = await post_form(official, "/desk/announcements/preview", **fields)
        assert response.status == 400
        page = await response.text()
        assert message in page
        assert f">{fields['text']}</textarea>" in page  # what was typed stays in the form


async def test_poll_votes_results_chart_and_csv(
    server: TestServer, official: ClientSession, store: Store
) -> None:
    chats = []
    for _ in range(3):
        client = browser(server)
        await client.get("/chat")
        chats.append(Chat(client))
        await chats[-1].say("/langganan pengumuman")
    try:
        _, number = await compose(
            official,
            kind="poll",
            text="Kapan jam layanan Disdukcapil sebaiknya dibuka?",
            options="Pagi\nSiang\nSore",
            topics="pengumuman",
            channels="webchat",
        )
        await wait_until_sent(store, number)
        polls = []
        for chat in chats:
            [poll] = [m for m in await chat.history() if m["buttons"]]
            polls.append(poll)
        [thanks] = await chats[0].press(polls[0], "Pagi")
        assert "Pagi" in thanks["text"]
        await chats[1].press(polls[1], "Pagi")
        await chats[1].press(polls[1], "Sore")  # changed their mind: one vote each
        await chats[2].press(polls[2], "Sore")
        assert store.broadcasts.results(number) == ([1, 0, 2], 3)

        detail = await (await official.get(f"/desk/announcements/{number}")).text()
        assert "3 warga memilih" in detail
        chart = await official.get(f"/desk/announcements/{number}/chart.svg")
        svg = await chart.text()
        assert chart.content_type == "image/svg+xml" and "Sore" in svg and "2 (67%)" in svg
        exported = await (await official.get(f"/desk/announcements/{number}/results.csv")).text()
        rows = list(csv.reader(io.StringIO(exported.lstrip("\ufeff"))))
        assert rows[:4] == [
            ["option", "votes", "share_of_voters"],
            ["Pagi", "1", "0.333"],
            ["Siang", "0", "0.000"],
            ["Sore", "2", "0.667"],
        ]

        await post_form(official, f"/desk/announcements/{number}/close")
        [closed] = await chats[0].press(polls[0], "Siang")
        assert "sudah ditutup" in closed["text"]
        assert store.broadcasts.results(number) == ([1, 0, 2], 3)
    finally:
        for chat in chats:
            await chat.client.close()


async def test_campaign_link_counts_citizens_questions_and_subscriptions(
    server: TestServer, official: ClientSession
) -> None:
    created = await post_form(official, "/desk/campaigns", slug="poster-vaksin", title="Poster")
    assert created.status == 303
    async with browser(server) as client:
        await client.get("/chat?ref=poster-vaksin")
        chat = Chat(client)
        await chat.say("/start poster-vaksin")
        await chat.say("di mana lokasi vaksin terdekat?")
        await chat.say("/langganan vaksinasi")
    async with browser(server) as client:
        await client.get("/chat")
        await Chat(client).say("/start kampanye-tidak-ada")  # unknown codes are ignored
    page = await (await official.get("/desk/campaigns")).text()
    row = re.search(r'<tr data-campaign="poster-vaksin">(.*?)</tr>', page, re.S)
    assert row is not None
    numbers = re.findall(r"<td[^>]*>(\d+)</td>", row.group(1))
    assert numbers == ["1", "1", "1"]
    assert "/chat?ref=poster-vaksin" in row.group(1)
    duplicate = await post_form(official, "/desk/campaigns", slug="poster-vaksin")
    page = await (await official.get(duplicate.headers["Location"])).text()
    assert "sudah dipakai" in page


async def test_announcement_pages_need_sign_in(server: TestServer) -> None:
    async with browser(server) as anonymous:
        for path in ("/desk/announcements", "/desk/campaigns", "/desk/announcements/1"):
            response = await anonymous.get(path, allow_redirects=False)
            assert response.status == 303
        page = await anonymous.get("/desk/login")
        refused = await anonymous.post(
            "/desk/announcements",
            data={"csrf": csrf_of(await page.text()), "text": "x"},
            allow_redirects=False,
        )
        assert refused.status == 401


async def test_survey_answered_step_by_step_with_a_break_and_results(
    server: TestServer, official: ClientSession, store: Store
) -> None:
    async with browser(server) as client:
        await client.get("/chat")
        chat = Chat(client)
        await chat.say("/langganan pengumuman")
        _, number = await compose(
            official,
            kind="survey",
            text="Bantu kami memperbaiki layanan Disdukcapil.",
            options=(
                "Seberapa puas Anda dengan layanan kami? [1-5]\n"
                "Layanan apa yang paling sering Anda pakai? [KTP | KK | Akta lahir]\n"
                "Apa saran Anda? [teks]"
            ),
            topics="pengumuman",
            channels="webchat",
        )
        await wait_until_sent(store, number)
        [invite] = [m for m in await chat.history() if m["buttons"]]
        assert "memperbaiki layanan" in invite["text"]
        [first] = await chat.press(invite, "Mulai / Start")
        assert first["text"].startswith("Pertanyaan 1 dari 3: Seberapa puas")
        assert [b["label"] for b in first["buttons"]] == ["1", "2", "3", "4", "5"]
        [second] = await chat.press(first, "4")
        assert [b["label"] for b in second["buttons"]] == ["KTP", "KK", "Akta lahir"]
        # The citizen leaves the survey to ask something, then comes back.
        [answer] = await chat.say("ktp saya hilang gimana")
        assert answer["text"].startswith("Bawa surat kehilangan")
        [again] = await chat.say("/survei")
        assert again["text"].startswith("Pertanyaan 2 dari 3")
        [third] = await chat.press(again, "KK")
        assert "Ketik jawaban Anda" in third["text"]
        [done] = await chat.say("Tambah loket, NIK saya 3201234567890001 sering error")
        assert "Terima kasih telah mengisi survei" in done["text"]
        [none] = await chat.say("/survei")
        assert "Tidak ada survei" in none["text"]

    page = await (await official.get(f"/desk/announcements/{number}")).text()
    assert "1 selesai" in page and "rata-rata 4.0" in page
    assert "Tambah loket" in page and "3201234567890001" not in page  # masked
    chart = await (await official.get(f"/desk/announcements/{number}/chart.svg?q=1")).text()
    assert "KK" in chart and "1 (100%)" in chart
    exported = await (await official.get(f"/desk/announcements/{number}/results.csv")).text()
    rows = list(csv.reader(io.StringIO(exported.lstrip("\ufeff"))))
    assert rows[0][1:] == [
        "Seberapa puas Anda dengan layanan kami?",
        "Layanan apa yang paling sering Anda pakai?",
        "Apa saran Anda?",
    ]
    assert rows[1][:3] == ["1", "4", "KK"] and rows[1][3].startswith("Tambah loket")


async def test_badly_written_survey_is_explained(official: ClientSession) -> None:
    response = await post_form(
        official,
        "/desk/announcements/preview",
        kind="survey",
        text="Survei",
        options="Pilih satu [hanya satu]",
        topics="pengumuman",
        channels="webchat",
    )
    page = await response.text()
    assert response.status == 400 and "Pilih satu [hanya satu]</textarea>" in page
    assert (
        "Survei tidak bisa dibaca: baris 1: tulis 2 sampai 10 pilihan sebagai [a | b | c]"
        in html.unescape(page)
    )
