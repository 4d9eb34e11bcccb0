"""The validator on broken FAQ files: each problem names file, line, entry and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.faq import FaqError, Severity, load_faq, read_faq
from bot.faq.problems import Problem

GOOD_ENTRY = """\
  - id: {id}
    questions:
      id: [{q1}, {q2}]
      en: [{q3}]
    answer:
      id: Jawaban {id}.
      en: Answer {id}.
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def topic(slug: str, entries: str) -> str:
    return f"topic: {slug}\ntitle: {{id: Judul, en: Title}}\nentries:\n{entries}"


def entry(entry_id: str, n: int = 0) -> str:
    return GOOD_ENTRY.format(
        id=entry_id,
        q1=f"pertanyaan satu {entry_id}",
        q2=f"pertanyaan dua {entry_id}",
        q3=f"question {entry_id}",
    )


def errors(directory: Path) -> list[Problem]:
    _, problems = load_faq(directory)
    return [p for p in problems if p.severity is Severity.ERROR]


def test_valid_file_loads(tmp_path: Path) -> None:
    write(tmp_path, "pajak.yml", topic("pajak", entry("pbb-bayar") + entry("pbb-denda")))
    faq = read_faq(tmp_path)
    assert [e.id for e in faq.entries] == ["pbb-bayar", "pbb-denda"]
    assert faq.entry("pbb-bayar").answers == {"id": "Jawaban pbb-bayar.", "en": "Answer pbb-bayar."}
    assert faq.entry("pbb-bayar").questions["en"] == ("question pbb-bayar",)


def test_bad_yaml_reports_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rusak.yml",
        "topic: rusak\ntitle: {id: A, en: B}\nentries:\n  - id: x\n    questions: [unclosed\n",
    )
    [problem] = errors(tmp_path)
    assert problem.path == path
    assert "not valid YAML" in problem.message
    assert problem.line is not None and problem.line >= 5


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", topic("a", entry("sama")))
    second = write(
        tmp_path,
        "b.yml",
        topic("b", entry("sama").replace("pertanyaan", "tanya").replace("question ", "ask ")),
    )
    [problem] = errors(tmp_path)
    assert (problem.path, problem.entry, problem.field) == (second, "sama", "id")
    assert "duplicate id" in problem.message and "a.yml" in problem.message


def test_missing_answer(tmp_path: Path) -> None:
    text = topic("t", "  - id: tanpa-jawaban\n    questions:\n      id: [satu, dua]\n")
    path = write(tmp_path, "t.yml", text)
    [problem] = errors(tmp_path)
    assert (problem.path, problem.entry, problem.field) == (path, "tanpa-jawaban", "answer")
    assert problem.message == "missing answer"


def test_too_few_questions(tmp_path: Path) -> None:
    text = topic(
        "t", "  - id: satu\n    questions:\n      id: [cuma satu]\n    answer: {id: Jawab.}\n"
    )
    write(tmp_path, "t.yml", text)
    [problem] = errors(tmp_path)
    assert (problem.entry, problem.field) == ("satu", "questions")
    assert "at least 2 example questions, has 1" in problem.message
    assert problem.line == 5


def test_example_used_by_two_entries(tmp_path: Path) -> None:
    first = entry("ktp-hilang")
    second = entry("ktp-rusak").replace("pertanyaan dua ktp-rusak", "Pertanyaan satu KTP-HILANG?")
    path = write(tmp_path, "t.yml", topic("t", first + second))
    [problem] = errors(tmp_path)
    assert (problem.path, problem.entry, problem.field) == (path, "ktp-rusak", "questions")
    assert "also an example of entry ktp-hilang" in problem.message


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ("    updated: 2026-13-45\n", None, "not valid YAML"),
        ("    valid_until: 'besok'\n", "valid_until", "not a valid date"),
        ("    links: [{title: Situs, url: 'not a url'}]\n", "links[1].url", "not a valid http"),
        ("    links: [{title: Situs, url: 'ftp://x.go.id'}]\n", "links[1].url", "not a valid http"),
        ("    warna: merah\n", "warna", "unknown key 'warna'"),
        (
            "    links: [{title: A, url: 'https://a.go.id', icon: x}]\n",
            "links[1].icon",
            "unknown key 'icon'",
        ),
    ],
)
def test_bad_fields(tmp_path: Path, extra: str, field: str | None, message: str) -> None:
    write(tmp_path, "t.yml", topic("t", entry("e") + extra))
    [problem] = errors(tmp_path)
    assert message in problem.message
    if field:
        assert (problem.entry, problem.field) == ("e", field)
        assert problem.line is not None


def test_unknown_language_and_topic_key(tmp_path: Path) -> None:
    text = topic("t", entry("e").replace("en: Answer e.", "fr: Réponse e."))
    write(tmp_path, "t.yml", text + "owner: someone\n")
    fields = sorted((p.field or "") for p in errors(tmp_path))
    assert fields == ["answer.fr", "owner"]


def test_one_language_entry_is_valid(tmp_path: Path) -> None:
    text = topic(
        "t",
        "  - id: hanya-id\n    questions:\n      id: [satu dua, tiga empat]\n"
        "    answer:\n      id: Jawaban.\n",
    )
    write(tmp_path, "t.yml", text)
    assert read_faq(tmp_path).entry("hanya-id").answers == {"id": "Jawaban."}


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(FaqError, match="no FAQ files"):
        read_faq(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "t.yml").write_bytes(b"topic: t\ntitle: {id: \xff\xfe}\n")
    [problem] = errors(tmp_path)
    assert "not UTF-8" in problem.message


def test_problem_text_names_everything(tmp_path: Path) -> None:
    text = topic(
        "t", "  - id: satu\n    questions:\n      id: [cuma satu]\n    answer: {id: Jawab.}\n"
    )
    path = write(tmp_path, "t.yml", text)
    assert str(errors(tmp_path)[0]) == (
        f"{path}:5: error (entry satu, field questions): needs at least 2 example questions, has 1"
    )
