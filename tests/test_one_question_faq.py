"""An FAQ imported with one question per entry, on tiny real models: training on another
FAQ folder leaves the project alone, the model answers from its own FAQ, a magnet entry
does not take the shared word's questions, and the calibration adapts to the FAQ."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.core.answerer import Action
from bot.faq.loader import read_faq
from bot.nlu.model import ModelInfo
from bot.service import Loaded, OtherFaq, load_answerer
from tests.conftest import FIXTURES, ROOT, SMALL_FAQ, run_tanya, write_config

MAGNET_FAQ = FIXTURES / "faq_magnet"


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def magnet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`tanya train --faq MAGNET_FAQ --out ...` with a config whose FAQ is the small one."""
    base = tmp_path_factory.mktemp("magnet")
    project = base / "rasa_project"
    shutil.copytree(ROOT / "rasa_project", project, ignore=shutil.ignore_patterns("models"))
    faq = base / "faq"
    shutil.copytree(SMALL_FAQ, faq)
    shutil.copytree(MAGNET_FAQ, base / "magnet")
    write_config(base, faq, project, project / "models" / "tanya.tar.gz")
    before = digest(project)
    result = run_tanya(
        "train", "--faq", "magnet", "--out", "models/magnet.tar.gz", cwd=base, timeout=600
    )
    assert result.returncode == 0, result.stderr.decode()
    assert digest(project) == before, "training on another FAQ folder changed the project"
    return base, result.stdout.decode()


def test_training_prints_what_to_expect(magnet: tuple[Path, str]) -> None:
    base, output = magnet
    assert "On this FAQ's own questions: expect about" in output
    assert "passed to officials" in output
    calibration = ModelInfo.read(base / "models" / "magnet.tar.gz").calibration
    # Its entries have one question each: their answer sentences stood in for questions.
    assert calibration is not None and calibration.in_scope_probes >= 8


def test_ask_uses_the_models_own_faq(magnet: tuple[Path, str]) -> None:
    base, _ = magnet
    result = run_tanya(
        "ask",
        "--json",
        "--model",
        "models/magnet.tar.gz",
        "can my dog pass covid to me",
        cwd=base,
    )
    assert result.returncode == 0, result.stderr.decode()
    decision = json.loads(result.stdout)
    # Every candidate is an entry of the FAQ the model was trained on, not the configured one.
    ids = {entry.id for entry in read_faq(MAGNET_FAQ).entries}
    assert decision["candidates"] and {c["faq_id"] for c in decision["candidates"]} <= ids
    (base / "questions.jsonl").write_text('{"text": "halo", "expected": null}\n')
    refused = run_tanya(
        "evaluate",
        "--model",
        "models/magnet.tar.gz",
        "--faq",
        "faq",
        "--test",
        "questions.jsonl",
        cwd=base,
    )
    assert refused.returncode == 1
    assert b"was trained on the FAQ in" in refused.stderr


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("can my dog give me the coronavirus", "pets"),
        ("where do i get a coronavirus test", "testing"),
        ("is the coronavirus vaccine safe for old people", "vaccine-safety"),
        ("i lost my sense of smell, is it the coronavirus", "symptoms"),
    ],
)
def test_a_magnet_entry_does_not_take_the_shared_words_questions(
    magnet: tuple[Path, str], text: str, entry: str
) -> None:
    base, _ = magnet
    settings = load_settings(base / "config.yml")
    answerer = load_answerer(settings, model_path=base / "models" / "magnet.tar.gz").answerer
    decision = answerer.decide(text, "en")
    assert decision.candidates[0].faq_id == entry
    assert decision.faq_id != "what-is-coronavirus"


def test_asking_with_another_faq_than_the_models_is_refused(magnet: tuple[Path, str]) -> None:
    base, _ = magnet
    settings = load_settings(base / "config.yml")
    with pytest.raises(OtherFaq, match="was trained on the FAQ in"):
        load_answerer(settings, model_path=base / "models" / "magnet.tar.gz", faq_dir=SMALL_FAQ)


def test_calibration_chooses_other_thresholds_for_one_question_per_entry(
    tmp_path: Path, trained: Path
) -> None:
    """The small FAQ cut to its first question per entry. What must hold: one setting,
    two FAQs, two thresholds, each within the budget; here, as issue 14 expects, the FAQ
    with one question per entry gets the higher one (its answer sentences, standing in for
    questions, are often answered wrongly at 0.8). On the sample FAQ both are 0.85
    (docs/nlu.md), so the direction is this FAQ's, not a law."""
    from ruamel.yaml import YAML

    from bot.nlu.train import train

    faq = tmp_path / "faq"
    faq.mkdir()
    yaml = YAML()
    for path in SMALL_FAQ.glob("*.yml"):
        topic = yaml.load(path.read_text(encoding="utf-8"))
        for entry in topic["entries"]:
            language, questions = next(iter(entry["questions"].items()))
            entry["questions"] = {language: [questions[0]]}
            entry["source"] = "test: first question only"
        with (faq / path.name).open("w", encoding="utf-8") as file:
            yaml.dump(topic, file)
    project = tmp_path / "rasa_project"
    shutil.copytree(trained / "rasa_project", project, ignore=shutil.ignore_patterns("models"))
    result = train(faq, project, tmp_path / "models" / "first.tar.gz")
    many = ModelInfo.read(trained / "rasa_project" / "models" / "tanya.tar.gz").calibration
    assert result.calibration is not None and many is not None
    assert result.calibration.answer_threshold >= many.answer_threshold + 0.05
    for calibration in (result.calibration, many):
        assert calibration.budget_met and calibration.expected.answered_wrong <= 0.03


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("i lost my identity card on the bus", "ktp-hilang"),
        ("vaccination hours", "vaksin-jadwal"),
        ("my baby was born last week, what paperwork", "akta-lahir"),
        ("harga cabai di pasar hari ini berapa", None),
        ("saya mau pindah rumah", None),
    ],
)
def test_questions_ranked_right_short_of_certainty_are_answered(
    loaded: Loaded, text: str, entry: str | None
) -> None:
    """Issue 14, fifth round: the calibration's near misses (a left-out entry's questions)
    no longer count for the answer threshold, so the small FAQ answers at 0.45 rather than
    0.95. These questions the model has right at 0.77-0.92 were offered as choices before;
    now they are answered, while lines the FAQ does not answer still go to an official."""
    decision = loaded.answerer.decide(text, None)
    if entry is None:
        assert decision.action is Action.ESCALATE
    else:
        assert decision.action is Action.ANSWER and decision.faq_id == entry
