"""Generated variants of the example questions of entries that have too few of their own.

An entry taken over from an existing FAQ page has one example question, and a model that
has seen one phrasing misses most of the ways citizens ask. Until officials add more, we
generate the common rewrites of each question, offline: the same need asked with another
question frame ("bagaimana cara X" -> "X caranya gimana", "how do I X" -> "how to X"), the
parts reordered, the question words dropped (citizens type keywords), everyday words for
formal ones ("mengurus" -> "ngurus"), chat spelling and keyboard typos.

Generation is deterministic: each question's random choices are seeded by the entry id,
language and text (a string seed goes through SHA-512, not ``hash()``), so the same FAQ
gives byte-identical training data in every process.

The tokenizer already folds chat spelling ("gmn" -> "bagaimana", see
:mod:`bot.nlu.normalize`), so a variant that differs from another only in such spelling
gives the model nothing new: variants are compared after that folding, and chat spelling
only ever rides along with a change the model does see.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Iterable, Iterator

from bot.nlu.augment import typo
from bot.nlu.normalize import normalise_text

# Entries with fewer own example questions than this (in all languages) get generated
# variants. Measured (docs/nlu.md, "Generated variants"): with 1, 2 or 4 questions they
# help a little, with 6 they change nothing, with 10 they cost in-scope accuracy.
MIN_OWN_EXAMPLES = 6
# At most this many variants per language, and per entry: about what the frames below
# give for one question, and as many examples as faq/README.md calls good (7-10).
MAX_VARIANTS_PER_LANGUAGE = 10
MAX_VARIANTS = 20
# Shorter variants ("ktp") are too vague to tell entries apart.
MIN_WORDS = 2
CHAT_SPELLING_RATE = 0.5
INFORMAL_RATE = 0.5
TYPOS_PER_QUESTION = 2

_WORD = re.compile(r"\w+(?:[-'’]\w+)*")

# Chat spellings citizens use, per standard word. normalize.SLANG folds each back to the
# standard word (a test keeps the two tables consistent), so these are invisible to the
# project's model; they make the variants read the way citizens write, and help a
# pipeline without the folding tokenizer.
CHAT_SPELLING: dict[str, dict[str, tuple[str, ...]]] = {
    "id": {
        "bagaimana": ("gimana", "gmn"),
        "tidak": ("ga", "gak", "tdk", "nggak"),
        "saya": ("sy", "aku"),
        "yang": ("yg",),
        "dengan": ("dgn",),
        "untuk": ("utk",),
        "sudah": ("udah", "udh"),
        "belum": ("blm",),
        "berapa": ("brp",),
        "dimana": ("dmn",),
        "kapan": ("kpn",),
        "bisa": ("bs",),
        "kalau": ("kalo", "klo"),
        "saja": ("aja",),
        "harus": ("hrs",),
        "dapat": ("dapet", "dpt"),
        "sekarang": ("skrg",),
        "tahun": ("thn",),
        "tanggal": ("tgl",),
        "hilang": ("ilang",),
        "akta": ("akte",),
        "informasi": ("info",),
        "nomor": ("nomer",),
        "karena": ("krn",),
        "juga": ("jg",),
        "dari": ("dr",),
    },
    "en": {
        "you": ("u",),
        "your": ("ur",),
        "please": ("pls",),
        "government": ("govt",),
        "do not": ("dont",),
        "cannot": ("cant",),
        "want to": ("wanna",),
    },
}

# Everyday words for formal ones that the tokenizer does NOT fold: the chat verb forms
# without the "me-" prefix and plain words. Word features see the same stems, but the
# character n-grams and the sentence embeddings see new text.
INFORMAL: dict[str, dict[str, tuple[str, ...]]] = {
    "id": {
        "mengurus": ("ngurus", "urus"),
        "membuat": ("bikin",),
        "mendapatkan": ("dapetin",),
        "memperoleh": ("dapetin",),
        "mendaftar": ("daftar",),
        "membayar": ("bayar",),
        "mengecek": ("ngecek", "cek"),
        "melihat": ("liat",),
        "melaporkan": ("lapor",),
        "mengadu": ("lapor",),
        "menyampaikan": ("kirim",),
        "mengajukan": ("ajuin",),
        "menghitung": ("ngitung",),
        "memantau": ("ngecek",),
        "mengubah": ("ganti",),
        "memperbarui": ("update",),
        "mengaktifkan": ("aktifin",),
        "menambahkan": ("nambahin",),
        "menerima": ("dapet",),
        "menggunakan": ("pake",),
        "dilakukan": ("dilakuin",),
        "dibutuhkan": ("perlu",),
        "diperlukan": ("perlu",),
        "tersedia": ("ada",),
        "mengalami": ("kena",),
        "setelah": ("abis",),
        "lokasi": ("tempat",),
        "dokumen": ("berkas",),
        "persyaratan": ("syarat",),
        "prosedur": ("cara",),
        "kelahiran": ("lahir",),
        "warga": ("masyarakat",),
    },
    "en": {
        "obtain": ("get",),
        "receive": ("get",),
        "register": ("sign up",),
        "apply": ("sign up",),
        "purchase": ("buy",),
        "information": ("info",),
        "certificate": ("cert",),
        "children": ("kids",),
        "child": ("kid",),
        "documents": ("papers",),
        "vaccination": ("vaccine",),
        "identity": ("id",),
        "check": ("see",),
    },
}

# Leading question words, longest first within each language, and the frame they ask in.
FRAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "id": (
        ("apa yang harus saya lakukan", "todo"),
        ("apa yang harus dilakukan", "todo"),
        ("apa saja syarat", "requirement"),
        ("apa saja persyaratan", "requirement"),
        ("apa syarat", "requirement"),
        ("apa persyaratan", "requirement"),
        ("bagaimana cara", "how"),
        ("bagaimana prosedur", "how"),
        ("gimana cara", "how"),
        ("cara", "how"),
        ("bagaimana", "how_bare"),
        ("apakah benar", "truth"),
        ("apa benar", "truth"),
        ("benarkah", "truth"),
        ("betulkah", "truth"),
        ("apa itu", "what_is"),
        ("apa saja", "list"),
        ("apakah", "yesno"),
        ("di mana saja", "where"),
        ("di mana", "where"),
        ("dimana", "where"),
        ("ke mana", "where_to"),
        ("kemana", "where_to"),
        ("kapan", "when"),
        ("jam berapa", "what_time"),
        ("berapa biaya", "cost"),
        ("berapa lama", "duration"),
        ("berapa", "how_many"),
        ("siapa saja", "who"),
        ("siapa", "who"),
        ("mengapa", "why"),
        ("kenapa", "why"),
    ),
    "en": (
        ("what should i do if", "todo"),
        ("what should i do when", "todo"),
        ("what do i do if", "todo"),
        ("how much does it cost to", "cost_verb"),
        ("how much is", "cost"),
        ("how much are", "cost"),
        ("how do i", "how"),
        ("how can i", "how"),
        ("how should i", "how"),
        ("how to", "how"),
        ("where can i", "where_verb"),
        ("where do i", "where_verb"),
        ("where should i", "where_verb"),
        ("where is", "where"),
        ("where are", "where"),
        ("is it true that", "truth"),
        ("is it true", "truth"),
        ("what is", "what_is"),
        ("what are", "what_is"),
        ("what's", "what_is"),
        ("when can i", "when_verb"),
        ("when do i", "when_verb"),
        ("when is", "when"),
        ("when are", "when"),
        ("can i", "can"),
        ("is there", "is_there"),
        ("are there", "is_there"),
    ),
}

# "{x}" is the question without its question words. Per frame, the usual ways of asking it:
# the same need only ("syarat {x}" for a "bagaimana cara {x}" question could be another
# entry's), and no pure politeness ("mau tanya {x}"): words that only some entries' variants
# had would pull every polite question towards those entries.
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "id": {
        "how": (
            "cara {x}",
            "{x} gimana caranya",
            "gimana cara {x}",
            "{x} caranya gimana",
            "mau {x} gimana",
            "{x} gimana",
            "prosedur {x}",
            "kalau mau {x} harus gimana",
        ),
        "how_bare": ("{x} gimana", "gimana {x}", "{x} seperti apa", "{x} kayak gimana"),
        "requirement": (
            "syarat {x} apa aja",
            "{x} syaratnya apa",
            "persyaratan {x}",
            "{x} perlu bawa apa aja",
            "dokumen {x} apa aja",
        ),
        "todo": ("{x} harus ngapain", "{x} harus gimana", "{x} gimana", "{x} apa yang dilakukan"),
        "what_is": ("{x} itu apa", "{x} apaan", "apa sih {x}", "maksudnya {x} apa"),
        "list": ("{x} apa aja", "apa aja {x}", "{x} ada apa aja", "daftar {x}"),
        "truth": (
            "bener ga {x}",
            "apa bener {x}",
            "katanya {x}, hoax ga?",
            "{x} beneran?",
            "emang {x}?",
        ),
        "yesno": ("{x}?", "{x} ga?", "{x} nggak ya", "emang {x}?"),
        "where": ("{x} dimana", "dimana {x}", "{x} di mana ya", "tempat {x}", "lokasi {x}"),
        "where_to": ("{x} ke mana", "kemana {x}", "{x} kemana ya", "mau {x} ke mana"),
        "when": ("{x} kapan", "kapan {x}", "{x} kapan ya", "{x} tanggal berapa", "jadwal {x}"),
        "what_time": ("{x} jam berapa", "jam berapa {x}", "jam {x}"),
        "cost": ("biaya {x} berapa", "{x} bayar berapa", "{x} biayanya berapa", "{x} gratis ga"),
        "duration": ("{x} berapa lama", "{x} lama ga", "{x} butuh waktu berapa lama"),
        "how_many": ("{x} berapa", "berapa {x}", "{x} brp ya"),
        "who": ("{x} siapa", "siapa aja {x}"),
        "why": ("{x} kenapa", "kenapa {x}", "{x} alasannya apa"),
        "none": ("{x}?", "{x} gimana"),
        # The question asks already, somewhere in the middle: add no question word.
        "asked": ("{x}",),
    },
    "en": {
        "how": (
            "how to {x}",
            "how do i {x}",
            "how can i {x}",
            "{x} how",
            "steps to {x}",
            "i want to {x}",
            "{x}?",
        ),
        "where": ("where is {x}", "{x} where", "{x} location", "where can i find {x}", "{x}?"),
        "where_verb": ("where can i {x}", "where to {x}", "{x} where", "where do i {x}"),
        "what_is": ("{x}?", "what's {x}", "tell me about {x}", "{x} meaning"),
        "when": ("when is {x}", "{x} when", "{x} date", "{x}?"),
        "when_verb": ("when can i {x}", "when to {x}", "{x} when"),
        "cost": ("{x} cost", "{x} price", "how much for {x}", "price of {x}", "{x} fee?"),
        "cost_verb": ("cost to {x}", "how much to {x}", "{x} price", "{x} fee?"),
        "truth": ("{x}, true?", "is it true {x}", "heard {x}, is that real", "{x} hoax?"),
        "todo": ("{x} what to do", "what to do if {x}", "{x} what now"),
        "can": ("{x}?", "can i {x}", "is it possible to {x}", "am i allowed to {x}"),
        "is_there": ("{x}?", "any {x}", "is there {x}", "{x} available?"),
        "none": ("{x}?",),
        # The question asks already ("how is X paid", "lost my card what do i do").
        "asked": ("{x}",),
    },
}

# Words that open the rest of the question and the templates say again or leave out.
_SUBJECTS = frozenset("saya sy aku kita kami i we the a an".split())
_MODALS = frozenset("bisa dapat boleh harus".split())
# Function words left out of the keyword form ("ktp hilang rusak").
_FUNCTION_WORDS = frozenset(
    "yang di ke dari untuk dan atau dengan jika kalau saat agar ada akan ini itu pada dalam "
    "oleh sebagai bagi apa saja a an the to of for in on at and or my is are do does can i "
    "if with by from".split()
)
# Conditions and times that can move to the front ("kalau X, Y gimana").
_CLAUSE_MARKERS = frozenset(
    "jika kalau saat ketika setelah sebelum agar if when after before".split()
)
_CONJUNCTIONS = frozenset("atau dan or and".split())
# Question words: a template adding one to a question that has one would ask twice, and
# the parts around "dan" are whole questions, not two things that can swap places.
_QUESTION_WORDS = frozenset(
    "apa apakah mana dimana kemana berapa siapa kapan bagaimana gimana gmn mengapa kenapa "
    "what where when which who why how".split()
)
# An English question opening with one of these asks already ("is it free").
_AUXILIARIES = frozenset("is are can do does should will would could must".split())


def fold_key(text: str) -> str:
    """What the model sees of a text: casefolded words, punctuation dropped, chat spelling
    folded. Two variants with the same key are one for the model."""
    return normalise_text(" ".join(_WORD.findall(text.casefold())))


def question_variants(
    question: str, language: str, *, seed: str, limit: int = MAX_VARIANTS
) -> list[str]:
    """Up to ``limit`` variants of one question, never the question itself or repeats."""
    rng = random.Random(f"{seed}\x1f{language}\x1f{question}")
    seen = {fold_key(question)}
    stutters = _stutters(fold_key(question))
    result: list[str] = []
    for candidate in _candidates(question, language, rng):
        text = " ".join(candidate.split())
        key = fold_key(text)
        if len(key.split()) >= MIN_WORDS and key not in seen and _stutters(key) <= stutters:
            seen.add(key)
            result.append(text)
            if len(result) == limit:
                break
    return result


def _stutters(key: str) -> int:
    """Words said twice in a row: more than the question has means a template repeated one
    of its words ("jadwal jadwal"); "anak2" (folded to "anak anak") is the citizen's own."""
    return sum(a == b for a, b in itertools.pairwise(key.split()))


