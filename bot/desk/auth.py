"""Signing officials in and keeping forms honest.

* Passwords: see ``bot.desk.passwords`` (Argon2id on a thread of its own, strength).
* Sessions: a random token in a ``Secure``, ``HttpOnly``, ``SameSite=Lax`` cookie;
  the database keeps only its SHA-256.
* CSRF: every form carries the session's token (synchronizer token); the sign-in form,
  which has no session yet, a token that must match a cookie (double submit). Requests
  whose ``Origin`` is another site are refused as well.
* Failed sign-ins are counted per account *and* address: past the limit that account is
  refused from that address, even with the right password, until the window has passed,
  while its official can still sign in from anywhere else (nobody can lock a named
  official out). Each address also has a budget of failures for all accounts together,
  which slows down trying a password on many accounts. Behind a reverse proxy the
  address is the client's (``server.trusted_proxies``). A failure is counted before the
  password is checked, so parallel attempts cannot slip past the limit.
* What was typed as a name is never stored unless it names an account: officials do type
  their password into the name field. Unknown names are counted under a keyed hash
  whose key lives only in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import urlsplit

from aiohttp import web

from bot.config import DeskSettings
from bot.desk.passwords import (
    HASHING,
    MIN_PASSWORD_LENGTH,
    WeakPassword,
    hash_password,
    rehash,
    verify_password,
)
from bot.store.officials import Official, Officials, Session

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "Auth",
    "TooManyAttempts",
    "WeakPassword",
    "hash_password",
    "same_origin",
    "tokens_match",
    "verify_password",
]

SESSION_COOKIE = "tanya_desk"
LOGIN_COOKIE = "tanya_desk_login"
PATH = "/desk"
SESSION = web.AppKey("desk_session", dict)


class TooManyAttempts(Exception):
    """Sign-in refused without checking the password: too many failures lately."""


class Auth:
    def __init__(self, settings: DeskSettings, officials: Officials) -> None:
        self.settings = settings
        self.officials = officials
        self._name_key = secrets.token_bytes(32)

    # Sign-in

    def _account(self, official: Official | None, name: str) -> str:
        """Who the attempt was for, without keeping what was typed."""
        if official is not None:
            return f"official {official.id}"
        digest = hmac.new(self._name_key, name.casefold().encode(), hashlib.sha256)
        return f"name {digest.hexdigest()[:32]}"

    def _refused(self, account_key: str, address_key: str) -> bool:
        window = timedelta(minutes=self.settings.login_window_minutes)
        return (
            self.officials.failures_since(account_key, window) >= self.settings.max_login_failures
            or self.officials.failures_since(address_key, window)
            >= self.settings.max_address_login_failures
        )

    async def sign_in(self, name: str, password: str, address: str) -> Official | None:
        """The official, ``None`` for a wrong name or password; ``TooManyAttempts``."""
        official = self.officials.by_name(name)
        account_key = f"{self._account(official, name)} from {address}"
        address_key = f"address {address}"
        if self._refused(account_key, address_key):
            raise TooManyAttempts()
        # Counted now, taken back on success: attempts running in parallel all count.
        keep = max(timedelta(minutes=self.settings.login_window_minutes), timedelta(days=1))
        attempt = [self.officials.record_failure(k, keep) for k in (account_key, address_key)]
        password_hash = official.password_hash if official else None
        loop = asyncio.get_running_loop()
        valid = await loop.run_in_executor(HASHING, verify_password, password_hash, password)
        if official is None or not valid or official.disabled:
            known = official.name if official else ""
            why = (
                "unknown name"
                if official is None
                else "account disabled"
                if official.disabled
                else "wrong password"
            )
            self.officials.audit(official, "sign-in-failed", known, f"{why}, from {address}")
            return None
        self.officials.clear_failures(account_key)
        self.officials.forget_failures(attempt)
        fresh = await loop.run_in_executor(HASHING, rehash, official.password_hash, password)
        if fresh is not None:
            self.officials.update(official.id, password_hash=fresh)
        self.officials.audit(official, "sign-in", official.name, address)
        return official

    def start_session(self, response: web.StreamResponse, official: Official) -> None:
        token = secrets.token_urlsafe(32)
        self.officials.start_session(
            official.id, token, secrets.token_urlsafe(32), self.settings.session_hours
        )
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(self.settings.session_hours * 3600),
            path=PATH,
            secure=self.settings.secure_cookies,
            httponly=True,
            samesite="Lax",  # Strict would sign officials out when they follow a link to a ticket
        )
        response.del_cookie(LOGIN_COOKIE, path=PATH)

    def end_session(self, request: web.Request, response: web.StreamResponse) -> None:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            self.officials.end_session(token)
        response.del_cookie(SESSION_COOKIE, path=PATH)

    def session(self, request: web.Request) -> Session | None:
        token = request.cookies.get(SESSION_COOKIE)
        return self.officials.session(token) if token else None

    @staticmethod
    def login_token(request: web.Request) -> str:
        """The sign-in form's CSRF token (it comes back both in the form and a cookie)."""
        return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)

    def set_login_cookie(self, response: web.StreamResponse, token: str) -> None:
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            path=PATH,
            secure=self.settings.secure_cookies,
            httponly=True,
            samesite="Strict",
        )


def same_origin(request: web.Request) -> bool:
    """Browsers send ``Origin`` with every POST; a different host means a forged form."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


def tokens_match(expected: str | None, given: object) -> bool:
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(expected or "", given)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
