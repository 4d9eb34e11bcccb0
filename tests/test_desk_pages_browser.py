"""The desk as officials meet it (issue 16), in real headless Chromium against the real
app: every page on a 375 px phone, "add to FAQ" from a masked question and the entry
whose answer was used, the ticket's topic, what the composer keeps, similar questions as
Clusters finds them, the inbox noticing new questions, the desk in the official's
language, an FAQ changed behind the bot's back, and the FAQ spreadsheet round trip.

One server and one browser for the module (its tests share the data they make, in file
order); a desktop and a phone profile, each signed in once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, expect

from bot.config import Settings
from bot.core.messages import Reply, replies_to_json
from bot.desk import views
from bot.faq import read_faq
from bot.server import LEARNING, create_app
from bot.service import load_answerer
from bot.store import Store
from bot.store.outbox import OutboxKind, OutboxState
from tests.conftest import BROWSER_WAIT, private_project
from tests.desk_helpers import PASSWORD, add_official, running
from tests.desk_helpers import browser as http_client
from tests.insight_helpers import seed
from tests.test_desk import escalate

pytestmark = pytest.mark.asyncio(loop_scope="module")

PHONE = {"width": 375, "height": 740}
CHANNEL_ENV = (
    "TELEGRAM_BOT_TOKEN",
    "FACEBOOK_PAGE_ACCESS_TOKEN",
    "FACEBOOK_APP_SECRET",
    "FACEBOOK_VERIFY_TOKEN",
)
PHONE_NUMBER = "0812-3456-7890"
LONG = "Pemberitahuan-penting-untuk-seluruh-warga-kota-" * 4  # one unbreakable word


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, trained: Path) -> Settings:
    """A private copy of the trained project: these tests edit its FAQ."""
    base = tmp_path_factory.mktemp("desk-pages")
    return private_project(trained, base)


@pytest.fixture(scope="module")
def store(project: Settings) -> Store:
    store = Store.open(project.storage.location)
    add_official(store, "Ayu", "admin")
    add_official(store, "Budi", "agent")
    return store


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(project: Settings, store: Store) -> AsyncIterator[TestServer]:
    with pytest.MonkeyPatch.context() as patch:
        for name in CHANNEL_ENV:
            patch.delenv(name, raising=False)
        # Messenger on (its Send API never called here): the composer knows its limits.
        patch.setenv("FACEBOOK_PAGE_ACCESS_TOKEN", "page-token")
        patch.setenv("FACEBOOK_APP_SECRET", "app-secret")
        patch.setenv("FACEBOOK_VERIFY_TOKEN", "verify-token")
        patch.setattr(views, "INBOX_POLL_MS", 500)  # the inbox asks every half second
        settings = dataclasses.replace(
            project,
            messenger=dataclasses.replace(
                project.messenger, graph_api_url="http://127.0.0.1:9/v21.0"
            ),
        )
        app = create_app(settings, load_answerer(settings), store)
        async with running(app) as server:
            yield server


def url(server: TestServer, path: str) -> str:
    return str(server.make_url(path))


async def sign_in(context: BrowserContext, server: TestServer, name: str = "Ayu") -> Page:
    page = await context.new_page()
    await page.goto(url(server, "/desk/login"))
    await page.get_by_label("Nama").fill(name)
    await page.get_by_label("Kata sandi").fill(PASSWORD)
    await page.get_by_role("button", name="Masuk").click()
    await expect(page.get_by_role("heading", name=re.compile("^Kotak masuk"))).to_be_visible()
    return page


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def desktop(chromium: Browser, server: TestServer) -> AsyncIterator[Page]:
    context = await chromium.new_context(locale="id-ID", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(BROWSER_WAIT)
    yield await sign_in(context, server)
    await context.close()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def phone(chromium: Browser, server: TestServer) -> AsyncIterator[Page]:
    context = await chromium.new_context(
        locale="id-ID", viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(BROWSER_WAIT)
    yield await sign_in(context, server)
    await context.close()


async def citizen_asks(server: TestServer, question: str, name: str) -> int:
    """A web chat citizen asks and then wants an official: the ticket's number."""
    async with http_client(server) as citizen:
        await citizen.get("/chat")
        return await escalate(citizen, question, name)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def tickets(server: TestServer, store: Store) -> dict[str, int]:
    """Something on every page: tickets (one with a phone number, two alike), an
    announcement and a scheduled poll, a campaign with a long code, a rumour, questions
    to cluster, a reply the platform refused, and audit entries."""
    made = {
        "phone": await citizen_asks(
            server, f"ktp sy hilang, tolong hubungi sy di {PHONE_NUMBER} ya", "phone"
        ),
        "market": await citizen_asks(server, "kapan pasar malam di alun-alun dibuka", "m1"),
        "market_too": await citizen_asks(server, "pasar malam alun alun buka kapan ya", "m2"),
        "parking": await citizen_asks(server, "parkir liar di depan pasar baru", "p1"),
    }
    reader = store.citizen("webchat", "pembaca")
    store.subscriptions.subscribe(reader.id, "pengumuman")
    ayu = store.officials.by_name("Ayu")
    assert ayu is not None
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat(timespec="milliseconds")
    store.broadcasts.create(
        kind="announcement",
        text=f"{LONG} pemadaman listrik hari Sabtu",
        topics=["pengumuman"],
        channels=["webchat"],
        send_at=now,
        created_by=ayu.id,
        link=f"https://kota.example.go.id/{LONG}",
    )
    made["poll"] = store.broadcasts.create(
        kind="poll",
        text="Jam berapa taman kota sebaiknya tutup?",
        topics=["pengumuman"],
        channels=["webchat"],
        send_at=later,
        created_by=ayu.id,
        options=["Pukul 21.00", "Pukul 22.00"],
    )
    with store.db.atomic():
        store.db.execute(
            "INSERT INTO campaigns (slug, title, created_by, created_at) VALUES (?, ?, ?, ?)",
            ["poster-pasar-" + "x" * 40, "Poster di pasar", ayu.id, now],
        )
    seed(store, f"benarkah {LONG} vaksin palsu beredar? diteruskan dari grup", rumour=1)
    for number, text in enumerate(["sampah belum diangkut", "sampah blm diangkut seminggu"]):
        seed(store, text, days_ago=0.5, citizen=f"s{number}")
    item = store.outbox.add(
        reader.id, OutboxKind.REPLY, replies_to_json([Reply(f"Jawaban {LONG}")]), message_id=None
    )
    store.outbox.finish(item, OutboxState.FAILED, f"HTTP 400: {LONG}", 0)
    store.officials.audit(ayu, "campaign-created", "poster", f"{LONG} {LONG}")
    return made