def spread(per_question: Iterable[list[str]], limit: int, exclude: Iterable[str]) -> list[str]:
    """Take variants round-robin from each question's list, so that a budget cut keeps
    some of every question's; drop those that fold to an excluded text or to each other."""
    seen = {fold_key(text) for text in exclude}
    result: list[str] = []
    for text in _round_robin(list(per_question)):
        key = fold_key(text)
        if key not in seen:
            seen.add(key)
            result.append(text)
            if len(result) == limit:
                break
    return result


def _round_robin(lists: list[list[str]]) -> Iterator[str]:
    for row in itertools.zip_longest(*lists):
        yield from (text for text in row if text is not None)


def _candidates(question: str, language: str, rng: random.Random) -> Iterator[str]:
    """Candidate variants, the kinds interleaved so that a short budget gets each kind."""
    words = _WORD.findall(question.casefold())
    frame, rest = _split_frame(words, language)
    rest = _strip_opening(rest, frame)
    templates = TEMPLATES.get(language, TEMPLATES["id"])
    frame_templates = templates.get(frame, templates["none"])
    opens_asking = frame == "none" and bool(words) and words[0] in _AUXILIARIES
    if opens_asking or any(w in _QUESTION_WORDS for w in rest):
        frame_templates = templates["asked"]
    core = " ".join(rest)

    def chat(text: str) -> str:
        return _spell(_informal(text, language, rng, INFORMAL_RATE), language, rng)

    stutters = _stutters(fold_key(question))
    framed = [
        text
        for t in frame_templates
        if _stutters(fold_key(text := chat(t.format(x=core)))) <= stutters
    ]
    # A moved part reads best before a question word at the end ("kalau X, Y gimana").
    trailing = [t for t in frame_templates if t.startswith("{x}")] or list(frame_templates)
    reordered = [
        chat(t.format(x=" ".join(moved)))
        for moved, t in zip(_reorderings(rest), itertools.cycle(trailing), strict=False)
    ]
    keywords = [w for w in rest if not _is_function_word(w)]
    dropped = [core, " ".join(keywords), _informal(" ".join(keywords), language, rng, 1.0)]
    typos = [typo(text, rng) for text in rng.sample(framed, min(TYPOS_PER_QUESTION, len(framed)))]
    yield from _round_robin([framed, [*reordered, *dropped], typos])


