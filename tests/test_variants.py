"""Variants generated for entries with few example questions: deterministic, bounded, new
to the model, kept out of the officials' files."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.faq import read_faq
from bot.faq.model import Entry, Faq, Topic
from bot.nlu.normalize import normalise_text
from bot.nlu.trainingdata import (
    entry_examples,
    generated_path,
    generated_variants,
    is_up_to_date,
    render_training_data,
    render_variants,
    variants_path,
    write_training_data,
)
from bot.nlu.variants import (
    CHAT_SPELLING,
    INFORMAL,
    MAX_VARIANTS,
    MAX_VARIANTS_PER_LANGUAGE,
    MIN_OWN_EXAMPLES,
    TEMPLATES,
    fold_key,
    question_variants,
)
from tests.conftest import ROOT, SMALL_FAQ, run_tanya

ID_QUESTION = "Bagaimana cara mengurus KTP yang hilang atau rusak?"
EN_QUESTION = "How do I replace a lost or damaged KTP?"


def _entry(entry_id: str, questions: dict[str, list[str]]) -> Entry:
    return Entry(
        id=entry_id,
        topic="t",
        questions={lang: tuple(qs) for lang, qs in questions.items()},
        answers={"id": "Jawaban.", "en": "Answer."},
        source="imported.html",
    )


def _faq(*entries: Entry) -> Faq:
    return Faq((Topic("t", {"id": "T"}, entries),))


# As `tanya import` leaves an FAQ page: one or two questions per entry.
FEW_SHOT_FAQ = f"""\
topic: kependudukan
title: {{id: Kependudukan, en: Population documents}}
entries:
  - id: ktp-hilang
    questions:
      id: ["{ID_QUESTION}"]
      en: ["{EN_QUESTION}"]
    answer:
      id: Bawa surat kehilangan dari kepolisian ke kantor Disdukcapil.
      en: Bring a police loss report to the Disdukcapil office.
  - id: akta-lahir
    questions:
      id: [Apa syarat membuat akta kelahiran?]
    answer:
      id: Bawa surat keterangan lahir, KK dan KTP orang tua ke Disdukcapil.
    source: faq-lama.html
  - id: jam-layanan
    questions:
      id: [Jam berapa kantor Disdukcapil buka, kantor capil buka hari sabtu?, jam buka capil]
      en: [Disdukcapil opening hours, is the office open on saturday, office hours]
    answer:
      id: Senin-Jumat 08.00-15.00.
      en: Monday to Friday 08.00-15.00.
