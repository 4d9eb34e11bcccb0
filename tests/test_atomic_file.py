"""Files replaced all at once (bot/atomic_file.py): the FAQ, exports, caches."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.atomic_file import replacing


def test_the_target_changes_only_when_the_writer_succeeds(tmp_path: Path) -> None:
    target = tmp_path / "kependudukan.yml"
    target.write_text("old")
    with pytest.raises(OSError, match="disk full"), replacing(target) as temporary:
        temporary.write_text("half of the ne")
        raise OSError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["kependudukan.yml"]  # nothing left over

    with replacing(target) as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".tmp"
        assert not list(tmp_path.glob("[!.]*.tmp"))  # hidden, out of the FAQ's globs
        temporary.write_text("new")
        assert target.read_text() == "old"  # readers see the old content meanwhile
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["kependudukan.yml"]
