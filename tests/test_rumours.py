"""Rumour early warning: messages asking "is this true / hoaks?" and Telegram forwards are
tagged when stored, matched against the hoax clarifications, and listed on the desk
(masked), where officials answer them and announce a clarification."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from telegram import Update

from bot.channels.telegram import parse_update
from bot.config import Settings, load_settings
from bot.core.conversation import Conversation
from bot.core.decision import Action, Decision
from bot.core.messages import Incoming, Kind
from bot.core.rumours import Sign, asks_if_true
from bot.server import create_app
from bot.service import Loaded, load_answerer
from bot.store import Store
from tests.conftest import ROOT, write_config
from tests.desk_helpers import add_official, browser, csrf_of, running, sign_in
from tests.insight_helpers import ready_page, seed

NIK = "3201234567890001"
PHONE = "081234567890"


@pytest.mark.parametrize(
    "text",
    [
        "ini hoaks bukan?",
        "Benarkah vaksin mengandung microchip?",
        "bener gak kalo ktp diblokir kalau gak update lewat link",
        "apa benar bansos cair besok",
        "pesan wa dari dukcapil suruh isi data ktp, resmi gak min",
        "dapat pesan berantai soal banjir besar besok",
        "vaksin bikin mandul, fakta atau hoax?",
        "Is it true that the city hall is closed next week?",
        "is this fake news",
    ],
)
def test_questions_about_whether_something_is_true_are_tagged(text: str) -> None:
    assert asks_if_true(text)


@pytest.mark.parametrize(
    "text",
    [
        "ktp hilang",
        "cara isi formulir yang benar",
        "formulirnya sudah benar ya?",
        "saya benar-benar bingung soal pajak",
        "jadwal vaksin booster kapan",
        "how do I get a birth certificate",
    ],
)
def test_ordinary_questions_are_not_tagged(text: str) -> None:
    assert not asks_if_true(text)


def telegram_update(**message: Any) -> Update:
    data = {
        "message_id": 7,
        "date": 1_763_600_000,
        "chat": {"id": 4242, "type": "private"},
        "from": {"id": 4242, "is_bot": False, "first_name": "Sri", "language_code": "id"},
        **message,
    }
    update = Update.de_json({"update_id": 1, "message": data}, None)
    assert update is not None
    return update


def test_a_forwarded_telegram_message_is_marked_forwarded() -> None:
    origin = {"type": "channel", "date": 1_763_500_000, "message_id": 3}
    origin["chat"] = {"id": -100123, "type": "channel", "title": "Info Viral"}
    forwarded = parse_update(telegram_update(text="Pasar induk ditutup!", forward_origin=origin))
    assert forwarded is not None and forwarded.forwarded and forwarded.kind is Kind.TEXT
    photo = [{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}]
    user = {"type": "user", "date": 1_763_500_000, "sender_user": {"id": 9, "is_bot": False}}
    user["sender_user"]["first_name"] = "Budi"  # type: ignore[index]
    forwarded_photo = parse_update(telegram_update(photo=photo, forward_origin=user))
    assert forwarded_photo is not None and forwarded_photo.forwarded
    # An older Bot API server sends forward_from instead of forward_origin.
    legacy = telegram_update(text="x", forward_from={"id": 9, "is_bot": False, "first_name": "B"})
    assert (parsed := parse_update(legacy)) is not None and parsed.forwarded
    own = parse_update(telegram_update(text="Pasar induk ditutup?"))
    assert own is not None and not own.forwarded


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.open(store_url)
    yield store
    store.close()


async def never(text: str, language: str | None) -> Decision:
    raise AssertionError("storing a message decides nothing")


@pytest.mark.parametrize(
    ("message", "sign"),
    [
        (Incoming("telegram", "1", text="ini hoaks bukan?"), Sign.ASKS_IF_TRUE),
        (Incoming("telegram", "1", text="Pasar ditutup!", forwarded=True), Sign.FORWARDED),
        (Incoming("telegram", "1", Kind.PHOTO, forwarded=True), Sign.FORWARDED),
        (
            Incoming("telegram", "1", text="benarkah ini?", forwarded=True),
            Sign.FORWARDED | Sign.ASKS_IF_TRUE,
        ),
        (Incoming("telegram", "1", text="ktp hilang"), Sign(0)),
        (Incoming("webchat", "1", Kind.BUTTON, payload="hoaks"), Sign(0)),
    ],
)
def test_the_conversation_stores_the_tag_with_the_message(
    store: Store, loaded: Loaded, message: Incoming, sign: Sign
) -> None:
    answerer = loaded.answerer
    conversation = Conversation(store, never, answerer.replies, answerer.faq)
    accepted = conversation.accept(message)
    assert accepted is not None
    [row] = store.messages(accepted.citizen.id)
    assert row.rumour == sign


# The desk


@pytest.fixture
def settings(trained: Path, tmp_path: Path) -> Settings:
    """The trained test project with the sample FAQ's hoax clarifications added (the
    model does not know them; they are only matched by embeddings)."""
    faq = tmp_path / "faq"
    shutil.copytree(trained / "faq", faq)
    shutil.copy(ROOT / "faq" / "hoaks.yml", faq / "hoaks.yml")
    project = trained / "rasa_project"
    write_config(tmp_path, faq, project, project / "models" / "tanya.tar.gz")
    return load_settings(tmp_path / "config.yml")


@pytest.fixture
async def server(settings: Settings, store: Store) -> AsyncIterator[TestServer]:
    add_official(store, "Dewi", "agent")
    async with running(create_app(settings, load_answerer(settings), store)) as server:
        yield server


@pytest.fixture
async def official(server: TestServer) -> AsyncIterator[ClientSession]:
    async with browser(server) as client:
        assert (await sign_in(client, "Dewi")).status == 303
        yield client


async def test_rumours_page_lists_tagged_messages_masked_with_their_clarification(
    server: TestServer, official: ClientSession, store: Store
) -> None:
    async with browser(server) as citizen:
        await citizen.get("/chat")
        rumour = f"ini hoaks bukan? vaksin ada microchip nya, nik {NIK} hp {PHONE}"
        await citizen.post("/chat/api/messages", json={"text": rumour, "id": "1"})
        await citizen.post("/chat/api/messages", json={"text": "ktp hilang gimana", "id": "2"})
    forwarded = seed(store, "Mulai besok pasar induk ditutup selamanya!!", rumour=Sign.FORWARDED)
    answered = seed(
        store,
        "vaksin booster isinya microchip buat lacak warga?",
        action=Action.ANSWER,
        reason=None,
        confidence=0.8,
        faq_id="hoaks-vaksin-microchip",
    )

    page = await ready_page(official, "/desk/rumours")
    assert NIK not in page and PHONE not in page
    assert "************0001" in page and "*********890" in page
    assert "ktp hilang gimana" not in page
    rows = {int(m): chunk for m, chunk in re.findall(r'id="message-(\d+)">(.*?)</tr>', page, re.S)}
    assert len(rows) == 3 and forwarded in rows and answered in rows
    asked = rows[min(rows)]
    assert "hoaks-vaksin-microchip" in asked and "menanyakan kebenaran" in asked
    assert "diteruskan" in rows[forwarded]
    assert "Belum ada klarifikasi yang cocok" in rows[forwarded]  # none is about markets
    assert "dijawab dengan klarifikasi" in rows[answered]
    assert "hoaks-vaksin-microchip" in rows[answered]

    link = re.search(r'href="(/desk/announcements\?[^"]+)"', asked)
    assert link is not None
    query = parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)
    assert query["topics"] == ["hoaks"] and query["text"][0].startswith("*HOAKS.* Vaksin")
    compose = await (await official.get(link.group(1).replace("&amp;", "&"))).text()
    assert "Vaksin tidak mengandung microchip" in compose.split('name="text"')[1]
    assert re.search(r'value="hoaks" checked', compose)


async def test_an_official_answers_a_tagged_message_through_a_ticket(
    server: TestServer, official: ClientSession, store: Store
) -> None:
    message = seed(store, "benarkah air pdam tercemar?", action=Action.ANSWER, rumour=1)
    page = await ready_page(official, "/desk/rumours")
    opened = await official.post(
        f"/desk/rumours/{message}/ticket",
        data={"csrf": csrf_of(page), "days": "14"},
        allow_redirects=False,
    )
    assert opened.status == 303
    ticket = int(opened.headers["Location"].rsplit("/", 1)[1])
    ticket_page = await (await official.get(f"/desk/tickets/{ticket}")).text()
    assert "diduga hoaks" in ticket_page and "benarkah air pdam tercemar?" in ticket_page
    listed = await ready_page(official, "/desk/rumours")
    assert f'href="/desk/tickets/{ticket}"' in listed


async def test_fast_growing_clusters_are_flagged_on_the_rumours_page(
    server: TestServer, official: ClientSession, store: Store
) -> None:
    for number, text in enumerate(
        [
            "pasar induk ditutup minggu depan?",
            "katanya pasar induk mau ditutup, jualan di mana",
            "pasar induk tutup permanen mulai senin?",
            "pasar induk ditutup karena mau dibongkar?",
            "apa pasar induk ditutup bulan ini",
        ]
    ):
        seed(store, text, days_ago=0.5, citizen=f"p{number}")
    seed(store, "cara bayar pbb online", days_ago=10)
    seed(store, "bayar pbb lewat apa", days_ago=12)
    page = await ready_page(official, "/desk/rumours")
    growing = page.split("Klaster yang naik cepat")[1].split("</section>")[0]
    assert "pasar induk" in growing and "5 pertanyaan" in growing
    assert "pbb" not in growing
