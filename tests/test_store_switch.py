"""The switch that runs the suite on PostgreSQL (tests/store_switch.py) does what it
says: a store a test names by a SQLite path is a PostgreSQL database, the same one in the
`tanya` processes the test starts, and no file is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from bot.store import Store
from tests.conftest import ROOT, SMALL_FAQ, run_tanya, write_config
from tests.desk_helpers import add_official

# Collected only with TANYA_TEST_STORE=postgresql (tests/conftest.py deselects them
# otherwise, so that a CI run shows no skip).
pytestmark = pytest.mark.postgresql_run_only


def test_a_test_and_its_tanya_process_share_one_postgresql_database(tmp_path: Path) -> None:
    config = write_config(tmp_path, SMALL_FAQ, ROOT / "rasa_project", tmp_path / "m.tar.gz")
    settings = load_settings(config)
    assert settings.storage.database is None  # data/tanya.db stands for a database
    store = Store.open(tmp_path / "data" / "tanya.db")
    assert store.engine.url == settings.storage.url
    add_official(store, "Ayu", "admin")
    store.close()

    listed = run_tanya("--config", str(config), "officials", "list", cwd=tmp_path)

    assert listed.returncode == 0, listed.stderr.decode()
    assert "Ayu\tadmin" in listed.stdout.decode() and listed.stderr == b""
    assert not (tmp_path / "data").exists()


@pytest.mark.sqlite_only
def test_a_sqlite_only_test_keeps_its_file(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "tanya.db")
    store.close()
    assert (tmp_path / "tanya.db").is_file()
