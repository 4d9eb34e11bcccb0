"""Extra training examples generated from the FAQ's own questions.

Officials write four to ten examples per entry; citizens type hundreds of variants. We add
the variants the model would otherwise never see: the question without its politeness and
filler words, and with the typos a phone keyboard makes. Generation is deterministic so the
generated training file only changes when the FAQ does.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

# Words that carry no meaning for which entry is asked about; citizens add or drop them.
FILLER = frozenset(
    "min admin kak kakak pak bu bapak ibu dong ya yah nih sih deh kah tolong mohon maaf "
    "permisi selamat pagi siang sore malam halo hai hi hello please pls kindly hey "
    "apakah gimana bagaimana saya aku sy mau ingin boleh bisa tanya nanya".split()
)
TYPO_RATE = 0.5  # share of questions that get one typo variant
_SEED = 20261124


def augment(questions: Iterable[str]) -> list[str]:
    """Variants of ``questions``: without filler words, and with one keyboard typo."""
    return [variant for _, variant in augment_by_source(questions)]


def augment_by_source(questions: Iterable[str]) -> list[tuple[int, str]]:
    """:func:`augment`'s variants, each with the index of the question it came from (the
    calibration holds a question out together with its variants)."""
    questions = list(questions)
    rng = random.Random(_SEED + sum(len(q) for q in questions))
    variants = []
    for index, question in enumerate(questions):
        stripped = drop_filler(question)
        if stripped and stripped != question.casefold():
            variants.append((index, stripped))
        if rng.random() < TYPO_RATE:
            variants.append((index, typo(question, rng)))
    return variants


def drop_filler(question: str) -> str:
    words = question.casefold().replace("?", " ").replace(",", " ").split()
    kept = [w for w in words if w not in FILLER]
    return " ".join(kept) if len(kept) >= 2 else ""


def typo(question: str, rng: random.Random) -> str:
    """One plausible typo in a word of four or more letters: drop, swap or double a letter."""
    words = question.split()
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return question
    i = rng.choice(candidates)
    word = words[i]
    j = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("drop", "swap", "double"))
    if kind == "drop":
        word = word[:j] + word[j + 1 :]
    elif kind == "swap":
        word = word[: j - 1] + word[j] + word[j - 1] + word[j + 1 :]
    else:
        word = word[:j] + word[j] + word[j:]
    words[i] = word
    return " ".join(words)
