"""Mask personal data in citizens' messages wherever many eyes see them.

Citizens often paste their NIK (the 16-digit national ID number), phone number or e-mail
address into a question. Lists, search results and the officials' Telegram group show
them masked; only the one escalation page, to a signed-in official, shows them whole.
The last digits stay visible so an official can still tell two numbers apart.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")
# 16 digits, optionally grouped by spaces, dots or dashes ("3201 2345 6789 0001").
_NIK = re.compile(r"(?<![\d+])(?:\d[ .-]?){15}\d(?!\d)")
# Indonesian mobile and fixed numbers (08..., +62..., 62..., 021-...) and other
# international numbers (+<country>...): 8 to 15 digits with optional separators.
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}|62|0)[ .-]?\(?\d{2,4}\)?(?:[ .-]?\d{3,4}){1,3}(?!\w)")
MIN_PHONE_DIGITS = 8
MAX_PHONE_DIGITS = 15


def _stars(text: str, keep: int) -> str:
    digits = [c for c in text if c.isdigit()]
    return "*" * (len(digits) - keep) + "".join(digits[-keep:])


def _phone(match: re.Match[str]) -> str:
    value = match.group(0)
    count = sum(c.isdigit() for c in value)
    if not MIN_PHONE_DIGITS <= count <= MAX_PHONE_DIGITS:
        return value  # a year, an amount, a short code: not a phone number
    prefix = "+" if value.startswith("+") else ""
    return prefix + _stars(value, 3)


def mask(text: str) -> str:
    """``text`` with NIKs, phone numbers and e-mail addresses masked."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***{m.group(2)}", text)
    text = _NIK.sub(lambda m: _stars(m.group(0), 4), text)
    return _PHONE.sub(_phone, text)
