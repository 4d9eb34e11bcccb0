"""The dashboard in real headless Chromium (Debian's), driven by Playwright: an official
signs in, sees the charts drawn, and switches the period. One browser for the module."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Page, expect

from bot.config import Settings
from bot.server import create_app
from bot.service import Loaded
from bot.store import Store
from tests.desk_helpers import PASSWORD, add_official, running
from tests.test_dashboard import Traffic, expected, generate_month

pytestmark = pytest.mark.asyncio(loop_scope="module")

WAIT = 20_000  # ms
CHARTS = ("channels", "languages", "outcomes", "ages")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store.open(tmp_path / "tanya.db")
    add_official(store, "Budi", "agent")
    return store


@pytest.fixture
def traffic(store: Store) -> Traffic:
    return generate_month(store, datetime.now(UTC))


@pytest_asyncio.fixture(loop_scope="module")
async def server(
    trained_settings: Settings, loaded: Loaded, store: Store, traffic: Traffic
) -> AsyncIterator[TestServer]:
    async with running(create_app(trained_settings, loaded, store)) as server:
        yield server


async def charts_drawn(page: Page) -> None:
    """Every chart is an inline SVG with a real size; the daily one has its columns."""
    for name in CHARTS:
        chart = page.locator(f'[data-chart="{name}"] svg')
        await expect(chart).to_be_visible()
        box = await chart.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 50, name
    assert await page.locator('[data-chart="channels"] rect[data-count]').count() > 0


async def test_dashboard_draws_charts_and_switches_the_period(
    context: BrowserContext, server: TestServer, store: Store, traffic: Traffic
) -> None:
    page = await context.new_page()
    await page.goto(str(server.make_url("/desk/dashboard")))
    await expect(page).to_have_url(re.compile(r"/desk/login\?next="))
    await page.get_by_label("Nama").fill("Budi")
    await page.get_by_label("Kata sandi").fill(PASSWORD)
    await page.get_by_role("button", name="Masuk").click()
    await expect(page).to_have_url(re.compile(r"/desk/dashboard$"))
    await expect(page.get_by_role("heading", name=re.compile("^Dasbor"))).to_be_visible()
    await expect(page.get_by_role("link", name="30 hari terakhir")).to_have_attribute(
        "aria-current", "page"
    )
    await charts_drawn(page)

    await page.get_by_role("link", name="7 hari terakhir").click()
    await expect(page).to_have_url(re.compile(r"period=7d$"))
    await expect(page.get_by_role("link", name="7 hari terakhir")).to_have_attribute(
        "aria-current", "page"
    )
    await charts_drawn(page)

    await page.get_by_label("Bulan").select_option(traffic.month)
    await page.get_by_role("button", name="Tampilkan").click()
    await expect(page).to_have_url(re.compile(rf"period=month&month={traffic.month}$"))
    await expect(page.locator("h1 small")).to_have_text(f"periode {traffic.month}")
    want = expected(store.db, traffic.start, traffic.end, datetime.now(UTC))
    await expect(page.locator('[data-figure="questions"]')).to_have_text(str(want["questions"]))
    await charts_drawn(page)
    # One column segment per day and channel with questions, its count in the tooltip.
    segments = page.locator('[data-chart="channels"] rect[data-count]')
    await expect(segments).to_have_count(len(want["by_day_channel"]))
    day = traffic.start.date().isoformat()
    first = page.locator(f'[data-chart="channels"] rect[data-day="{day}"][data-series="telegram"]')
    count = want["by_day_channel"][(day, "telegram")]
    await expect(first.locator("title")).to_have_text(f"{day} · telegram: {count}")
    await expect(page.get_by_role("link", name="Dasbor")).to_be_visible()  # in the menu


async def test_clusters_rumours_and_export_pages_in_chromium(
    context: BrowserContext, server: TestServer, store: Store
) -> None:
    """The insight pages as an admin sees them: clusters of unanswered questions with the
    form to make an FAQ entry, rumours masked with a clarification link, and the CSV."""
    from tests.insight_helpers import seed

    add_official(store, "Ayu", "admin")
    nik = "3201234567890001"
    for number, text in enumerate(
        (
            "kapan pasar malam alun-alun dibuka",
            "pasar malam alun alun buka kapan",
            "jadwal pasar malam di alun-alun",
        )
    ):
        seed(store, text, citizen=f"pasar-{number}")
    seed(store, f"ini hoaks bukan? vaksin ada microchip, nik {nik}", rumour=1)
    page = await context.new_page()
    await page.goto(str(server.make_url("/desk/login")))
    await page.get_by_label("Nama").fill("Ayu")
    await page.get_by_label("Kata sandi").fill(PASSWORD)
    await page.get_by_role("button", name="Masuk").click()

    await page.get_by_role("link", name="Klaster pertanyaan").click()
    await expect(page.get_by_role("heading", name="Klaster pertanyaan")).to_be_visible(
        timeout=120_000  # the page reloads itself until the clusters are worked out
    )
    await expect(page.get_by_text("pasar malam alun alun buka kapan").first).to_be_visible(
        timeout=120_000
    )
    cluster = page.locator("section.cluster", has_text="pasar malam alun alun buka kapan")
    await expect(cluster).to_have_attribute("data-size", "3")
    await cluster.get_by_text("Buat entri FAQ dari klaster ini").click()
    questions = cluster.locator('textarea[name="questions_id"]')  # the cluster's language
    await expect(questions).to_be_visible()
    assert "pasar malam" in await questions.input_value()

    await page.get_by_role("link", name="Rumor").click()
    await expect(page.get_by_text("microchip").first).to_be_visible(timeout=120_000)
    body = await page.content()
    assert nik not in body and "************0001" in body

    await page.goto(str(server.make_url("/desk/export")))
    async with page.expect_download() as download:
        await page.get_by_role("button", name="Unduh CSV").click()
    exported = Path(await (await download.value).path()).read_text(encoding="utf-8-sig")
    assert "pasar malam" in exported and nik not in exported
