"""Spot possible misinformation: messages asking whether something is true, or a hoax.

Citizens check rumours by forwarding the message they received (channels mark forwards,
see ``Incoming.forwarded``) or by asking "benarkah ...?", "ini hoaks bukan?", "is it
true that ...?". Such messages are tagged when stored, so officials see on the desk what
is going round before it spreads, and can answer it and announce a clarification.

The patterns are deliberately specific: "apa benar" and "bener gak" ask for a fact
check, while "benar" alone ("cara yang benar") does not; "katanya" (hearsay) is left out
because citizens use it for ordinary questions too ("katanya bisa online?").
"""

from __future__ import annotations

import enum
import re

# "... or not?": "bener gak", "asli nggak", "resmi tidak". Not "ya": "sudah benar ya?"
# asks whether a form was filled in right, not whether a story is true.
_OR_NOT = r"(?:ga|gak|gk|nggak|ngga|enggak|engga|tidak|tdk|kah|bukan)"
PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        # Indonesian
        r"\bhoa(?:ks|x|k)\w*",  # hoaks, hoax, hoak, hoaxnya
        r"\bbenarkah\b",
        r"\bbetulkah\b",
        r"\bbeneran\b",
        r"\b(?:apa|apakah|apa\s+iya|apa\s+ya)\s+(?:itu\s+|ini\s+)?(?:benar|bener|betul)\b",
        rf"\b(?:benar|bener|betul)\s+{_OR_NOT}\b",
        rf"\b(?:asli|valid|resmi)\s+{_OR_NOT}\b",
        r"\bfakta\s+(?:atau|apa|ato)\s+(?:hoa\w*|bukan|fiksi|mitos)\b",
        r"\bpesan\s+berantai\b",
        r"\bcek\s+fakta\b",
        r"\b(?:dis|mis)informasi\b",
        r"\b(?:berita|kabar|info)\s+(?:palsu|bohong)\b",
        r"\bpenipuan\s+(?:ya|kah|bukan|ga|gak|nggak|tidak)\b",
        r"\bklarifikasi\w*",
        # English
        r"\bis\s+(?:it|this|that)\s+(?:really\s+)?true\b",
        r"\bis\s+(?:it|this|that)\s+(?:a\s+)?(?:fake|real)\b",
        r"\bfake\s+news\b",
        r"\brumou?rs?\b",
        r"\bmisinformation\b",
        r"\btrue\s+or\s+(?:false|not)\b",
        r"\bfact[\s-]?check\w*",
        r"\b(?:a\s+)?scam\s*\?",
        r"\blegit\b",
        r"\btrue\s*\?",
    )
)


def asks_if_true(text: str) -> bool:
    """Whether ``text`` asks if something is true, or calls it a hoax."""
    return any(pattern.search(text) for pattern in PATTERNS)


class Sign(enum.IntFlag):
    """Why a message was tagged (stored in ``messages.rumour``, 0 when untagged)."""

    ASKS_IF_TRUE = 1
    FORWARDED = 2


def signs(text: str, forwarded: bool) -> Sign:
    """What marks a citizen's message as possible misinformation, if anything."""
    found = Sign(0)
    if forwarded:
        found |= Sign.FORWARDED
    if text and asks_if_true(text):
        found |= Sign.ASKS_IF_TRUE
    return found
