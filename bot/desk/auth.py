"""Signing officials in and keeping forms honest.

* Passwords: Argon2id (argon2-cffi's defaults, 64 MiB per hash), so a stolen database
  does not give the passwords away cheaply.
* Sessions: a random token in a ``Secure``, ``HttpOnly``, ``SameSite=Lax`` cookie;
  the database keeps only its SHA-256.
* CSRF: every form carries the session's token (synchronizer token); the sign-in form,
  which has no session yet, a token that must match a cookie (double submit). Requests
  whose ``Origin`` is another site are refused as well.
* Failed sign-ins are counted per account and per address; past the limit, attempts
  are refused until the window has passed, even with the right password.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import urlsplit

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.config import DeskSettings
from bot.store.officials import Official, Officials, Session

SESSION_COOKIE = "tanya_desk"
LOGIN_COOKIE = "tanya_desk_login"
MIN_PASSWORD_LENGTH = 10
PATH = "/desk"
SESSION = web.AppKey("desk_session", dict)

_hasher = PasswordHasher()
# Verifying against this keeps the time for an unknown name the same as for a known one.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(8))


class WeakPassword(ValueError):
    pass


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class Auth:
    def __init__(self, settings: DeskSettings, officials: Officials) -> None:
        self.settings = settings
        self.officials = officials

    # Sign-in

    def refused_for(self, name: str, address: str) -> bool:
        """Too many failed attempts lately, for this account or from this address."""
        window = timedelta(minutes=self.settings.login_window_minutes)
        limit = self.settings.max_login_failures
        return any(
            self.officials.failures_since(key, window) >= limit
            for key in (f"name:{name.casefold()}", f"addr:{address}")
        )

    def sign_in(self, name: str, password: str, address: str) -> Official | None:
        official = self.officials.by_name(name)
        valid = verify_password(official.password_hash if official else None, password)
        if official is None or not valid or official.disabled:
            for key in (f"name:{name.casefold()}", f"addr:{address}"):
                self.officials.record_failure(key)
            self.officials.audit(official, "sign-in-failed", name, address)
            return None
        self.officials.clear_failures(f"name:{name.casefold()}")
        if _hasher.check_needs_rehash(official.password_hash):
            self.officials.update(official.id, password_hash=_hasher.hash(password))
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
