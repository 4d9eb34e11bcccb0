"""Which language a citizen wrote in, so the bot answers in the same one.

Citizens' messages are short ("vaksin?", "ok", "where is puskesmas") and mix languages with
Indonesian service names. Function words decide most messages reliably ("where is" is
English whatever follows); lingua's statistical model decides the rest; and when neither
is confident the citizen's known language (the hint) or the default wins.
"""

from __future__ import annotations

import itertools
import re
from functools import cached_property

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

from bot.nlu.normalize import SLANG

_LINGUA = {"id": Language.INDONESIAN, "en": Language.ENGLISH}
_WORD = re.compile(r"[^\W\d_]+")

FUNCTION_WORDS = {
    "en": frozenset(
        "the a an is are was were be been do does did have has had i you he she it we they "
        "my your our their me him her us them what where when why how which who whom whose "
        "can could should would will shall may might must to of in on at for from with by "
        "about into and or but not no if then there this that these those please get got "
        "need want know tell much many long any some lost new still".split()
    ),
    "id": frozenset(
        "yang dan di ke dari untuk dengan ini itu ada apa apakah bagaimana gimana kapan "
        "dimana mana berapa siapa mengapa kenapa saya aku kami kita anda kamu bisa tidak "
        "sudah belum akan harus boleh mau ingin cara buat bikin sama juga atau karena "
        "kalau tapi saja dong kah nya pak bu kak min tolong mohon sih nih lagi masih".split()
    )
    | frozenset(SLANG),
}
# A message is decided by function words when one language has this many more of them.
WORD_LEAD = 1
# Otherwise lingua must be at least this confident (more so for a single word).
MIN_CONFIDENCE = 0.75
MIN_CONFIDENCE_ONE_WORD = 0.9


class ChosenLanguage(str):
    """A language the citizen picked (``/bahasa en``): the guesser keeps to it whatever a
    message looks like, as helplines keep a contact's language until the contact changes it."""

    __slots__ = ()


class LanguageGuesser:
    """Guess ``"id"`` or ``"en"`` for a message; build once, it loads lingua's models."""

    def __init__(self, languages: tuple[str, ...]) -> None:
        self.languages = languages

    @cached_property
    def _detector(self) -> LanguageDetector:
        return (
            LanguageDetectorBuilder.from_languages(*(_LINGUA[lang] for lang in self.languages))
            .with_preloaded_language_models()
            .build()
        )

    def warm_up(self) -> None:
        """Load lingua's models now rather than on the first citizen's message."""
        if len(self.languages) > 1:
            self._detector.compute_language_confidence_values("halo")

    def guess(self, text: str, hint: str | None = None) -> str:
        fallback = hint if hint in self.languages else self.languages[0]
        if isinstance(hint, ChosenLanguage) and hint in self.languages:
            return str(hint)
        if len(self.languages) == 1:
            return self.languages[0]
        words = [w.casefold() for w in _WORD.findall(text)]
        by_words = self._by_function_words(words)
        if by_words:
            return by_words
        if not words or (len(words) == 1 and hint in self.languages):
            # One word ("vaksin", "ok") says little; the citizen's known language wins.
            return fallback
        values = self._detector.compute_language_confidence_values(text)
        best = values[0] if values else None
        needed = MIN_CONFIDENCE if len(words) > 1 else MIN_CONFIDENCE_ONE_WORD
        if best is not None and best.value >= needed:
            return next(code for code, lang in _LINGUA.items() if lang == best.language)
        return fallback

    def _by_function_words(self, words: list[str]) -> str | None:
        counts = {lang: sum(w in FUNCTION_WORDS[lang] for w in words) for lang in self.languages}
        ranked = sorted(counts.items(), key=lambda item: -item[1])
        (first, n1), (_, n2) = ranked[0], ranked[1]
        return first if n1 - n2 >= WORD_LEAD else None


_VOWELS = frozenset("aeiouy")
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
# A run of this many neighbouring keys is a keyboard mash ("asdf", "jkl;" is 3 + symbol).
_KEY_RUN = 4


def is_gibberish(text: str) -> bool:
    """True when no word of ``text`` could be a word: keyboard mashes ("asdfgh",
    "qwerty"), letters without vowels ("sdfkjh" has one, "xzcvbn" none), one or two
    letters repeated ("hhhhhh"). Chat words and function words never count as gibberish;
    short messages ("p", "ok") are left to the model."""
    words = [w.casefold() for w in _WORD.findall(text)]
    if not words or all(len(w) < 4 for w in words):
        return False
    known = FUNCTION_WORDS["id"] | FUNCTION_WORDS["en"]
    return all(w not in known and (len(w) < 4 or _mashed(w)) for w in words)


def _mashed(word: str) -> bool:
    if not any(ch in _VOWELS for ch in word) or len(set(word)) <= 2:
        return True
    run = 1
    for a, b in itertools.pairwise(word):
        run = run + 1 if _neighbours(a, b) else 1
        if run >= _KEY_RUN:
            return True
    return False


def _neighbours(a: str, b: str) -> bool:
    for row in _KEYBOARD_ROWS:
        if a in row and b in row and abs(row.index(a) - row.index(b)) == 1:
            return True
    return False
