"""The web chat in real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.config import Settings
from bot.server import create_app
from bot.service import Loaded
from bot.store import Store
from tests.conftest import CHROMIUM_ARGS
from tests.telegram_harness import free_port


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def bot_url(trained_settings: Settings, loaded: Loaded, tmp_path: Path) -> AsyncIterator[str]:
    runner, url = await serve(
        create_app(trained_settings, loaded, Store.open(tmp_path / "tanya.db"))
    )
    yield url
    await runner.cleanup()


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


async def open_chat(browser: Browser, url: str) -> Page:
    page = await browser.new_page(locale="id-ID")
    await page.goto(f"{url}/chat")
    await expect(page.locator(".msg.bot").first).to_contain_text("Selamat datang")
    return page


async def ask(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.click("#send")


async def test_citizen_asks_and_rates_the_answer(browser: Browser, bot_url: str) -> None:
    page = await open_chat(browser, bot_url)
    await ask(page, "ktp saya hilang gimana ngurusnya")
    await expect(page.locator(".msg.bot").nth(1)).to_contain_text("Bawa surat kehilangan")
    await page.get_by_role("button", name="👍 Ya").click()
    await expect(page.locator(".msg.bot").last).to_contain_text("Terima kasih atas masukan Anda!")
    await expect(page.get_by_role("button", name="👎 Tidak")).to_be_disabled()
    # A helpful answer offers its topic's announcements, once.
    await page.get_by_role("button", name="🔔 Ikuti info Kependudukan").click()
    await expect(page.locator(".msg.bot").last).to_contain_text(
        "Anda akan menerima pengumuman tentang Kependudukan"
    )


async def test_html_in_a_question_is_shown_as_text(browser: Browser, bot_url: str) -> None:
    page = await open_chat(browser, bot_url)
    attack = '<img src=x onerror="window.hacked=1"><b>tebal</b>'
    await ask(page, attack)
    await expect(page.locator(".msg.citizen").last).to_have_text(attack)
    await expect(page.locator(".msg.bot").nth(1)).to_be_visible()
    assert await page.evaluate("window.hacked") is None
    assert await page.locator(".msg img, .msg b").count() == 0


async def test_language_switch_and_history_after_reload(browser: Browser, bot_url: str) -> None:
    page = await open_chat(browser, bot_url)
    await page.click("#language")
    await expect(page.locator("#language")).to_have_text("Bahasa Indonesia")
    await expect(page.locator(".msg.bot").last).to_contain_text("I will reply in English")
    await ask(page, "where can I get vaccinated?")
    await expect(page.locator(".msg.bot").last).to_contain_text("Was this helpful?")
    # English was chosen: an Indonesian question still gets the English answer.
    await ask(page, "ktp saya hilang gimana ngurusnya")
    await expect(page.locator(".msg.bot").last).to_contain_text("Bring a police loss report")
    await page.reload()
    await expect(page.locator(".msg.bot", has_text="Vaccination is available")).to_be_visible()
    await expect(page.locator("#send")).to_have_text("Send")


async def test_embed_snippet_on_another_website(browser: Browser, bot_url: str) -> None:
    """The government's site (127.0.0.2) embeds the bot's chat (localhost): another site,
    so the chat runs in a third-party frame, on a phone-sized screen, with the browser
    refusing the frame's storage and third-party cookies."""
    port = bot_url.rsplit(":", 1)[1]
    chat_host = f"http://localhost:{port}"
    site = web.Application()

    async def home(request: web.Request) -> web.Response:
        return web.Response(
            content_type="text/html",
            text=(
                '<!doctype html><meta name="viewport" content="width=device-width">'
                "<title>Kota Contoh</title><h1>Pemerintah Kota Contoh</h1>"
                f'<script src="{chat_host}/chat/embed.js" async></script>'
            ),
        )

    site.router.add_get("/", home)
    runner = web.AppRunner(site)
    await runner.setup()
    site_port = free_port()
    await web.TCPSite(runner, "127.0.0.2", site_port).start()
    context = await browser.new_context(
        locale="en-US", viewport={"width": 375, "height": 740}, is_mobile=True
    )
    try:
        page = await context.new_page()
        await page.goto(f"http://127.0.0.2:{site_port}/")
        await page.get_by_role("button", name="Tanya: chat").click()
        frame = page.frame_locator("iframe[title=Tanya]")
        # The government's language first, whatever the phone is set to.
        await expect(frame.locator(".msg.bot").first).to_contain_text("Selamat datang")
        await frame.locator("#text").fill("ktp saya hilang gimana ngurusnya")
        await frame.locator("#send").click()
        await expect(frame.locator(".msg.bot").nth(1)).to_contain_text("Bawa surat kehilangan")
        await frame.locator("#language").click()
        await expect(frame.locator(".msg.bot").last).to_contain_text("I will reply in English")
        await frame.locator("#text").fill("where can I get vaccinated?")
        await frame.locator("#send").click()
        await expect(frame.locator(".msg.bot").last).to_contain_text("Was this helpful?")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375
        # The frame's own width: nothing in the chat overflows the phone either.
        chat = page.frames[1]
        assert await chat.evaluate("document.documentElement.scrollWidth") <= (
            await chat.evaluate("window.innerWidth")
        )
    finally:
        await context.close()
        await runner.cleanup()


async def test_the_chat_works_where_the_browser_refuses_storage_and_cookies(
    browser: Browser, bot_url: str
) -> None:
    """Some browsers refuse a third-party frame any storage: reading localStorage throws
    and cookies are not kept. The chat must still answer."""
    context = await browser.new_context(locale="id-ID")
    try:
        await context.add_init_script(
            "Object.defineProperty(window, 'localStorage', "
            "{get() { throw new DOMException('denied', 'SecurityError'); }});"
        )
        page = await context.new_page()
        await page.route(
            f"{bot_url}/chat*",
            lambda route: route.continue_(headers={**route.request.headers, "cookie": ""}),
        )
        await page.goto(f"{bot_url}/chat")
        await expect(page.locator(".msg.bot").first).to_contain_text("Selamat datang")
        await ask(page, "ktp saya hilang gimana ngurusnya")
        await expect(page.locator(".msg.bot").nth(1)).to_contain_text("Bawa surat kehilangan")
    finally:
        await context.close()
