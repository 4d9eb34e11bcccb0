"""The one small interface every query of the store goes through, and its two engines.

``storage.url`` chooses the engine: a file path means SQLite (through sqlite-utils, one
file in WAL mode, as a city needs), ``postgresql://...`` means PostgreSQL (through psycopg
3 and a psycopg-pool connection pool, for a province or a country with several workers).

The store writes its SQL once, in the dialect both accept, with ``?`` placeholders; the
PostgreSQL engine turns them into psycopg's ``%s`` (and a literal ``%`` into ``%%``).
Where the dialects differ beyond that, the store asks :attr:`Engine.dialect`. An engine
returns rows read whole (never a cursor left open on a pooled connection), and
:meth:`Engine.atomic` is one transaction, nested blocks being savepoints, on both.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlite_utils import Database

from bot.store.clock import local_day

POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


class StoreUnavailable(Exception):
    """The database cannot be reached (the message says where, never the password)."""


class Dialect(enum.StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class Result(Protocol):
    """What :meth:`Engine.execute` returns: a DB-API cursor's reading half."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


@dataclass
class Rows:
    """Rows read whole, and how many rows the statement changed."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rowcount: int = -1

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)


class Engine(Protocol):
    dialect: Dialect
    url: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        """Run one statement; its rows as tuples."""
        ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run one query; its rows as dicts by column name."""
        ...

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one INSERT into a table with an ``id`` key; the new row's id."""
        ...

    def atomic(self) -> contextlib.AbstractContextManager[Any]:
        """One transaction (a savepoint when one is open already)."""
        ...

    def execute_atomic(self, sql: str, params: Sequence[Any] = ()) -> Result:
        """One statement as a transaction of its own, its rows read whole: what
        ``with atomic(): execute(...)`` does for one statement, with fewer round trips on
        PostgreSQL (an autocommitted statement instead of BEGIN, statement, COMMIT). Inside
        an open :meth:`atomic` block it joins that block's transaction."""
        ...

    def stream(self, sql: str) -> Iterator[tuple[Any, ...]]:
        """A query's rows one at a time (a whole table, without holding it in memory)."""
        ...

    def tables(self) -> list[str]:
        """The tables, by name (SQLite's full-text index's own tables too)."""
        ...

    def columns(self, table: str) -> list[str]:
        """A table's columns in their order (stored ones: none PostgreSQL computes)."""
        ...

    def close(self) -> None: ...


def is_postgresql(url: str) -> bool:
    return url.startswith(POSTGRESQL_SCHEMES)


def describe(url: str) -> str:
    """Where a database is, to tell people: host, port and name, never a password."""
    if not is_postgresql(url):
        return url
    parts = urlsplit(url)
    return f"postgresql://{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


def open_engine(url: str | Path) -> Engine:
    """The engine for ``storage.url``: a PostgreSQL URL, else a SQLite file's path."""
    if isinstance(url, str) and is_postgresql(url):
        return PostgresEngine(url)
    return SqliteEngine.open(Path(url))


class SqliteEngine:
    dialect = Dialect.SQLITE

    def __init__(self, db: Database, url: str = "") -> None:
        self.db = db  # sqlite-utils: the SQLite migrations build tables with it
        self.url = url
        db.register_function(local_day, deterministic=True, name="tanya_local_day")

    @classmethod
    def open(cls, path: Path) -> SqliteEngine:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = Database(path)
        db.enable_wal()
        # In WAL mode, NORMAL still survives any crash of the process (a SIGKILL loses
        # nothing committed); only a power cut may undo the last commits. FULL would fsync
        # on every commit, several per message, and cap the bot at ~50 messages/s here.
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA busy_timeout = 5000")
        # Deleted and blanked content (/hapusdata, retention) is overwritten with zeros
        # instead of lingering in free space; the default depends on how SQLite was built.
        db.execute("PRAGMA secure_delete = ON")
        return cls(db, str(path))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        return self.db.execute(sql, list(params))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, list(params)))

    def stream(self, sql: str) -> Iterator[tuple[Any, ...]]:
        """A query's rows one at a time (a whole table, without holding it in memory)."""
        yield from self.db.conn.execute(sql)

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.db.execute(sql, list(params)).lastrowid or 0)

    def atomic(self) -> contextlib.AbstractContextManager[Any]:
        return self.db.atomic()

    def execute_atomic(self, sql: str, params: Sequence[Any] = ()) -> Result:
        with self.db.atomic():
            cursor = self.db.execute(sql, list(params))
            # Read whole inside the transaction: SQLite finishes a statement (an INSERT ...
            # RETURNING) only once it is stepped out.
            return Rows(cursor.fetchall(), cursor.rowcount)

    def tables(self) -> list[str]:
        return [t for t in self.db.table_names() if not t.startswith("sqlite_")]

    def columns(self, table: str) -> list[str]:
        return [c.name for c in self.db.table(table).columns]

    def close(self) -> None:
        self.db.close()


_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?|%")


@lru_cache(maxsize=1024)
def to_psycopg(sql: str) -> str:
    """``?`` placeholders as ``%s``, and ``%`` (in LIKE patterns) as ``%%``; a ``?`` inside
    a quoted literal stays."""

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        return token.replace("%", "%%")

    return _PLACEHOLDER.sub(swap, sql)


