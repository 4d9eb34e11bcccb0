"""Mask personal data in citizens' messages wherever many eyes see them.

Citizens often paste their NIK (the 16-digit national ID number), phone number or e-mail
address into a question. Lists, search results, exports and the officials' Telegram group
show them masked; only the one escalation page, to a signed-in official, shows them whole.
The last digits stay visible so an official can still tell two numbers apart.

Numbers are written many ways ("3201 2345 6789 0001", "32.01.23.456789.0001",
"3201/2345/...", "hp081234567890", "(+62) 812-3456-7890"), sometimes with invisible
characters inside, and e-mail addresses need not be ASCII. Ordinary numbers stay as they
are: dates, times, RT/RW, amounts in rupiah, years, postcodes.
"""

from __future__ import annotations

import re

# Zero-width and direction marks: invisible, so they may hide inside a number.
_INVISIBLE = "\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff"
_HIDDEN_IN_NUMBER = re.compile(rf"(?<=\d)[{_INVISIBLE}]+(?=\d)")

_EMAIL = re.compile(
    r"(?<![\w.%+-])([\w%+-])[\w.%+-]*"
    r"(@[\w-]+(?:\.[\w-]+)*\.(?:[^\W\d_]{2,}|xn--[\w-]+))(?![\w-])"
)
# 16 digits, grouped by spaces (up to three), dots, dashes or slashes: one kind per number.
_NIK_SEPARATOR = r"(?:[ \t\u00a0]{1,3}|[./-])"
_NIK = re.compile(rf"(?<![\d+])\d(?:{_NIK_SEPARATOR}?\d){{15}}(?!\d)")
# Indonesian mobile and fixed numbers (08..., +62..., 62..., (021) ...) and other
# international numbers (+<country>...): 8 to 15 digits with optional separators.
_PHONE_SEPARATOR = r"(?:[ \u00a0]{0,2}[.-]?[ \u00a0]{0,2})"
_PHONE = re.compile(
    rf"(?<![\d+])(?:\(?\+\d{{1,3}}\)?|62|\(?0){_PHONE_SEPARATOR}\(?\d{{2,4}}\)?"
    rf"(?:{_PHONE_SEPARATOR}\d{{3,4}}){{1,3}}(?!\d)"
)
MIN_PHONE_DIGITS = 8
MAX_PHONE_DIGITS = 15
# A number glued to letters is a phone number only after words that announce one.
_PHONE_WORDS = frozenset(
    "hp hape nohp wa no nomor nmr nmor telp telpon telepon tlp tel phone ph cp kontak sms "
    "call".split()
)
_WORD_BEFORE = re.compile(r"([^\W\d_]+)$")
# Amounts: thousands grouped by dots or commas ("Rp 62.500.000", "1,500,000").
_AMOUNT = re.compile(r"\d{1,3}(?:([.,])\d{3})(?:\1\d{3})*")
_LOOK_BACK = 12  # characters before a number searched for a word or a currency
_CURRENCY_BEFORE = re.compile(r"(?:rp|idr)\.?\s*$", re.IGNORECASE)


def _stars(text: str, keep: int) -> str:
    digits = [c for c in text if c.isdigit()]
    return "*" * (len(digits) - keep) + "".join(digits[-keep:])


def _separators(value: str) -> set[str]:
    """The kinds of separator between a number's digits (all spaces count as one kind)."""
    return {"space" if part.isspace() else part for part in re.findall(r"\D+", value)}


def _nik(match: re.Match[str]) -> str:
    value = match.group(0)
    if len(_separators(value)) > 1 or _AMOUNT.fullmatch(value):
        return value  # "12.03.2024 15.000.000": a date and an amount, not one number
    return _stars(value, 4)


def _phone(match: re.Match[str]) -> str:
    value = match.group(0).rstrip()
    count = sum(c.isdigit() for c in value)
    if not MIN_PHONE_DIGITS <= count <= MAX_PHONE_DIGITS or _AMOUNT.fullmatch(value):
        return match.group(0)  # a year, an amount, a short code: not a phone number
    before = match.string[max(0, match.start() - _LOOK_BACK) : match.start()]
    if _CURRENCY_BEFORE.search(before):
        return match.group(0)
    word = _WORD_BEFORE.search(before)
    if word and word.group(1).casefold() not in _PHONE_WORDS:
        return match.group(0)  # part of a longer word or code ("INV0812...")
    prefix = "+" if "+" in value[:2] else ""
    return prefix + _stars(value, 3) + match.group(0)[len(value) :]


def mask(text: str) -> str:
    """``text`` with NIKs, phone numbers and e-mail addresses masked."""
    return _masked(text)[0]


def personal_data(text: str) -> set[str]:
    """The kinds of personal data in ``text``: ``nik``, ``phone``, ``email``."""
    return _masked(text)[1]


def _masked(text: str) -> tuple[str, set[str]]:
    found: set[str] = set()
    text = _HIDDEN_IN_NUMBER.sub("", text)
    for kind, step in (
        ("email", lambda t: _EMAIL.sub(lambda m: f"{m.group(1)}***{m.group(2)}", t)),
        ("nik", lambda t: _NIK.sub(_nik, t)),
        ("phone", lambda t: _PHONE.sub(_phone, t)),
    ):
        after = step(text)
        if after != text:
            found.add(kind)
        text = after
    return text, found