async def fits(page: Page) -> None:
    """No sideways scrolling on the phone, and no zooming out to fit."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    inner = await page.evaluate("window.innerWidth")
    assert inner == PHONE["width"], f"{page.url}: the phone zoomed out to {inner}px"
    assert width <= inner, f"{page.url}: {width}px wide on a {inner}px screen"


async def status(page: Page, message: str | re.Pattern[str]) -> None:
    await expect(page.locator("p.flash.ok")).to_have_text(message)


async def alert(page: Page, message: str | re.Pattern[str]) -> None:
    await expect(page.locator("p.flash.error")).to_contain_text(message)


# 1. Every page on a phone


async def test_every_desk_page_fits_a_375px_phone(
    phone: Page, server: TestServer, tickets: dict[str, int], chromium: Browser
) -> None:
    answered = await citizen_asks(server, "berapa tarif retribusi sampah rumah tangga", "r1")
    await phone.goto(url(server, f"/desk/tickets/{answered}"))
    await phone.locator("textarea[name=answer]").fill("Rp10.000 per bulan, dibayar di kelurahan.")
    await phone.get_by_role("button", name="Kirim jawaban").tap()
    await status(phone, re.compile("^Jawaban disimpan"))
    await fits(phone)  # an answered ticket, with "add to FAQ"

    pages = [
        "/desk/",
        "/desk/history",
        f"/desk/tickets/{tickets['phone']}",
        "/desk/undelivered",
        "/desk/announcements",
        "/desk/announcements/1",
        f"/desk/announcements/{tickets['poll']}",
        f"/desk/announcements/{tickets['poll']}/cancel",
        "/desk/campaigns",
        "/desk/rumours",
        "/desk/training",
        "/desk/audit",
        "/desk/export",
        "/desk/faq",
        "/desk/tidak-ada",
    ]
    for path in pages:
        await phone.goto(url(server, path))
        await expect(phone.locator("main")).to_be_visible()
        await fits(phone)
    for _ in range(240):  # the clusters page reloads itself until they are ready
        await phone.goto(url(server, "/desk/clusters"))
        if not await phone.locator('meta[http-equiv="refresh"]').count():
            break
        await asyncio.sleep(0.5)
    await expect(phone.locator("section.cluster").first).to_be_visible()
    await fits(phone)

    # The dashboard's charts start at their latest days, on the right, in view.
    await phone.goto(url(server, "/desk/dashboard?period=30d"))
    await fits(phone)
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date().isoformat()
    chart = phone.locator('[data-chart="channels"]')
    await chart.evaluate("chart => window.scrollTo(0, chart.offsetTop)")  # down, not sideways
    latest = chart.locator(f'rect[data-day="{today}"]').first
    await expect(latest).to_be_in_viewport()
    box = await latest.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]

    # The compose form's preview and the sign-in page, too.
    await phone.goto(url(server, "/desk/announcements"))
    await phone.get_by_label("Isi pesan").fill(f"{LONG} uji pratinjau")
    await phone.get_by_label("Pengumuman umum").check()
    await phone.get_by_role("button", name="Pratinjau").tap()
    await expect(phone.get_by_role("heading", name="Pratinjau")).to_be_visible()
    await fits(phone)
    stranger = await chromium.new_context(locale="id-ID", viewport=PHONE, is_mobile=True)
    login = await stranger.new_page()
    await login.goto(url(server, "/desk/login"))
    await fits(login)
    await stranger.close()


# 2. "Add to FAQ": the question masked, the entry whose answer was used


async def test_add_to_faq_starts_from_the_masked_question_and_the_entry_used(
    desktop: Page, server: TestServer, tickets: dict[str, int], project: Settings
) -> None:
    page = desktop
    number = tickets["phone"]
    await page.goto(url(server, f"/desk/tickets/{number}"))
    first = (await page.locator("ul.guesses li small").first.inner_text()).split(" · ")[0]
    entry_id = "vaksin-lokasi"
    assert entry_id != first  # the official knows better than the model's guess
    # What "use this answer" does: the entry's answer in the box, to edit.
    await page.goto(url(server, f"/desk/tickets/{number}?use={entry_id}#answer"))
    box = page.locator("textarea[name=answer]")
    used = await box.input_value()
    await box.fill(f"Selamat pagi Bapak/Ibu. {used} Terima kasih.")
    await page.get_by_role("button", name="Kirim jawaban").click()
    await status(page, re.compile("^Jawaban disimpan"))

    section = page.locator("section#faq")
    await expect(section).to_contain_text("sudah dihapus dari pertanyaan")
    example = section.locator("details.example form")
    await expect(example).to_be_visible()  # open: the answer came from an entry
    await expect(example.get_by_label("Entri")).to_have_value(entry_id)
    await expect(section.locator(".used-entry")).to_be_visible()
    question = example.get_by_label("Pertanyaan")
    value = await question.input_value()
    assert "ktp sy hilang" in value and "0812" not in value and "7890" not in value
    # Personal data typed back in is refused, and the form keeps what was typed.
    await question.fill(f"ktp hilang, hp {PHONE_NUMBER}")
    await example.get_by_role("button", name="Tambahkan ke FAQ").click()
    await alert(page, "memuat NIK, nomor telepon atau alamat e-mail")
    await expect(page.locator("details.example form").get_by_label("Pertanyaan")).to_have_value(
        f"ktp hilang, hp {PHONE_NUMBER}"
    )
    written = "".join(p.read_text(encoding="utf-8") for p in project.faq.dir.glob("*.yml"))
    assert PHONE_NUMBER not in written


# 3. The ticket's topic


async def test_an_official_corrects_the_topic_and_the_audit_log_says_so(
    desktop: Page, server: TestServer, tickets: dict[str, int], store: Store
) -> None:
    page = desktop
    number = tickets["parking"]
    await page.goto(url(server, f"/desk/tickets/{number}"))
    form = page.locator("form.topic")
    await form.get_by_label("Topik").select_option(label="Vaksinasi")
    await form.get_by_role("button", name="Ubah topik").click()
    await status(page, "Topik diubah menjadi Vaksinasi.")
    await expect(page.locator("p.meta [data-topic]")).to_have_text("Vaksinasi")
    assert store.escalations.get(number).topic == "vaksinasi"  # type: ignore[union-attr]
    await page.goto(url(server, "/desk/?topic=vaksinasi"))
    row = page.locator("table.tickets tr", has=page.get_by_role("link", name=f"#{number}"))
    await expect(row.locator("td[data-topic]")).to_have_text("Vaksinasi")  # a title, not a code
    await page.goto(url(server, "/desk/audit"))
    logged = page.locator("table.audit tr", has_text=f"tiket #{number}").first
    await expect(logged).to_contain_text("mengubah topik tiket")


# 4. The composer keeps what was typed


async def test_the_composer_keeps_what_was_typed(
    desktop: Page, server: TestServer, tickets: dict[str, int], store: Store
) -> None:
    page = desktop
    await page.goto(url(server, "/desk/announcements"))
    await page.get_by_label("Jenis").select_option("poll")
    await page.get_by_label("Isi pesan").fill("Setujukah jalan Mawar dijadikan satu arah?")
    await page.get_by_label("Pilihan jawaban").fill("Setuju sekali, segera saja\nTidak")
    await page.get_by_role("button", name="Pratinjau").click()  # no topic chosen
    await alert(page, "Pilih paling sedikit satu topik.")
    await expect(page.get_by_label("Isi pesan")).to_have_value(
        "Setujukah jalan Mawar dijadikan satu arah?"
    )
    await expect(page.get_by_label("Pilihan jawaban")).to_have_value(
        "Setuju sekali, segera saja\nTidak"
    )
    await expect(page.get_by_label("Jenis")).to_have_value("poll")

    await page.get_by_label("Pengumuman umum").check()
    await page.get_by_role("button", name="Pratinjau").click()
    await expect(page.locator("[data-recipients]")).to_have_attribute("data-recipients", "1")
    # Messenger's buttons show 20 characters: the preview says which choices get cut.
    warning = page.locator("p.long-choices")
    await expect(warning).to_contain_text("Setuju sekali, segera saja")
    await expect(warning).not_to_contain_text("Tidak")
    await page.get_by_role("button", name="Ubah").click()  # back, with everything kept
    await expect(page.get_by_label("Isi pesan")).to_have_value(
        "Setujukah jalan Mawar dijadikan satu arah?"
    )
    await expect(page.get_by_label("Pilihan jawaban")).to_have_value(
        "Setuju sekali, segera saja\nTidak"
    )
    await expect(page.get_by_label("Pengumuman umum")).to_be_checked()

    # Nobody subscribes to emergencies: no "send" on the preview, and no sending anyway.
    await page.get_by_label("Pengumuman umum").uncheck()
    await page.get_by_label("Peringatan darurat").check()
    await page.get_by_role("button", name="Pratinjau").click()
    await expect(page.locator("p.no-recipients")).to_be_visible()
    await expect(page.get_by_role("button", name="Kirim", exact=True)).to_have_count(0)
    before = len(store.broadcasts.recent(limit=50))
    forced = await page.request.post(
        url(server, "/desk/announcements"),
        form={
            "csrf": await page.locator("input[name=csrf]").first.input_value(),
            "kind": "announcement",
            "text": "Uji",
            "topics": "darurat",
            "channels": "webchat",
        },
    )
    assert forced.status == 400 and "Tidak ada penerima" in await forced.text()
    assert len(store.broadcasts.recent(limit=50)) == before

    # Cancelling asks first, and says how many would not get it.
    await page.goto(url(server, f"/desk/announcements/{tickets['poll']}"))
    await page.get_by_role("link", name="Batalkan pengiriman").click()
    await expect(page.get_by_text("Hentikan pengiriman kepada 1 warga")).to_be_visible()
    assert store.broadcasts.get(tickets["poll"]).status == "scheduled"  # type: ignore[union-attr]
    await page.get_by_role("button", name="Ya, hentikan pengiriman").click()
    await status(page, "Dibatalkan.")
    assert store.broadcasts.get(tickets["poll"]).status == "cancelled"  # type: ignore[union-attr]


# 5. Similar open questions, as Clusters finds them


async def test_similar_open_questions_are_offered_unticked(
    desktop: Page, server: TestServer, tickets: dict[str, int]
) -> None:
    page = desktop
    await page.goto(url(server, f"/desk/tickets/{tickets['market']}"))
    similar = page.locator("fieldset.similar")
    await expect(similar).to_contain_text("menerima jawaban Anda persis seperti yang tertulis")
    offered = similar.locator("label")
    # The same question in other words comes first: those Clusters would group with it,
    # most similar first (bench/clusters.py measures the rule).
    await expect(offered.first).to_contain_text(f"#{tickets['market_too']} pasar malam alun alun")
    boxes = similar.get_by_role("checkbox")
    for index in range(await boxes.count()):
        await expect(boxes.nth(index)).not_to_be_checked()


# 6. The inbox notices new questions


async def test_the_inbox_offers_the_questions_that_came_in(
    desktop: Page, server: TestServer, tickets: dict[str, int], store: Store
) -> None:
    page = desktop
    await page.goto(url(server, "/desk/"))
    offer = page.locator("#new-tickets")
    await expect(offer).to_be_hidden()
    number = await citizen_asks(server, "lampu jalan di gang kenanga mati", "lamp")
    await expect(offer).to_be_visible()
    await expect(offer).to_contain_text(f"{store.escalations.count_open()} menunggu")
    await offer.get_by_role("link", name="Tampilkan").click()
    await expect(page.get_by_role("link", name=f"#{number}", exact=True)).to_be_visible()
    await expect(offer).to_be_hidden()


# 7. The desk in the official's language


async def test_details_codes_and_error_pages_in_the_officials_language(
    desktop: Page, server: TestServer, tickets: dict[str, int], store: Store
) -> None:
    page = desktop
    number = tickets["market"]
    await page.goto(url(server, f"/desk/tickets/{number}"))
    await page.locator("textarea[name=answer]").fill("Setiap Sabtu pukul 18.00-23.00.")
    await page.get_by_role("button", name="Kirim jawaban").click()
    await status(page, re.compile("^Jawaban disimpan"))
    await expect(page.locator(".delivery-detail")).to_contain_text(
        "tampil dalam beberapa detik bila chat warga sedang terbuka"
    )
    await page.goto(url(server, "/desk/undelivered"))
    await expect(page.locator("table.undelivered")).to_contain_text("platform menjawab HTTP 400")
    await page.goto(url(server, "/desk/audit"))
    await expect(page.locator('td[data-action="answer"]').first).to_have_text("menjawab")
    missing = await page.goto(url(server, "/desk/tiket-yang-tidak-ada"))
    assert missing is not None and missing.status == 404
    await alert(page, "Tidak ditemukan.")

    with pytest.MonkeyPatch.context() as patch:  # something breaks while drawing a page

        def broken(iso: str, language: str) -> str:
            raise RuntimeError("a bug")

        patch.setattr(views, "waited", broken)
        failed = await page.goto(url(server, "/desk/"))
        assert failed is not None and failed.status == 500
        await alert(page, "Maaf, terjadi kesalahan di server.")
        assert "Traceback" not in await page.content()

        await page.get_by_role("button", name="English").click()
        await alert(page, "Sorry, something went wrong on the server.")
    await page.goto(url(server, f"/desk/tickets/{number}"))
    await expect(page.locator(".delivery-detail")).to_contain_text(
        "shown within seconds if the citizen's chat is open"
    )
    await page.goto(url(server, "/desk/audit"))
    await expect(page.locator('td[data-action="answer"]').first).to_have_text("answered")
    await page.goto(url(server, "/desk/nothing-here"))
    await alert(page, "Not found.")
    await page.get_by_role("button", name="Bahasa Indonesia").click()
    await expect(page.locator("html")).to_have_attribute("lang", "id")


# 8. The FAQ changed behind the running bot's back


async def test_an_faq_edited_on_the_server_is_noticed(
    desktop: Page, server: TestServer, project: Settings
) -> None:
    page = desktop
    health = await page.request.get(url(server, "/healthz"))
    assert (await health.json())["model_stale"] is False
    await page.goto(url(server, "/desk/"))
    await expect(page.locator("[data-banner]")).to_have_count(0)

    path = project.faq.dir / "vaksinasi.yml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "di semua puskesmas dan RSUD Kota Contoh.", "di semua puskesmas dan klinik mitra."
        ),
        encoding="utf-8",
    )
    health = await page.request.get(url(server, "/healthz"))
    assert (await health.json())["model_stale"] is True
    await page.goto(url(server, "/desk/"))
    banner = page.locator('[data-banner="stale"]')
    await expect(banner).to_contain_text("Isi FAQ berubah sejak model dilatih")
    await expect(banner.get_by_role("button", name="Latih ulang sekarang")).to_be_visible()
    await page.goto(url(server, "/desk/training"))
    await expect(page.locator("em.stale")).to_be_visible()


# 9. The FAQ spreadsheet, down and up again


async def test_faq_spreadsheet_round_trip_with_a_preview(
    desktop: Page, server: TestServer, project: Settings, tmp_path: Path
) -> None:
    page = desktop
    await page.goto(url(server, "/desk/"))
    await page.get_by_role("navigation").get_by_role("link", name="FAQ (spreadsheet)").click()
    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="Excel (.xlsx)").click()
    download = await downloading.value
    assert re.fullmatch(r"faq-\d{4}-\d\d-\d\d\.xlsx", download.suggested_filename)
    sheet_path = tmp_path / "faq-diubah.xlsx"
    await download.save_as(sheet_path)

    workbook = openpyxl.load_workbook(sheet_path)
    sheet = workbook.active
    header = [cell.value for cell in sheet[1]]
    column = {name: header.index(name) + 1 for name in header if name}
    rows = {sheet.cell(r, column["id"]).value: r for r in range(2, sheet.max_row + 1)}
    sheet.cell(rows["ktp-baru"], column["answer_id"]).value = "Datang ke kecamatan, bawa KK."
    sheet.delete_rows(rows["akta-lahir"])
    new = sheet.max_row + 1
    for name, value in {
        "topic": "kependudukan",
        "id": "kk-baru",
        "question_id": "cara bikin kartu keluarga baru",
        "question_en": "how do I get a new family card",
        "answer_id": "Bawa surat nikah dan KTP ke Disdukcapil.",
        "answer_en": "Bring your marriage certificate and ID cards to Disdukcapil.",
    }.items():
        sheet.cell(new, column[name]).value = value
    workbook.save(sheet_path)

    await page.get_by_label("Berkas").set_input_files(sheet_path)
    await page.get_by_role("button", name="Periksa perubahannya").click()
    preview = page.locator("section#preview")
    await expect(
        preview.get_by_role("heading", name="Perubahan dari faq-diubah.xlsx")
    ).to_be_visible()
    await expect(preview.locator('ul.added [data-entry="kk-baru"]')).to_be_visible()
    await expect(preview.locator('ul.changed [data-entry="ktp-baru"]')).to_contain_text(
        "jawaban (Indonesia)"
    )
    missing = preview.locator('ul.missing [data-entry="akta-lahir"]')
    await expect(missing).to_be_visible()
    await expect(missing.get_by_role("checkbox")).not_to_be_checked()
    faq_before = read_faq(project.faq.dir)
    assert faq_before.get("kk-baru") is None  # nothing saved before the confirmation

    await missing.get_by_role("checkbox").check()
    await preview.get_by_role("button", name="Simpan perubahan ini").click()
    await expect(page).to_have_url(re.compile(r"/desk/training\?"))
    await status(page, re.compile("^FAQ diperbarui: 1 entri baru, 1 berubah, 1 dihapus."))
    faq = read_faq(project.faq.dir)
    assert faq.get("akta-lahir") is None
    assert faq.entry("ktp-baru").answers["id"] == "Datang ke kecamatan, bawa KK."
    assert set(faq.entry("kk-baru").answers) == {"id", "en"}
    await expect(page.locator("section.run").first).to_contain_text("Ayu: unggahan spreadsheet")
    learning = server.app[LEARNING]
    # The same upload confirmed again (a second click, a stale tab) changes nothing.
    again = await page.request.post(
        url(server, "/desk/faq/apply"),
        form={"csrf": await page.locator("input[name=csrf]").first.input_value(), "token": "x"},
        max_redirects=0,
    )
    assert again.status == 303 and "error=" in again.headers["location"]
    await learning.stop()  # no need to wait for the retraining here
