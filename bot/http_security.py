"""What every HTTP response of the bot carries, whichever part of the app made it.

* Security headers on every response, error pages (404, 405, 413, 500) and static files
  included: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy`` and a ban on being
  framed (``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'``), except where a
  page allows framing in its own Content-Security-Policy (the web chat, embedded in the
  government's website). A page's own headers win.
* No ``Server: Python/3.11 aiohttp/3.9`` banner: versions help an attacker pick exploits.
* An unexpected error gives a plain 500 page in Indonesian and English and is logged with
  its traceback, which never reaches the client.
* The client's address behind a trusted reverse proxy (``bot.client_address``).
"""

from __future__ import annotations

import logging

import aiohttp.web_response
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bot.client_address import ClientAddress, networks
from bot.config import ServerSettings

log = logging.getLogger(__name__)

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
NO_FRAMING = "frame-ancestors 'none'"
ERROR_TEXT = (
    "Maaf, terjadi kesalahan di server. Silakan coba lagi nanti.",
    "Sorry, something went wrong on the server. Please try again later.",
)
ERROR_PAGE = f"""<!doctype html>
<html lang="id"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>500</title></head>
<body><p>{ERROR_TEXT[0]}</p><p lang="en">{ERROR_TEXT[1]}</p></body></html>
"""


# Responses that aiohttp writes before any application code runs (a malformed request
# gets a 400 from the HTTP parser) take the server name from this module constant.
aiohttp.web_response.SERVER_SOFTWARE = "Tanya"  # type: ignore[attr-defined]


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: runs for every response the application sends."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    policy = response.headers.get("Content-Security-Policy")
    if policy is None:
        response.headers["Content-Security-Policy"] = NO_FRAMING
    if policy is None or "frame-ancestors" not in policy or NO_FRAMING in policy:
        response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.pop("Server", None)


@web.middleware
async def error_page(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A 500 without a traceback for the client, with one in the log."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("error while answering %s %s", request.method, request.path)
        if "/api/" in request.path:
            return web.json_response({"error": " / ".join(ERROR_TEXT)}, status=500)
        return web.Response(status=500, text=ERROR_PAGE, content_type="text/html")


def secure(app: web.Application, settings: ServerSettings) -> None:
    """Install the headers, the error page and the trusted-proxy address on ``app``."""
    outermost: list[Middleware] = []
    if settings.trusted_proxies:
        trusted = ClientAddress(networks(settings.trusted_proxies), settings.client_address_header)
        outermost.append(trusted.middleware())
    app.middlewares[:0] = [*outermost, error_page]  # error_page also sees the others' errors
    app.on_response_prepare.append(add_headers)  # type: ignore[arg-type]
