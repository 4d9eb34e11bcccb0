"""The parsed FAQ kept between starts: always the FAQ the YAML files say now."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.faq.cache import cached_faq
from bot.faq.loader import read_faq
from bot.faq.problems import FaqError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def faq_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "faq"
    shutil.copytree(ROOT / "faq", folder, ignore=shutil.ignore_patterns("*.md"))
    return folder


def kept(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "tanya").glob("faq-*.json"))


def test_the_kept_faq_is_the_faq_in_the_files(faq_dir: Path, tmp_path: Path) -> None:
    from_yaml = read_faq(faq_dir)
    first, second = cached_faq(faq_dir), cached_faq(faq_dir)
    assert len(kept(tmp_path)) == 1
    for faq in (first, second):
        assert faq == from_yaml and len(faq) == 74
        # Fields equality leaves out: the files officials' edits are written back to.
        assert [e.path for e in faq.entries] == [e.path for e in from_yaml.entries]
        assert [t.path for t in faq.topics] == [t.path for t in from_yaml.topics]
    entry = second.entry("akta-kelahiran")
    assert entry.updated == from_yaml.entry("akta-kelahiran").updated
    assert entry.links == from_yaml.entry("akta-kelahiran").links


def test_an_edited_file_is_read_again(faq_dir: Path, tmp_path: Path) -> None:
    before = cached_faq(faq_dir)
    topic = faq_dir / "kependudukan.yml"
    text = topic.read_text(encoding="utf-8")
    assert "Disdukcapil" in text
    topic.write_text(text.replace("Disdukcapil", "Dinas Dukcapil"), encoding="utf-8")
    after = cached_faq(faq_dir)
    assert after != before and after == read_faq(faq_dir)
    assert any("Dinas Dukcapil" in entry.answers["id"] for entry in after.entries)
    assert len(kept(tmp_path)) == 1  # the earlier version's is gone


def test_a_faq_with_errors_still_fails_and_is_not_kept(faq_dir: Path, tmp_path: Path) -> None:
    (faq_dir / "rusak.yml").write_text("topic: [\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(FaqError, match=r"rusak\.yml"):
            cached_faq(faq_dir)
    assert kept(tmp_path) == []


def test_a_damaged_cache_file_is_read_from_the_yaml_again(faq_dir: Path, tmp_path: Path) -> None:
    cached_faq(faq_dir)
    (damaged,) = kept(tmp_path)
    damaged.write_text('[{"slug": "x"}]', encoding="utf-8")
    assert cached_faq(faq_dir) == read_faq(faq_dir)
    damaged.write_text("{not json", encoding="utf-8")
    assert cached_faq(faq_dir) == read_faq(faq_dir)
