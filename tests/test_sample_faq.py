"""The bundled sample FAQ and the generated training data committed beside it."""

from __future__ import annotations

from bot.faq import check_faq, read_faq
from bot.nlu.trainingdata import (
    HEADER,
    VARIANTS_HEADER,
    generated_path,
    is_up_to_date,
    variants_path,
)
from tests.conftest import ROOT


def test_sample_faq_is_valid_and_big_enough() -> None:
    report = check_faq(ROOT / "faq")
    assert report.errors == []
    faq = report.faq
    assert len(faq) >= 60
    assert len(faq.topics) >= 8
    for entry in faq.entries:
        assert sum(len(q) for q in entry.questions.values()) >= 4, entry.id
        assert set(entry.answers) == {"id", "en"}, entry.id


def test_sample_is_marked_as_sample() -> None:
    for path in sorted((ROOT / "faq").glob("*.yml")):
        head = path.read_text(encoding="utf-8")[:400].lower()
        assert "sample" in head and "kota contoh" in head, path


def test_generated_training_data_is_up_to_date() -> None:
    """Fails when faq/ changed without `tanya train` regenerating the committed data."""
    faq = read_faq(ROOT / "faq")
    project = ROOT / "rasa_project"
    assert generated_path(project).read_text(encoding="utf-8").startswith(HEADER)
    assert variants_path(project).read_text(encoding="utf-8").startswith(VARIANTS_HEADER)
    assert is_up_to_date(faq, project), "run `tanya train` and commit the generated file"
