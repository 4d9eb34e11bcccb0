"""Splitting long answers for platforms' message limits."""

from __future__ import annotations

import pytest

from bot.channels.messenger import render
from bot.channels.text import split_text
from bot.core.messages import Button, Reply


def test_short_text_is_one_part() -> None:
    assert split_text("halo", 10) == ["halo"]


def test_splits_at_paragraphs_then_words_never_over_the_limit() -> None:
    text = ("Paragraf satu. " * 30).strip() + "\n\n" + ("kata " * 400).strip()
    parts = split_text(text, 500)
    assert all(len(p) <= 500 for p in parts)
    assert parts[0].endswith("Paragraf satu.")
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())


def test_a_word_longer_than_the_limit_is_cut() -> None:
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        split_text("a", 0)


def test_messenger_buttons_go_on_the_last_part_with_short_titles() -> None:
    reply = Reply("a" * 4500, (Button("Bagaimana cara membuat KTP pertama kali?", "faq:ktp"),))
    messages = render(reply)
    assert [len(m["text"]) for m in messages] == [2000, 2000, 500]
    [quick] = messages[-1]["quick_replies"]
    assert len(quick["title"]) == 20 and quick["payload"] == "faq:ktp"
    assert "quick_replies" not in messages[0]
