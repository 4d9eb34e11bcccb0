"""The officials' desk in real headless Chromium (Debian's), driven by Playwright, against
the real app on loopback: signing in, the inbox, answering citizens on Telegram (the
emulator) and Messenger (the Graph API stand-in), "add to FAQ" with retraining, a phone's
screen and the language toggle. One browser per module; each test has its own context.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    expect,
)

from bot.config import Settings
from bot.server import create_app
from bot.service import Loaded, load_answerer
from bot.store import Store
from tests.conftest import private_project
from tests.desk_helpers import PASSWORD, add_official, running
from tests.desk_helpers import browser as http_client
from tests.telegram_harness import TOKEN, Citizen, Emulator
from tests.test_desk import escalate
from tests.test_messenger import SECRET, VERIFY, GraphApi, signed, text_event

# Every async fixture and test of this module runs on one event loop, the browser's.
pytestmark = pytest.mark.asyncio(loop_scope="module")

WAIT = 20_000  # ms: the first decision on a fresh app's model thread can take seconds
PHONE: ViewportSize = {"width": 390, "height": 844}
CHANNEL_ENV = (
    "TELEGRAM_BOT_TOKEN",
    "FACEBOOK_PAGE_ACCESS_TOKEN",
    "FACEBOOK_APP_SECRET",
    "FACEBOOK_VERIFY_TOKEN",
)


@pytest.fixture
def channels_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the web chat: Telegram and Messenger stay off unless a test turns them on."""
    for name in CHANNEL_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store.open(tmp_path / "tanya.db")
    add_official(store, "Ayu", "admin")
    add_official(store, "Budi", "agent")
    return store


@pytest_asyncio.fixture(loop_scope="module")
async def server(
    channels_off: None, trained_settings: Settings, loaded: Loaded, store: Store
) -> AsyncIterator[TestServer]:
    async with running(create_app(trained_settings, loaded, store)) as server:
        yield server


def url_of(server: TestServer, path: str = "") -> str:
    return str(server.make_url(path))


async def sign_in(
    page: Page, server: TestServer, name: str, password: str = PASSWORD, path: str = "/desk/"
) -> None:
    """Through the form, as an official does: the desk sends a stranger to sign in first,
    and back to ``path`` after."""
    await page.goto(url_of(server, path))
    escaped = re.escape(path).replace("/", "(/|%2F)")
    await expect(page).to_have_url(re.compile(rf"/desk/login\?next={escaped}$"))
    await fill_sign_in_form(page, name, password)


async def fill_sign_in_form(page: Page, name: str, password: str) -> None:
    await page.get_by_label("Nama").fill(name)
    await page.get_by_label("Kata sandi").fill(password)
    await page.get_by_role("button", name="Masuk").click()


async def signed_in(context: BrowserContext, server: TestServer, name: str = "Budi") -> Page:
    page = await context.new_page()
    await sign_in(page, server, name)
    await expect(page.get_by_role("heading", name=re.compile("^Kotak masuk"))).to_be_visible()
    return page


def ticket_row(page: Page, ticket: int) -> Any:
    link = page.get_by_role("link", name=f"#{ticket}", exact=True)
    return page.locator("table.tickets tbody tr", has=link)


async def open_ticket(page: Page, ticket: int) -> None:
    """From the inbox, follow the ticket's link."""
    await page.get_by_role("link", name=f"#{ticket}", exact=True).click()
    heading = page.get_by_role("heading", name=re.compile(f"^Tiket #{ticket}"))
    await expect(heading).to_be_visible(timeout=WAIT)


async def send_answer(page: Page) -> None:
    await page.get_by_role("button", name="Kirim jawaban").click()


async def expect_flash(page: Page, message: str) -> None:
    """The one-time message a page shows after a form was sent."""
    await expect(page.get_by_role("status")).to_have_text(message, timeout=WAIT)


