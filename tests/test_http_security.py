"""Every response of the real app carries the security headers (error pages and static
files too) and no version banner; a 500 shows no traceback; behind a trusted reverse proxy
the client's address is the one the proxy saw, and nobody else can choose it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.config import ServerSettings, Settings
from bot.http_security import secure
from bot.server import create_app
from bot.service import Loaded
from bot.store import Store
from tests.desk_helpers import browser, running

SECRET_IN_ERROR = "database password is hunter2"


@pytest.fixture
async def server(
    trained_settings: Settings, loaded: Loaded, tmp_path: Path
) -> AsyncIterator[TestServer]:
    app = create_app(trained_settings, loaded, Store.open(tmp_path / "tanya.db"))

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError(SECRET_IN_ERROR)

    app.router.add_get("/broken", broken)
    async with running(app) as server:
        yield server


REQUESTS = [
    ("GET", "/", 200),
    ("GET", "/healthz", 200),
    ("GET", "/desk/login", 200),
    ("GET", "/desk/static/desk.css", 200),
    ("GET", "/chat/chat.js", 200),
    ("GET", "/no-such-page", 404),
    ("GET", "/desk/tickets/1", 303),
    ("GET", "/api/ask", 405),
    ("POST", "/api/ask", 413),
    ("GET", "/broken", 500),
]


async def test_every_response_has_the_security_headers_and_no_banner(server: TestServer) -> None:
    async with browser(server) as client:
        for method, path, status in REQUESTS:
            body = b"x" * (200 * 1024) if status == 413 else None
            response = await client.request(method, path, data=body, allow_redirects=False)
            assert response.status == status, path
            headers = response.headers
            assert headers["X-Content-Type-Options"] == "nosniff", path
            assert headers["Referrer-Policy"] in ("same-origin", "no-referrer"), path
            assert headers["X-Frame-Options"] == "DENY", path
            assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
            assert "Server" not in headers, path
            assert "aiohttp" not in str(headers) and "Python" not in str(headers), path


async def test_desk_pages_keep_their_own_content_security_policy(server: TestServer) -> None:
    async with browser(server) as client:
        for path in ("/desk/login", "/desk/no-such-page"):
            policy = (await client.get(path)).headers["Content-Security-Policy"]
            assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, path


async def test_the_web_chat_page_may_be_embedded(server: TestServer) -> None:
    async with browser(server) as client:
        response = await client.get("/chat")
        assert response.status == 200
        assert "X-Frame-Options" not in response.headers
        assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_an_error_shows_no_traceback(server: TestServer) -> None:
    async with browser(server) as client:
        response = await client.get("/broken")
        page = await response.text()
    assert response.status == 500
    assert "Maaf, terjadi kesalahan" in page and "something went wrong" in page
    assert "Traceback" not in page and SECRET_IN_ERROR not in page and "RuntimeError" not in page


async def test_a_malformed_request_does_not_reveal_versions(server: TestServer) -> None:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.0 400")
    assert b"aiohttp" not in answer and b"Python/" not in answer


# --- the client's address behind a reverse proxy -----------------------------------------


def echo_app(**server: object) -> web.Application:
    """An app that answers with the address it sees (the real middleware in front)."""
    app = web.Application()
    secure(app, dataclasses.replace(ServerSettings(), **server))  # type: ignore[arg-type]

    async def remote(request: web.Request) -> web.Response:
        return web.Response(text=str(request.remote))

    app.router.add_get("/", remote)
    return app


async def seen(app: web.Application, headers: dict[str, str]) -> str:
    async with running(app) as server, browser(server) as client:
        return await (await client.get("/", headers=headers)).text()


FORWARDED = [
    # (header value, the client the app must see); the test connects from 127.0.0.1
    ("203.0.113.7", "203.0.113.7"),
    ("198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the leftmost was written by the client
    ("203.0.113.7, 10.0.0.5", "203.0.113.7"),  # 10.0.0.5: a trusted proxy in between
    ("10.0.0.9, 10.0.0.5", "10.0.0.9"),  # only trusted hops: the leftmost
    ("not-an-address", "127.0.0.1"),
    ("203.0.113.7:51234", "203.0.113.7"),
    ("[2001:db8::1]:443", "2001:db8::1"),
]


@pytest.mark.parametrize(("value", "client"), FORWARDED)
async def test_trusted_proxies_name_the_client(value: str, client: str) -> None:
    app = echo_app(trusted_proxies=("127.0.0.1", "10.0.0.0/8"))
    assert await seen(app, {"X-Forwarded-For": value}) == client


async def test_rfc_7239_forwarded_header() -> None:
    app = echo_app(trusted_proxies=("127.0.0.0/8",), client_address_header="Forwarded")
    headers = {
        "Forwarded": 'for=198.51.100.1, for="[2001:db8::7]:8443";proto=https',
        "X-Forwarded-For": "192.0.2.99",  # not the configured header: ignored
    }
    assert await seen(app, headers) == "2001:db8::7"


async def test_the_header_is_ignored_unless_the_connection_is_from_a_trusted_proxy() -> None:
    assert await seen(echo_app(), {"X-Forwarded-For": "203.0.113.7"}) == "127.0.0.1"
    untrusted = echo_app(trusted_proxies=("10.0.0.0/8",))
    assert await seen(untrusted, {"X-Forwarded-For": "203.0.113.7"}) == "127.0.0.1"
