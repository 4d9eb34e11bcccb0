"""Officials' passwords: strong enough to resist guessing, stored only as Argon2id hashes.

* Strength: at least ``MIN_PASSWORD_LENGTH`` characters and not easy to guess as judged
  by zxcvbn (Dropbox's estimator: common passwords, sequences like ``1234567890``,
  keyboard rows, repeats, dates, the account's own name, and a few words Indonesians
  often use in passwords). Reasons are given in Indonesian and English.
* Hashing: Argon2id (argon2-cffi's defaults, 64 MiB per hash), so a stolen database does
  not give the passwords away cheaply. It takes a CPU for a sixth of a second: the desk
  runs it on one thread of its own (``HASHING``), never on the event loop, so a sign-in
  never stalls the channels and a burst of sign-ins takes one core at most.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

from bot.desk.texts import text

MIN_PASSWORD_LENGTH = 10
# zxcvbn's score 0-4; 3 means about 10^8 guesses or more ("safely unguessable" online).
MIN_STRENGTH = 3
_ANALYSED_CHARS = 72  # zxcvbn refuses longer input; the start says enough about a pattern
_LOCAL_WORDS = (
    "indonesia rahasia katasandi sandi sayang cinta bismillah merdeka jakarta bandung "
    "surabaya garuda pancasila tanya petugas pemkot pemda kota desa dinas admin"
).split()

HASHING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")
_hasher = PasswordHasher()
# Verifying against this keeps the time for an unknown name the same as for a known one.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(8))


class WeakPassword(ValueError):
    """The password is refused; the message says why, in Indonesian and English."""


def _both(key: str, **values: object) -> str:
    return f"{text(key, 'id', **values)} / {text(key, 'en', **values)}"


def check_strength(password: str, name: str = "") -> None:
    """Raise :class:`WeakPassword` for a password too short or too easy to guess."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(_both("pw_short", n=MIN_PASSWORD_LENGTH))
    inputs = [*_LOCAL_WORDS, *name.casefold().split()]
    estimate = zxcvbn(password[:_ANALYSED_CHARS], user_inputs=inputs)
    if estimate["score"] < MIN_STRENGTH:
        raise WeakPassword(_both("pw_guessable"))


def hash_password(password: str, name: str = "") -> str:
    """The Argon2id hash of a password strong enough for an account called ``name``."""
    check_strength(password, name)
    return _hasher.hash(password)


def rehash(password_hash: str, password: str) -> str | None:
    """A new hash when ``password_hash`` was made with weaker parameters than today's."""
    return _hasher.hash(password) if _hasher.check_needs_rehash(password_hash) else None


def verify_password(password_hash: str | None, password: str) -> bool:
    """Blocking (a sixth of a second of CPU): run it on ``HASHING``."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