class PostgresEngine:
    """Connections from a pool; outside :meth:`atomic` each statement commits on its own
    (as on SQLite), inside it every statement of the block runs on the block's
    connection (kept in a context variable, so concurrent tasks never share one).

    The main thread (the bot's event loop, which makes almost every call) keeps one
    connection for its single statements instead of taking one from the pool for each:
    the checkout and return cost a third of a short statement's time in the worker. A
    single statement runs start to end without yielding, so two tasks of that thread
    never interleave on it; blocks and streams, which may span awaits or other
    statements, still take a connection of their own."""

    dialect = Dialect.POSTGRESQL

    def __init__(self, url: str, *, max_size: int = 8, connect_timeout: float = 15) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self.url = url
        # One plain connection first: the server's own reason (refused, no such database,
        # a wrong password) instead of a pool waiting out its timeout.
        try:
            psycopg.connect(url, connect_timeout=max(1, int(connect_timeout))).close()
        except psycopg.Error as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {describe(url)}: {reason} "
                "(is it running, are storage.url and PGPASSWORD right?)"
            ) from exc
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True},
            open=True,
            name="tanya-store",
        )
        try:
            self.pool.wait(timeout=connect_timeout)
        except Exception as exc:
            self.pool.close()
            where = describe(url)
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {where} within {connect_timeout:g} s "
                "(is it running, are storage.url and PGPASSWORD right?)"
            ) from exc
        self._current: contextvars.ContextVar[Any] = contextvars.ContextVar(
            f"tanya-store-{id(self)}", default=None
        )
        self._main_thread = threading.main_thread()
        self._held: Any = None  # the main thread's connection for single statements
        # Its cursors, for rows as tuples and as dicts: made once, not per statement (a
        # new cursor costs about as much CPU as the rest of a short statement's client
        # side: its adapters are set up again).
        self._held_cursors: tuple[Any, Any] | None = None

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        current = self._current.get()
        if current is not None:
            yield current
            return
        if threading.current_thread() is self._main_thread:
            yield self._main_connection()
            return
        with self.pool.connection() as conn:
            yield conn

    def _main_connection(self) -> Any:
        """The main thread's connection; a broken or closed one (the server restarted,
        the network dropped) goes back to the pool, which discards it, for a new one."""
        held = self._held
        if held is not None and (held.closed or held.broken):
            self._held = None
            self._held_cursors = None
            self.pool.putconn(held)
            held = None
        if held is None:
            held = self._held = self.pool.getconn()
        return held

    def _held_cursor(self, dicts: bool) -> Any:
        """The main thread's cursor for a single statement (rows as dicts or tuples);
        None inside a block or on another thread, which use a cursor of their own."""
        if self._current.get() is not None or threading.current_thread() is not self._main_thread:
            return None
        conn = self._main_connection()
        cursors = self._held_cursors
        if cursors is None or cursors[0].connection is not conn:
            from psycopg.rows import dict_row

            cursors = self._held_cursors = (conn.cursor(), conn.cursor(row_factory=dict_row))
        return cursors[1] if dicts else cursors[0]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        held = self._held_cursor(dicts=False)
        if held is not None:
            return self._run(held, sql, params)
        with self._connection() as conn, conn.cursor() as cursor:
            return self._run(cursor, sql, params)

    @staticmethod
    def _run(cursor: Any, sql: str, params: Sequence[Any]) -> Rows:
        cursor.execute(to_psycopg(sql), params)
        rows = cursor.fetchall() if cursor.description is not None else []
        return Rows(rows, cursor.rowcount)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        held = self._held_cursor(dicts=True)
        if held is not None:
            held.execute(to_psycopg(sql), params)
            return list(held.fetchall())
        from psycopg.rows import dict_row

        with self._connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(to_psycopg(sql), params)
            return list(cursor.fetchall())

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        row = self.execute(f"{sql} RETURNING id", params).fetchone()
        return int(row[0])

    def execute_atomic(self, sql: str, params: Sequence[Any] = ()) -> Result:
        # The pool's connections autocommit: one statement outside a block is a transaction
        # of its own already (2 round trips fewer than BEGIN ... COMMIT around it).
        return self.execute(sql, params)

    def stream(self, sql: str) -> Iterator[tuple[Any, ...]]:
        # Outside a block a connection of its own, never the main thread's: the caller
        # may run other statements between the rows.
        current = self._current.get()
        taken = contextlib.nullcontext(current) if current is not None else self.pool.connection()
        with taken as conn, conn.cursor() as cursor:
            yield from cursor.stream(sql)

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterator[Sequence[Any]]) -> int:
        """Load rows with COPY (call inside :meth:`atomic`); how many."""
        from psycopg import sql

        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        count = 0
        with self._connection() as conn, conn.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Any]:
        current = self._current.get()
        if current is not None:
            with current.transaction():  # a savepoint
                yield self
            return
        with self.pool.connection() as conn:
            token = self._current.set(conn)
            try:
                with conn.transaction():
                    yield self
            finally:
                self._current.reset(token)

    def tables(self) -> list[str]:
        rows = self.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        )
        return [r[0] for r in rows]

    def columns(self, table: str) -> list[str]:
        rows = self.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = ? AND is_generated = 'NEVER' "
            "ORDER BY ordinal_position",
            [table],
        )
        return [r[0] for r in rows]

    def close(self) -> None:
        self._held_cursors = None
        if self._held is not None:
            self.pool.putconn(self._held)
            self._held = None
        self.pool.close()
