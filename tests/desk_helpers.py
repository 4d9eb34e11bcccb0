"""Signing in to the officials' desk from tests, as a browser would (forms and cookies)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer
from aiohttp.web import Application

from bot.desk.auth import hash_password
from bot.store import Store
from bot.store.officials import Official
from tests.telegram_harness import free_port

PASSWORD = "kata-sandi-rahasia"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def add_official(
    store: Store, name: str, role: str = "agent", telegram_user_id: int | None = None
) -> Official:
    return store.officials.add(name, role, hash_password(PASSWORD), telegram_user_id)


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


@asynccontextmanager
async def running(app: Application) -> AsyncIterator[TestServer]:
    """The app served on loopback; any number of ``browser`` sessions may visit it."""
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


def browser(server: TestServer) -> ClientSession:
    """A session with its own cookies, which (like a browser on localhost) sends Secure
    cookies over plain HTTP to the loopback server."""
    origin = str(server.make_url("/")).rstrip("/")
    jar = CookieJar(unsafe=True, treat_as_secure_origin=[origin])
    return ClientSession(base_url=origin, cookie_jar=jar)


async def sign_in(
    client: ClientSession, name: str, password: str = PASSWORD, via: str | None = None
) -> Any:
    """Sign in; ``via`` is the client's address as a trusted reverse proxy reports it."""
    headers = {"X-Forwarded-For": via} if via else {}
    page = await client.get("/desk/login", headers=headers)
    form = {"csrf": csrf_of(await page.text()), "name": name, "password": password, "next": ""}
    return await client.post("/desk/login", data=form, headers=headers, allow_redirects=False)


async def post_form(client: ClientSession, path: str, **fields: Any) -> Any:
    """POST a desk form with the CSRF token of the page it is on."""
    page_path = path.rsplit("/", 1)[0] if "/tickets/" in path else "/desk/"
    page = await client.get(page_path)
    data: list[tuple[str, str]] = [("csrf", csrf_of(await page.text()))]
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            data.append((key, str(item)))
    return await client.post(path, data=data, allow_redirects=False)
