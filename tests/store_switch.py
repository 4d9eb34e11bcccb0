"""``TANYA_TEST_STORE=postgresql``: the whole suite with every store on PostgreSQL.

Tests name their store as SQLite does, by a file's path (``Store.open(tmp_path /
"tanya.db")``, a config.yml's ``storage.url: data/tanya.db``). With the switch on, each
such path stands for its own database on the session's throw-away cluster
(``tests/postgres.py``), a copy of the migrated template made on first use: the same path
is the same database in the test and in the ``tanya`` processes it starts, and two paths
are two databases, as two files would be. Two places take the path, and both are wrapped
here: ``Store.open`` (tests that open a store themselves) and the reading of
``storage.url`` (settings built by tests and by child processes, which load this module
through ``tests/pg_site/sitecustomize.py``). Tests about SQLite itself (the file, FTS5,
WAL, a copy's SQLite source) carry the ``sqlite_only`` marker and keep their files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.store.engine import Engine

ENGINE_VARIABLE = "TANYA_TEST_STORE"
# The cluster's URL without a database (postgresql://tanya@127.0.0.1:PORT), set by
# conftest while the switch is on; unset in a sqlite_only test, so its paths stay files.
SERVER_VARIABLE = "TANYA_TEST_POSTGRESQL"
ENGINES = ("sqlite", "postgresql")
SITE = Path(__file__).resolve().parent / "pg_site"


_made: set[str] = set()


def engine() -> str:
    """The engine the suite's stores use: ``sqlite`` (the default) or ``postgresql``."""
    chosen = os.environ.get(ENGINE_VARIABLE, "sqlite") or "sqlite"
    if chosen not in ENGINES:
        raise RuntimeError(f"{ENGINE_VARIABLE} must be sqlite or postgresql, not {chosen!r}")
    return chosen


# The engines of the store_url fixture's tests: both by default, PostgreSQL alone when the
# switch puts every store there.
PARAMETRISED = ["postgresql"] if engine() == "postgresql" else list(ENGINES)


def database_for(path: str | Path) -> str | None:
    """The PostgreSQL URL standing for the SQLite file ``path``, or None when the switch
    is off (or the test is about SQLite)."""
    server = os.environ.get(SERVER_VARIABLE)
    if not server:
        return None
    name = "file_" + hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:24]
    if name not in _made:
        import psycopg
        from psycopg import errors

        from tests.postgres import TEMPLATE

        # Made already by the test's other process, when that one came first.
        with (
            psycopg.connect(f"{server}/postgres", autocommit=True) as conn,
            contextlib.suppress(errors.DuplicateDatabase),
        ):
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")  # type: ignore[arg-type]
        _made.add(name)
    return f"{server}/{name}"


@contextlib.contextmanager
def engine_at(path: Path) -> Iterator[Engine]:
    """The store a test names by its SQLite path (the file, or the database standing for
    it), as one transaction: for tests that look under the bot's feet (after a SIGKILL)."""
    from bot.store.engine import open_engine

    engine = open_engine(database_for(path) or path)
    try:
        with engine.atomic():
            yield engine
    finally:
        engine.close()


def install() -> None:
    """Wrap ``Store.open``'s engine and the settings' storage check (once per process)."""
    import bot.config
    import bot.store.store

    if getattr(bot.store.store.open_engine, "switched", False):
        return
    open_engine = bot.store.store.open_engine
    check_storage = bot.config._check_storage

    def switched_engine(url: str | Path) -> Any:
        if not (isinstance(url, str) and url.startswith(bot.config.POSTGRESQL_SCHEMES)):
            url = database_for(url) or url
        return open_engine(url)

    def switched_storage(settings: bot.config.StorageSettings, base: Path) -> Any:
        checked = check_storage(settings, base)
        if checked.database is None:
            return checked
        return bot.config.StorageSettings(url=database_for(checked.database) or checked.url)

    switched_engine.switched = True  # type: ignore[attr-defined]
    bot.store.store.open_engine = switched_engine  # type: ignore[assignment]
    bot.config._check_storage = switched_storage