def _split_frame(words: list[str], language: str) -> tuple[str, list[str]]:
    """The question's frame and its words after the question words."""
    for phrase, frame in FRAMES.get(language, ()):
        opening = phrase.split()
        if words[: len(opening)] == opening:
            return frame, words[len(opening) :]
    # "Izin apa saja yang ...", "Nomor darurat apa yang ...": a noun asked about by "apa".
    if language == "id" and "apa" in words[1:3]:
        i = words.index("apa", 1)
        tail = words[i + 1 :]
        return "list", words[:i] + (tail[1:] if tail[:1] in (["saja"], ["aja"]) else tail)
    return "none", words


def _strip_opening(rest: list[str], frame: str) -> list[str]:
    """Drop "saya" (the templates speak for the citizen) and, unless the frame asks whether
    one may, "bisa" ("di mana saya bisa membayar" -> "membayar ... dimana")."""
    while rest and rest[0] in _SUBJECTS:
        rest = rest[1:]
    if frame not in ("yesno", "truth", "can") and rest[:1] and rest[0] in _MODALS:
        rest = rest[1:]
    return rest


def _reorderings(words: list[str]) -> Iterator[list[str]]:
    """The question's parts in another order: a condition moved to the front, the two
    words around "atau"/"dan" swapped."""
    for i, word in enumerate(words):
        if 0 < i < len(words) - 1 and word in _CLAUSE_MARKERS:
            yield words[i:] + words[:i]
            break
    for i, word in enumerate(words):
        if 0 < i < len(words) - 1 and word in _CONJUNCTIONS and _content(words[i - 1 : i + 2 : 2]):
            yield [*words[: i - 1], words[i + 1], word, words[i - 1], *words[i + 2 :]]