"""


@pytest.fixture
def few_shot(tmp_path: Path) -> Path:
    """An FAQ folder with entries of 2, 1 and 6 example questions."""
    directory = tmp_path / "faq"
    directory.mkdir()
    (directory / "kependudukan.yml").write_text(FEW_SHOT_FAQ, encoding="utf-8")
    return directory


def test_the_same_question_gives_the_same_variants(few_shot: Path) -> None:
    first = question_variants(ID_QUESTION, "id", seed="ktp-hilang")
    assert question_variants(ID_QUESTION, "id", seed="ktp-hilang") == first
    assert render_variants(read_faq(few_shot)) == render_variants(read_faq(few_shot))


@pytest.mark.parametrize("hash_seed", ["0", "4242"])
def test_generated_data_is_byte_identical_across_processes(few_shot: Path, hash_seed: str) -> None:
    """A str seed goes through SHA-512 and no set is iterated: other hash seeds, same file."""
    code = (
        "import sys; from pathlib import Path; from bot.faq import read_faq; "
        "from bot.nlu.trainingdata import render_variants; "
        "sys.stdout.buffer.write(render_variants(read_faq(Path(sys.argv[1]))).encode())"
    )
    child = subprocess.run(
        [sys.executable, "-c", code, str(few_shot)],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
        capture_output=True,
        check=True,
    )
    expected = render_variants(read_faq(few_shot))
    assert "- intent: faq.ktp-hilang" in expected and "- intent: faq.akta-lahir" in expected
    assert child.stdout.decode() == expected


def test_count_is_bounded() -> None:
    assert len(question_variants(ID_QUESTION, "id", seed="x", limit=3)) == 3
    indonesian = [f"Bagaimana cara mengurus KTP di kecamatan {n}?" for n in range(3)]
    english = [f"How do I replace a lost KTP in district {n}?" for n in range(2)]
    faq = _faq(
        _entry("both", {"id": indonesian, "en": english}),
        _entry("one", {"id": ["Bagaimana cara membayar retribusi sampah?"]}),
    )
    assert len(generated_variants(faq)["both"]) == MAX_VARIANTS
    assert len(generated_variants(faq)["one"]) <= MAX_VARIANTS_PER_LANGUAGE


def test_never_the_original_nor_a_repeat(few_shot: Path) -> None:
    faq = read_faq(few_shot)
    own = {fold_key(text) for entry in faq.entries for text in entry_examples(entry)}
    generated = generated_variants(faq)
    assert set(generated) == {"ktp-hilang", "akta-lahir"}
    for entry_id, texts in generated.items():
        keys = [fold_key(text) for text in texts]
        assert len(set(keys)) == len(keys), entry_id
        assert not own & set(keys), entry_id
    # Chat spelling alone is no variant: the tokenizer folds "gmn" to "bagaimana" anyway.
    for text in question_variants(ID_QUESTION, "id", seed="x"):
        assert fold_key(text) != fold_key(ID_QUESTION)
        assert fold_key(text) != fold_key("gmn cara mengurus ktp yg hilang atau rusak")


def _known_words(question: str, language: str) -> set[str]:
    """Every word a variant of ``question`` can have without a typo."""
    known = set(fold_key(question).split()) | set(question.casefold().replace("?", "").split())
    for template in TEMPLATES[language].values():
        known |= set(" ".join(template).replace("{x}", " ").replace("?", " ").split())
    for table in (CHAT_SPELLING[language], INFORMAL[language]):
        known |= {w for alternatives in table.values() for a in alternatives for w in a.split()}
    return known


def _typos(variants: list[str], question: str, language: str) -> list[str]:
    """The words of ``variants`` that are typos: unknown, but close to a known word."""
    known = _known_words(question, language)
    unknown = [w for text in variants for w in text.replace("?", "").split() if w not in known]
    for word in unknown:
        closest = max(difflib.SequenceMatcher(None, word, k).ratio() for k in known)
        assert closest >= 0.75, f"{word!r} is no typo of a known word"
    return unknown


def test_indonesian_kinds() -> None:
    variants = question_variants(ID_QUESTION, "id", seed="ktp-hilang-rusak")
    keys = [fold_key(text) for text in variants]
    words = {w for text in variants for w in text.split()}
    assert any(text.startswith("cara ") for text in variants)  # question word dropped
    assert any("caranya" in text.split() for text in variants)  # asked at the end
    assert any("rusak atau hilang" in key for key in keys)  # reordered
    assert "mengurus ktp hilang rusak" in keys  # keywords only
    assert words & {"ngurus", "urus"}  # the everyday verb
    assert words & {"yg", "gimana", "gmn", "ilang"}  # chat spelling
    assert _typos(variants, ID_QUESTION, "id")


def test_english_kinds() -> None:
    variants = question_variants(EN_QUESTION, "en", seed="ktp-hilang-rusak")
    keys = [fold_key(text) for text in variants]
    assert "how to replace a lost or damaged ktp" in keys
    assert any(key.startswith("replace a lost or damaged ktp ") for key in keys)  # at the end
    assert any("damaged or lost" in key for key in keys)  # reordered
    assert "replace lost damaged ktp" in keys  # keywords only
    assert _typos(variants, EN_QUESTION, "en")


def test_chat_tables_agree_with_the_tokenizer() -> None:
    """Chat spellings are what normalize.py folds back; informal words are what it does not
    (else they would belong to the chat table, and teach the model nothing)."""
    for table in CHAT_SPELLING.values():
        for standard, spellings in table.items():
            for spelling in spellings:
                assert normalise_text(spelling) == normalise_text(standard), spelling
    for table in INFORMAL.values():
        for formal, alternatives in table.items():
            for alternative in alternatives:
                assert normalise_text(alternative) != normalise_text(formal), alternative


def test_only_entries_below_the_threshold_get_variants() -> None:
    enough = [f"pajak reklame nomor {n} gimana bayarnya" for n in range(MIN_OWN_EXAMPLES)]
    half = MIN_OWN_EXAMPLES // 2
    faq = _faq(
        _entry("cukup", {"id": enough}),
        _entry("dua-bahasa", {"id": enough[:half], "en": [f"tax {n}" for n in range(half)]}),
        _entry("kurang", {"id": ["Bagaimana cara membayar retribusi sampah?", *enough[1:-1]]}),
    )
    assert list(generated_variants(faq)) == ["kurang"]
    assert generated_variants(read_faq(ROOT / "faq")) == {}  # the sample has 18 + 12


def test_a_variant_that_is_another_entrys_example_is_left_out() -> None:
    other = [
        "mengurus ktp hilang rusak",
        *(f"ktp rusak kena air {n}" for n in range(MIN_OWN_EXAMPLES)),
    ]
    faq = _faq(_entry("a", {"id": [ID_QUESTION]}), _entry("b", {"id": other}))
    assert "mengurus ktp hilang rusak" in map(
        fold_key, question_variants(ID_QUESTION, "id", seed="a")
    )
    assert "mengurus ktp hilang rusak" not in map(fold_key, generated_variants(faq)["a"])


def test_variants_file_is_apart_and_checked_for_drift(few_shot: Path, project_copy: Path) -> None:
    faq = read_faq(few_shot)
    write_training_data(faq, project_copy)
    assert is_up_to_date(faq, project_copy)
    main = generated_path(project_copy).read_text(encoding="utf-8")
    assert main == render_training_data(faq)
    variants = variants_path(project_copy).read_text(encoding="utf-8")
    for text in generated_variants(faq)["ktp-hilang"]:
        assert f"    - {text}\n" in variants
        assert f"    - {text}\n" not in main
    write_training_data(faq, project_copy, variants=False)
    assert "nlu: []" in variants_path(project_copy).read_text(encoding="utf-8")
    assert not is_up_to_date(faq, project_copy)


def test_training_leaves_the_faq_and_project_files_alone(trained: Path) -> None:
    """The session model was trained on a copy of the small FAQ (one entry of which has
    four example questions) in a copy of the project: training wrote into neither (its
    generated data goes to a scratch folder)."""
    for path in sorted(SMALL_FAQ.glob("*.yml")):
        assert (trained / "faq" / path.name).read_bytes() == path.read_bytes()
    for path in sorted((ROOT / "rasa_project" / "data").glob("*.yml")):
        assert (trained / "rasa_project" / "data" / path.name).read_bytes() == path.read_bytes()
    assert list(generated_variants(read_faq(SMALL_FAQ))) == ["vaksin-kadaluarsa"]


def test_check_shows_generated_variants(few_shot: Path) -> None:
    before = {p.name: p.read_bytes() for p in few_shot.iterdir()}
    result = run_tanya("check", "--show-generated", "--faq", str(few_shot), cwd=ROOT)
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    expected = generated_variants(read_faq(few_shot))
    count = len(expected["akta-lahir"])
    assert f"akta-lahir (own examples: id 1; {count} generated)" in out
    for entry_id, texts in expected.items():
        block = out.split(f"\n{entry_id} (", 1)[1].split("\n\n", 1)[0]
        assert block.splitlines()[1:] == [f"  - {text}" for text in texts]
    assert "jam-layanan (" not in out
    assert {p.name: p.read_bytes() for p in few_shot.iterdir()} == before
    plain = run_tanya("check", "--faq", str(few_shot), cwd=ROOT).stdout.decode()
    assert "akta-lahir (" not in plain


def test_check_says_when_nothing_is_generated() -> None:
    result = run_tanya("check", "--show-generated", cwd=ROOT)
    assert result.returncode == 0, result.stderr.decode()
    assert b"No generated example questions" in result.stdout