async def no_sideways_scrolling(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    inner = await page.evaluate("window.innerWidth")
    # A phone's browser zooms out when the content is wider than the screen.
    assert inner == PHONE["width"], f"{page.url}: too wide, the phone zoomed out to {inner}px"
    assert width <= inner, f"{page.url}: the page is {width}px wide on a {inner}px screen"


async def web_chat_tickets(server: TestServer, *questions: str) -> list[int]:
    """Citizens on the web chat ask these and then for an official, one citizen each."""
    tickets = []
    for number, question in enumerate(questions):
        async with http_client(server) as citizen:
            await citizen.get("/chat")
            tickets.append(await escalate(citizen, question, f"c{number}"))
    return tickets


# 1. Signing in, the inbox, filters and search, a phone's screen


async def test_sign_in_inbox_search_and_filters(
    context: BrowserContext, server: TestServer
) -> None:
    concert, fertiliser = await web_chat_tickets(
        server, "izin keramaian untuk konser musik", "subsidi pupuk untuk petani"
    )
    page = await context.new_page()
    await sign_in(page, server, "Budi", "bukan-kata-sandinya")
    await expect(page.get_by_role("alert")).to_have_text("Nama atau kata sandi salah.")
    await expect(page.get_by_role("heading", name="Masuk")).to_be_visible()

    await fill_sign_in_form(page, "Budi", PASSWORD)
    # The session cookie is Secure: Chromium keeps it on http://127.0.0.1 (a secure context).
    await expect(page).to_have_url(url_of(server, "/desk/"))
    await expect(page.get_by_role("heading", name=re.compile("^Kotak masuk"))).to_contain_text(
        "2 pertanyaan menunggu jawaban"
    )
    await expect(page.get_by_role("button", name="Keluar (Budi)")).to_be_visible()
    [session] = [c for c in await context.cookies() if c["name"] == "tanya_desk"]
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Lax"

    row = ticket_row(page, concert)
    await expect(row).to_contain_text("izin keramaian untuk konser musik")
    await expect(row).to_contain_text("webchat")
    await expect(row.locator(".sla")).to_have_text(re.compile(r"^\d+ mnt$"))  # waiting time
    await expect(row.locator(".sla")).to_have_class(re.compile(r"\bgreen\b"))
    await expect(ticket_row(page, fertiliser)).to_contain_text("subsidi pupuk untuk petani")

    await page.get_by_label("Cari pertanyaan").fill("konser")
    await page.get_by_label("Cari pertanyaan").press("Enter")
    await expect(page).to_have_url(re.compile(r"[?&]q=konser"))
    await expect(ticket_row(page, concert)).to_be_visible()
    await expect(ticket_row(page, fertiliser)).to_have_count(0)
    await expect(page.get_by_label("Cari pertanyaan")).to_have_value("konser")

    await page.get_by_label("Cari pertanyaan").fill("")
    await page.get_by_label("Status").select_option(label="Dijawab")
    await page.get_by_role("button", name="Saring").click()
    await expect(page.get_by_text("Tidak ada pertanyaan di sini.")).to_be_visible()
    await expect(page.locator("table.tickets")).to_have_count(0)

    await page.get_by_label("Status").select_option(label="Terbuka")
    await page.get_by_label("Kanal").select_option("webchat")
    await page.get_by_role("button", name="Saring").click()
    await expect(page.locator("table.tickets tbody tr")).to_have_count(2)


async def test_phone_screen_shows_the_list_and_a_usable_answer_form(
    chromium: Browser, server: TestServer
) -> None:
    [ticket] = await web_chat_tickets(
        server, "apakah ada lowongan kerja di pemkot untuk lulusan sma tahun ini"
    )
    phone = await chromium.new_context(
        locale="id-ID", viewport=PHONE, device_scale_factor=3, is_mobile=True, has_touch=True
    )
    phone.set_default_timeout(WAIT)
    try:
        page = await phone.new_page()
        await sign_in(page, server, "Budi")
        row = ticket_row(page, ticket)
        await expect(row).to_contain_text("lowongan kerja di pemkot")
        await expect(row.locator(".sla")).to_be_visible()
        await expect(row.get_by_role("link", name=f"#{ticket}", exact=True)).to_be_in_viewport()
        await no_sideways_scrolling(page)

        await row.get_by_role("link", name=re.compile("lowongan kerja")).tap()
        await expect(page.get_by_role("heading", name=f"Tiket #{ticket} Terbuka")).to_be_visible()
        await no_sideways_scrolling(page)
        answer = page.locator("#answer").get_by_role("textbox")
        await answer.scroll_into_view_if_needed()
        await expect(answer).to_be_in_viewport()
        box = await answer.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        await answer.tap()
        await answer.fill("Lowongan diumumkan di situs BKD setiap Maret.")
        send = page.get_by_role("button", name="Kirim jawaban")
        await send.scroll_into_view_if_needed()
        await expect(send).to_be_in_viewport()
        await send.tap()
        await expect_flash(page, "Jawaban disimpan: menunggu warga membuka chat.")
        await no_sideways_scrolling(page)
    finally:
        await phone.close()


# 2. Answering a Telegram citizen


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emulator = Emulator()
    yield emulator
    emulator.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def telegram_server(
    channels_off: None,
    emulator: Emulator,
    trained_settings: Settings,
    loaded: Loaded,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[TestServer]:
    """The real app with Telegram polling the emulator."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    settings = dataclasses.replace(
        trained_settings,
        telegram=dataclasses.replace(
            trained_settings.telegram, api_url=emulator.url, poll_timeout=1, per_chat_interval=0.1
        ),
    )
    async with running(create_app(settings, loaded, store)) as server:
        yield server


async def telegram_message(citizen: Citizen, pattern: str, timeout: float = 30) -> dict[str, Any]:
    """The first of the bot's messages to this citizen whose text matches ``pattern``."""
    deadline = time.monotonic() + timeout
    while True:
        for message in citizen.received:
            if re.search(pattern, message["message"]["text"]):
                return message
        left = deadline - time.monotonic()
        assert left > 0, f"no message matching {pattern!r}: {citizen.received}"
        await citizen.wait_for(len(citizen.received) + 1, timeout=left)


async def test_official_answers_a_telegram_citizen_with_a_guess(
    context: BrowserContext, telegram_server: TestServer, emulator: Emulator
) -> None:
    citizen = Citizen(emulator, 2101)
    await citizen.say("ktp hilang harus lapor ke mana")
    await telegram_message(citizen, "Apakah jawaban ini membantu")
    await citizen.say("/petugas")
    handed_over = await telegram_message(citizen, r"Nomor tiket Anda: #\d+")
    ticket = int(re.findall(r"#(\d+)", handed_over["message"]["text"])[-1])

    page = await signed_in(context, telegram_server)
    await expect(ticket_row(page, ticket)).to_contain_text("telegram")
    await expect(ticket_row(page, ticket)).to_contain_text("ktp hilang harus lapor ke mana")
    await open_ticket(page, ticket)
    await expect(page.locator(".conversation")).to_contain_text("ktp hilang harus lapor ke mana")
    guess = page.locator("ul.guesses li", has_text="ktp-hilang")
    await guess.get_by_role("link", name="Pakai jawaban ini").click()
    answer = page.locator("textarea[name=answer]")
    await expect(answer).to_have_value(re.compile("^Bawa surat kehilangan dari kepolisian"))
    await send_answer(page)
    await expect_flash(page, "Jawaban disimpan: terkirim.")
    await expect(page.get_by_role("heading", name=f"Tiket #{ticket} Dijawab")).to_be_visible()
    await expect(page.locator(".delivery")).to_have_text("terkirim")

    delivered = await telegram_message(
        citizen, f"Petugas menjawab pertanyaan Anda \\(tiket #{ticket}"
    )
    assert "Bawa surat kehilangan dari kepolisian" in delivered["message"]["text"]
    rate = await telegram_message(citizen, "^Seberapa membantu jawaban ini")
    labels = [b["text"] for row in rate["message"]["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["1", "2", "3", "4", "5"]


async def test_official_answer_appears_in_the_citizens_open_web_chat(
    context: BrowserContext, server: TestServer
) -> None:
    """The citizen keeps the chat open; the answer arrives there without a reload, with its
    rating buttons, and the desk then reports it delivered."""
    citizen = await context.browser.new_context(locale="id-ID")  # type: ignore[union-attr]
    chat = await citizen.new_page()
    await chat.goto(url_of(server, "/chat"))
    await expect(chat.locator(".msg.bot").first).to_contain_text("Selamat datang")
    await chat.fill("#text", "parkir liar di depan pasar baru, tolong ditertibkan")
    await chat.click("#send")
    await expect(chat.locator(".msg.bot")).to_have_count(2, timeout=WAIT)
    await chat.fill("#text", "/petugas")
    await chat.click("#send")
    handed_over = chat.locator(".msg.bot", has_text="Nomor tiket Anda").last
    await expect(handed_over).to_be_visible(timeout=WAIT)
    ticket = int(re.findall(r"#(\d+)", await handed_over.inner_text())[-1])
    shown_before = await chat.locator(".msg").count()

    page = await signed_in(context, server)
    await open_ticket(page, ticket)
    answer_box = page.locator("#answer").get_by_role("textbox")
    await answer_box.fill("Sudah kami teruskan ke Dinas Perhubungan untuk ditertibkan minggu ini.")
    await send_answer(page)
    await expect_flash(page, "Jawaban disimpan: menunggu warga membuka chat.")

    answer = chat.locator(".msg.bot", has_text="Dinas Perhubungan untuk ditertibkan")
    await expect(answer).to_be_visible(timeout=WAIT)
    await expect(answer).to_contain_text(f"tiket #{ticket}")
    await expect(chat.locator(".msg.bot").last.get_by_role("button", name="5")).to_be_visible()
    assert await chat.locator(".msg").count() > shown_before
    await page.reload()
    await expect(page.locator(".delivery")).to_contain_text("terkirim")
    # Shown once: the next polls bring nothing new.
    await chat.wait_for_timeout(9_000)
    await expect(answer).to_have_count(1)
    await citizen.close()


# 3. Answering a Messenger citizen


@pytest_asyncio.fixture(loop_scope="module")
async def graph() -> AsyncIterator[tuple[GraphApi, str]]:
    api = GraphApi()
    app = web.Application()
    app.router.add_post("/v21.0/me/messages", api.messages)
    async with running(app) as server:
        yield api, url_of(server, "/v21.0")


@pytest_asyncio.fixture(loop_scope="module")
async def messenger_server(
    channels_off: None,
    graph: tuple[GraphApi, str],
    trained_settings: Settings,
    loaded: Loaded,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[TestServer]:
    monkeypatch.setenv("FACEBOOK_PAGE_ACCESS_TOKEN", "test-page-token")
    monkeypatch.setenv("FACEBOOK_APP_SECRET", SECRET)
    monkeypatch.setenv("FACEBOOK_VERIFY_TOKEN", VERIFY)
    settings = dataclasses.replace(
        trained_settings,
        messenger=dataclasses.replace(trained_settings.messenger, graph_api_url=graph[1]),
    )
    async with running(create_app(settings, loaded, store)) as server:
        yield server


async def test_official_answers_a_messenger_citizen(
    context: BrowserContext, messenger_server: TestServer, graph: tuple[GraphApi, str]
) -> None:
    api = graph[0]
    psid = "psid-desk-7"
    body, headers = signed(text_event(psid, "berapa biaya sewa gedung olahraga", "mid.d1"))
    async with ClientSession() as platform:
        response = await platform.post(
            url_of(messenger_server, "/webhooks/messenger"), data=body, headers=headers
        )
        assert response.status == 200
    [handed_over] = await api.wait_for(1)
    match = re.search(r"#(\d+)", handed_over["message"]["text"])
    assert handed_over["recipient"] == {"id": psid} and match, handed_over
    ticket = int(match.group(1))

    # The official follows a link to the ticket, signs in, and lands on that ticket.
    page = await context.new_page()
    await sign_in(page, messenger_server, "Ayu", path=f"/desk/tickets/{ticket}")
    await expect(page).to_have_url(url_of(messenger_server, f"/desk/tickets/{ticket}"))
    await expect(page.locator("p.meta")).to_contain_text("messenger")
    await expect(page.locator(".conversation")).to_contain_text("berapa biaya sewa gedung")
    reply = "Sewa GOR Rp500.000 per hari; pesan di kantor Dispora."
    await page.locator("textarea[name=answer]").fill(reply)
    await send_answer(page)
    await expect_flash(page, "Jawaban disimpan: terkirim.")

    sent = await api.wait_for(3)
    answer, rate = sent[1], sent[2]
    assert answer["recipient"] == {"id": psid} and answer["messaging_type"] == "RESPONSE"
    assert answer["message"]["text"] == (
        f"Petugas menjawab pertanyaan Anda (tiket #{ticket}):\n\n{reply}"
    )
    assert rate["recipient"] == {"id": psid}
    assert [q["title"] for q in rate["message"]["quick_replies"]] == ["1", "2", "3", "4", "5"]


# 4. "Add to FAQ" and retraining, then the bot answers it itself

NEW_QUESTION = "kapan pasar malam di alun-alun dibuka"
NEW_ANSWER = "Pasar malam alun-alun buka setiap Sabtu pukul 18.00-23.00."


@pytest.fixture
def private_settings(trained: Path, tmp_path: Path) -> Settings:
    """A private copy of the trained project: this test edits its FAQ and retrains."""
    return private_project(trained, tmp_path)


@pytest_asyncio.fixture(loop_scope="module")
async def learning_server(
    channels_off: None, private_settings: Settings, store: Store
) -> AsyncIterator[TestServer]:
    app = create_app(private_settings, load_answerer(private_settings), store)
    async with running(app) as server:
        yield server


async def ask_in_chat(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.click("#send")


@pytest.mark.slow
async def test_add_answer_to_faq_retrains_and_the_bot_answers_it(
    context: BrowserContext, learning_server: TestServer, private_settings: Settings
) -> None:
    [ticket] = await web_chat_tickets(learning_server, NEW_QUESTION)
    page = await signed_in(context, learning_server, "Budi")
    await open_ticket(page, ticket)
    await page.locator("textarea[name=answer]").fill(NEW_ANSWER)
    await send_answer(page)
    await expect_flash(page, "Jawaban disimpan: menunggu warga membuka chat.")

    section = page.locator("section#faq")
    await expect(section.get_by_role("heading", name="Tambahkan ke FAQ")).to_be_visible()
    # The answer was the official's own, not an entry's: "as a new entry" is open.
    form = section.locator("details.new-entry form")
    await expect(form).to_be_visible()
    await expect(section.locator("details.example form")).to_be_hidden()
    await form.get_by_text("atau topik baru").click()
    await form.get_by_label("Kode topik baru").fill("pasar")
    await form.get_by_label("Judul topik baru, bahasa Indonesia").fill("Pasar")
    await form.get_by_label("Judul topik baru, bahasa Inggris").fill("Markets")
    await form.get_by_label("ID entri").fill("pasar-malam")
    questions = form.get_by_label("Contoh pertanyaan, bahasa Indonesia")
    await expect(questions).to_have_value(NEW_QUESTION)  # the citizen's question, to start
    await questions.fill(f"{NEW_QUESTION}\njadwal buka pasar malam alun alun")
    await expect(form.get_by_label("Jawaban, bahasa Indonesia")).to_have_value(NEW_ANSWER)
    await form.get_by_role("button", name="Tambahkan ke FAQ").click()

    await expect(page).to_have_url(re.compile(r"/desk/training\?"))
    await expect_flash(
        page, "Ditambahkan ke FAQ: pasar-malam Model dilatih ulang di latar belakang."
    )
    assert "pasar-malam" in (private_settings.faq.dir / "pasar.yml").read_text(encoding="utf-8")
    run = page.locator("section.run").first
    await expect(run.get_by_role("heading")).to_contain_text("Sedang melatih")
    await expect(run).to_contain_text("Budi: entri baru pasar-malam")
    await expect(page.locator('meta[http-equiv="refresh"]')).to_have_attribute("content", "3")
    await expect(page.get_by_role("button", name="Latih ulang sekarang")).to_have_count(0)
    # No reload by the test: the page refreshes itself every 3 s until the run ends.
    await expect(run.get_by_role("heading")).to_contain_text("Berhasil", timeout=240_000)
    await expect(run.locator("pre")).to_contain_text("memuat model baru")
    await expect(run.locator(".outcome")).to_contain_text(
        re.compile(r"model baru menjawab sejak \d\d:\d\d:\d\d WIB")
    )
    await expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(0)
    await expect(page.get_by_role("button", name="Latih ulang sekarang")).to_be_visible()

    chat = await context.new_page()
    await chat.goto(url_of(learning_server, "/chat"))
    await expect(chat.locator(".msg.bot").first).to_contain_text("Selamat datang")
    await ask_in_chat(chat, NEW_QUESTION)
    await expect(chat.locator(".msg.bot").nth(1)).to_contain_text(NEW_ANSWER, timeout=WAIT)
    await expect(chat.locator(".msg.bot").last).to_contain_text("Apakah jawaban ini membantu?")


# 5. The desk in English


async def test_language_toggle_switches_the_desk_to_english(
    context: BrowserContext, server: TestServer
) -> None:
    [ticket] = await web_chat_tickets(server, "berapa tarif parkir bus pariwisata")
    page = await signed_in(context, server)
    await open_ticket(page, ticket)
    await expect(page.get_by_role("button", name="Kirim jawaban")).to_be_visible()

    await page.get_by_role("button", name="English").click()
    # Still on the same ticket, now in English.
    await expect(page.get_by_role("heading", name=f"Ticket #{ticket} Open")).to_be_visible()
    await expect(page.get_by_role("button", name="Kirim jawaban")).to_have_count(0)
    await expect(page.get_by_role("navigation").get_by_role("link", name="Inbox")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.locator("#answer").get_by_role("textbox").fill("Rp20.000 per jam di terminal.")
    await page.get_by_role("button", name="Send answer").click()
    await expect_flash(page, "Answer saved: waiting for the citizen to open the chat.")

    # Back to Indonesian: the same page, without repeating the message about the answer.
    await page.get_by_role("button", name="Bahasa Indonesia").click()
    await expect(page.get_by_role("heading", name=f"Tiket #{ticket} Dijawab")).to_be_visible()
    await expect(page.get_by_role("status")).to_have_count(0)

    await page.get_by_role("button", name="English").click()
    await page.get_by_role("navigation").get_by_role("link", name="Inbox").click()
    await expect(page.get_by_role("heading", name=re.compile("^Inbox"))).to_contain_text(
        "Questions waiting: 0"
    )
    await expect(page.get_by_text("No questions here.")).to_be_visible()
    await expect(page.get_by_role("button", name="Filter")).to_be_visible()
    await expect(page.get_by_label("Search questions")).to_be_visible()

    # The choice belongs to the official: it stays after signing in again.
    await page.get_by_role("button", name="Sign out (Budi)").click()
    await sign_in(page, server, "Budi")
    await expect(page.get_by_role("heading", name=re.compile("^Inbox"))).to_be_visible()
    await page.get_by_role("button", name="Bahasa Indonesia").click()
    await expect(page.get_by_role("heading", name=re.compile("^Kotak masuk"))).to_be_visible()


async def test_poll_composed_voted_on_and_results_shown(
    context: BrowserContext, server: TestServer, store: Store
) -> None:
    """An official sends a poll from the desk; web chat citizens vote with its buttons in
    their own browsers; the results page shows the counts and the server-drawn chart."""
    citizens = []
    for _ in range(3):
        citizen = await context.browser.new_context(locale="id-ID")  # type: ignore[union-attr]
        chat = await citizen.new_page()
        await chat.goto(url_of(server, "/chat"))
        await expect(chat.locator(".msg.bot").first).to_contain_text("Selamat datang")
        await chat.fill("#text", "/langganan pengumuman")
        await chat.click("#send")
        await expect(chat.locator(".msg.bot").last).to_contain_text("Pengumuman umum")
        citizens.append((citizen, chat))

    page = await signed_in(context, server)
    await page.get_by_role("link", name="Pengumuman & jajak pendapat").click()
    await page.get_by_label("Jenis").select_option("poll")
    await page.get_by_label("Isi pesan").fill("Perlukah taman kota buka sampai jam 22.00?")
    await page.get_by_label("Pilihan jawaban").fill("Perlu\nTidak perlu")
    await page.get_by_label("Pengumuman umum").check()
    await page.get_by_role("button", name="Pratinjau").click()
    await expect(page.locator('[data-channel="webchat"]')).to_have_text("3")
    await page.get_by_role("button", name="Kirim").click()
    await expect(page.locator('[data-state="sent"]')).to_have_text("3")  # page refreshes

    for (_, chat), choice in zip(citizens, ("Perlu", "Perlu", "Tidak perlu"), strict=True):
        # No reload: the open chat page polls for announcements.
        poll = chat.locator(".msg.bot", has_text="Perlukah taman kota buka sampai jam 22.00?")
        await expect(poll).to_be_visible(timeout=WAIT)
        await poll.get_by_role("button", name=choice, exact=True).click()
        await expect(chat.locator(".msg.bot").last).to_contain_text(f"tercatat: {choice}")
    await page.reload()
    await expect(page.get_by_text("3 warga memilih")).to_be_visible()
    await expect(page.locator('[data-option="0"]')).to_have_text("2")
    await expect(page.locator('[data-option="1"]')).to_have_text("1")
    chart = page.locator("img.chart")
    await expect(chart).to_be_visible()
    assert await chart.evaluate("img => img.naturalWidth") > 0  # the SVG really rendered
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Unduh CSV").click()
    saved = await (await download.value).path()
    assert "Perlu,2,0.667" in Path(saved).read_text(encoding="utf-8-sig")
    for citizen, _ in citizens:
        await citizen.close()