def _is_function_word(word: str) -> bool:
    """True for words that only frame the question, in any spelling ("aja", "yg", "apa")."""
    return all(
        w in _FUNCTION_WORDS or w in _QUESTION_WORDS or w in _AUXILIARIES
        for w in normalise_text(word).split()
    )


def _content(words: list[str]) -> bool:
    return not any(w in _FUNCTION_WORDS or w in _QUESTION_WORDS or w in _AUXILIARIES for w in words)


def _substitute(
    text: str, table: dict[str, tuple[str, ...]], rng: random.Random, rate: float
) -> str:
    """Replace each word or phrase of ``table`` by one of its alternatives at ``rate``."""
    for standard, alternatives in table.items():
        pattern = re.compile(rf"\b{re.escape(standard)}\b")
        text = pattern.sub(_chooser(alternatives, rng, rate), text)
    return text


def _chooser(
    alternatives: tuple[str, ...], rng: random.Random, rate: float
) -> Callable[[re.Match[str]], str]:
    def choose(match: re.Match[str]) -> str:
        return rng.choice(alternatives) if rng.random() < rate else match.group(0)

    return choose


def _informal(text: str, language: str, rng: random.Random, rate: float) -> str:
    return _substitute(text, INFORMAL.get(language, {}), rng, rate)


def _spell(text: str, language: str, rng: random.Random) -> str:
    return _substitute(text, CHAT_SPELLING.get(language, {}), rng, CHAT_SPELLING_RATE)
