"""Whether a citizen's new message belongs to the ticket they already have open.

A helpline keeps one case per need: "halo? ada yang baca? sampah masih belum diangkut"
after "sampah di gang mawar belum diangkut" is the same case, chasing it; "kapan KTP saya
jadi?" the next day is another. The rule is plain and explainable: a message with no words
of its own beyond greetings and chasing ("halo? ada yang baca?") joins the open ticket, as
does one that shares most of its content words with the ticket's question.
"""

from __future__ import annotations

import re

from bot.core.language import FUNCTION_WORDS

# Words that chase or greet but say nothing about the need.
NUDGE_WORDS = frozenset(
    "halo hallo hai hi hello pagi siang sore malam selamat permisi pak bu bapak ibu kak min "
    "admin mas mbak tolong mohon please baca dibaca membaca respon direspon balas dibalas "
    "jawab dijawab jawaban ditunggu tunggu menunggu masih belum sudah lama kabar gimana "
    "bagaimana update info kok ya yah dong deh lho woi woy any anyone there reply still "
    "waiting answer help thanks terima kasih makasih".split()
)
_WORD = re.compile(r"[^\W\d_]{3,}")
# Share of the shorter message's content words that the two must have in common.
SHARED = 0.5


def content_words(text: str) -> set[str]:
    stop = FUNCTION_WORDS["id"] | FUNCTION_WORDS["en"] | NUDGE_WORDS
    return {w for w in (m.casefold() for m in _WORD.findall(text)) if w not in stop}


def same_need(message: str, question: str) -> bool:
    """Whether ``message`` chases or adds to the open ticket whose question is
    ``question`` (which may already hold earlier follow-ups)."""
    words = content_words(message)
    if not words:
        return True  # "halo? ada yang baca?": chasing the open ticket
    known = content_words(question)
    if not known:
        return False
    shared = len(words & known)
    return shared / min(len(words), len(known)) >= SHARED
