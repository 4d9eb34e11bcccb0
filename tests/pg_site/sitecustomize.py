"""Loaded by every Python child of a test run with ``TANYA_TEST_STORE=postgresql`` (the
suite puts this folder on PYTHONPATH): the child's stores go to the same PostgreSQL
databases as the test's (tests/store_switch.py)."""

import os
import sys
from pathlib import Path

if os.environ.get("TANYA_TEST_POSTGRESQL"):
    # First on the path for this import: a dependency installs a package named "tests".
    root = str(Path(__file__).resolve().parent.parent.parent)
    sys.path.insert(0, root)
    try:
        from tests.store_switch import install

        install()
    except Exception as exc:  # a child on SQLite would pass for one on PostgreSQL
        raise SystemExit(f"tests/pg_site: cannot put this store on PostgreSQL: {exc}") from exc
    finally:
        sys.path.remove(root)
