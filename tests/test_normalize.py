"""Chat spelling is folded to the FAQ's wording before the model sees it."""

from __future__ import annotations

import pytest

from bot.core.language import LanguageGuesser
from bot.nlu.normalize import normalise_text, stem


@pytest.mark.parametrize(
    ("chat", "standard"),
    [
        ("gmn cr bkin KTP yg ilaaang", "bagaimana cara buat ktp yang hilang"),
        ("anak2 sy blm vaksin", "anak anak saya belum vaksin"),
        ("udh byr pbb tp gk masuk", "sudah bayar pbb tapi tidak masuk"),
        ("pls tell me whats the schedule", "please tell me what is the schedule"),
    ],
)
def test_chat_spelling(chat: str, standard: str) -> None:
    assert normalise_text(chat) == standard


def test_stemming_strips_indonesian_affixes_only() -> None:
    assert [stem(w) for w in ("pembuatan", "persyaratan", "mendaftarkan")] == [
        "buat",
        "syarat",
        "daftar",
    ]
    assert stem("vaccination") == "vaccination"


@pytest.mark.parametrize(
    ("text", "hint", "expected"),
    [
        ("ktp sy ilang kak gmn", None, "id"),
        ("where is puskesmas", None, "en"),
        ("how to pay pbb online", "id", "en"),
        ("bener gak vaksin ada chipnya", "en", "id"),
        ("vaksin", "en", "en"),  # one ambiguous word: the citizen's known language wins
        ("ok", "en", "en"),
        ("is it true the vaccine has a microchip", None, "en"),
    ],
)
def test_language_guess(text: str, hint: str | None, expected: str) -> None:
    assert LanguageGuesser(("id", "en")).guess(text, hint) == expected
