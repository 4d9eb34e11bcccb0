"""`tanya check` warnings: expired entries, stale reviews, near-duplicate examples."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from bot.faq import check_faq
from tests.conftest import ROOT, run_tanya
from tests.test_faq_loader import entry, topic, write


def test_expired_and_unreviewed_entries_warn(tmp_path: Path) -> None:
    body = (
        entry("lama")
        + "    updated: 2024-01-10\n"
        + entry("habis")
        + "    valid_until: 2026-06-30\n"
        + entry("baru")
        + "    updated: 2026-11-01\n    valid_until: 2027-01-01\n"
    )
    write(tmp_path, "t.yml", topic("t", body))
    report = check_faq(tmp_path, today=date(2026, 11, 24), review_max_age_days=365)
    assert report.ok
    found = {(p.entry, p.field) for p in report.warnings}
    assert found == {("lama", "updated"), ("habis", "valid_until")}


def test_near_duplicate_examples_across_entries_warn(tmp_path: Path) -> None:
    first = entry("a").replace("pertanyaan satu a", "bagaimana cara membayar pajak bumi")
    second = entry("b").replace("pertanyaan satu b", "bagaimana cara membayar pajak bumi?!")
    second = second.replace("pertanyaan dua b", "bagaimana cara membayar pajak bumii")
    write(tmp_path, "t.yml", topic("t", first + second))
    report = check_faq(tmp_path, near_duplicate_similarity=90)
    # Same text up to punctuation is an error; one letter apart is a warning, once per pair.
    assert [(p.entry, p.field) for p in report.errors] == [("b", "questions")]
    assert [(p.entry, p.field) for p in report.warnings] == [("b", "questions")]
    assert "nearly the same" in report.warnings[0].message


def test_review_age_is_configurable(tmp_path: Path) -> None:
    write(tmp_path, "t.yml", topic("t", entry("e") + "    updated: 2026-09-01\n"))
    assert check_faq(tmp_path, today=date(2026, 11, 24), review_max_age_days=30).warnings
    assert not check_faq(tmp_path, today=date(2026, 11, 24), review_max_age_days=365).warnings


def test_personal_data_in_the_faq_warns_with_tanya_check(tmp_path: Path) -> None:
    """A citizen's phone number once went into an FAQ file from "add to FAQ" unnoticed:
    `tanya check` names the entry and field, and shows the data only masked."""
    pasted = entry("izin").replace(
        "pertanyaan satu izin", "'izin usaha sy blm jadi, hub 0812-3456-7890 ya'"
    )
    office = entry("kantor").replace(
        "Jawaban kantor.", "'Hubungi kantor kami di 021-5550-1234 atau info@kota.go.id.'"
    )
    nik = entry("nik").replace("Jawaban nik.", "'Contoh: NIK 3201234567890001 milik Bapak Budi.'")
    write(tmp_path, "t.yml", topic("t", pasted + office + nik))
    report = check_faq(tmp_path)
    assert report.ok  # a warning: training goes on
    found = {(p.entry, p.field): p.message for p in report.warnings}
    assert set(found) == {("izin", "questions"), ("nik", "answer.id")}  # not the office
    assert "a phone number" in found[("izin", "questions")]
    assert "0812-3456-7890" not in found[("izin", "questions")]  # shown masked
    assert "3201234567890001" not in found[("nik", "answer.id")]
    assert "a NIK" in found[("nik", "answer.id")]
    result = run_tanya("check", "--faq", str(tmp_path), cwd=ROOT)
    assert result.returncode == 0
    assert "personal data must not be in the FAQ" in result.stdout.decode()


def test_a_magnet_entry_is_named_with_how_to_fix_it() -> None:
    from tests.conftest import FIXTURES

    report = check_faq(FIXTURES / "faq_magnet")
    magnets = [p for p in report.warnings if "say little besides" in p.message]
    assert [p.entry for p in magnets] == ["what-is-coronavirus"]
    assert "'coronavirus', which 8 of 8 entries use" in magnets[0].message
    assert "Add example questions" in magnets[0].message
