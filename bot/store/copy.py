"""``tanya copy-store FROM TO``: a city's SQLite history moved into PostgreSQL, whole.

Every table is copied with its ids (ticket numbers, ids in button payloads and in the
audit log stay valid), in one transaction with the references checked at its end; each
identity sequence is then set past the highest id SQLite ever handed out (its
``sqlite_sequence``, which remembers deleted rows too), so no id is handed out twice.
Afterwards both databases are read again and compared table by table: the row count and
a checksum of every row's values, independent of row order (PostgreSQL's text order
depends on its collation, SQLite's does not).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from bot.store.engine import Engine, PostgresEngine, SqliteEngine
from bot.store.migrations import schema_version

# SQLite's FTS5 index of escalations (PostgreSQL computes its own, ``question_words``).
_SQLITE_ONLY_PREFIX = "escalations_fts"
_MODULUS = 2**256


class CopyError(Exception):
    """The copy cannot be made, or did not come out the same (then nothing is kept)."""


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int
    checksum: str  # the same on both sides, or the copy raised CopyError


def checksum(rows: Iterator[Sequence[Any]]) -> tuple[int, str]:
    """(rows, checksum): the sum of every row's SHA-256, so order does not matter."""
    total, count = 0, 0
    for row in rows:
        digest = hashlib.sha256(repr(tuple(_normal(v) for v in row)).encode()).digest()
        total = (total + int.from_bytes(digest, "big")) % _MODULUS
        count += 1
    return count, f"{total:064x}"


def _normal(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def tables_to_copy(source: Engine, target: Engine) -> list[str]:
    theirs = set(target.tables())
    ours = [t for t in source.tables() if not t.startswith(_SQLITE_ONLY_PREFIX)]
    missing = [t for t in ours if t not in theirs]
    if missing:
        raise CopyError(f"the target has no table {', '.join(missing)}")
    return ours


def copy_store(source: Engine, target: Engine) -> list[TableCopy]:
    """Copy a migrated SQLite store into a migrated, empty PostgreSQL one and verify it."""
    if not isinstance(source, SqliteEngine) or not isinstance(target, PostgresEngine):
        raise CopyError("copy-store copies a SQLite file into a PostgreSQL database")
    if schema_version(source) != schema_version(target):
        raise CopyError(
            f"schema versions differ: {schema_version(source)} here, {schema_version(target)} there"
        )
    tables = tables_to_copy(source, target)
    for table in tables:
        if target.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is not None:
            raise CopyError(
                f"the target already holds {table}: copy into an empty, migrated database"
            )
    high_water = dict(source.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    table = ""
    try:
        with target.atomic():
            target.execute("SET CONSTRAINTS ALL DEFERRED")
            for table in tables:
                columns = source.columns(table)
                absent = set(columns) - set(target.columns(table))
                if absent:
                    raise CopyError(f"the target's {table} has no column {', '.join(absent)}")
                target.copy_rows(table, columns, source.stream(_select(table, columns)))
            table = ""
            for name in tables:
                _set_sequence(target, name, high_water.get(name))
            # Read back before the commit: a difference undoes the whole copy.
            copies = verify(source, target, tables)
    except psycopg.Error as exc:  # a value PostgreSQL refuses, a broken reference
        where = f"{table}: " if table else ""
        raise CopyError(f"{where}{str(exc).strip()}") from exc
    return copies


def _select(table: str, columns: Sequence[str]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f'SELECT {names} FROM "{table}"'


def _set_sequence(target: Engine, table: str, sqlite_seq: int | None) -> None:
    if "id" not in target.columns(table):
        return
    sequence = target.execute("SELECT pg_get_serial_sequence(?, 'id')", [table]).fetchone()[0]
    if sequence is None:
        return
    highest = target.execute(f'SELECT max(id) FROM "{table}"').fetchone()[0] or 0
    past = max(int(highest), int(sqlite_seq or 0))
    if past > 0:
        target.execute("SELECT setval(?, ?, true)", [sequence, past])


def verify(source: Engine, target: Engine, tables: Sequence[str]) -> list[TableCopy]:
    copies = []
    for table in tables:
        columns = source.columns(table)
        ours = checksum(source.stream(_select(table, columns)))
        theirs = checksum(target.stream(_select(table, columns)))
        if ours != theirs:
            raise CopyError(
                f"{table}: {ours[0]} rows here, {theirs[0]} there, or their values differ"
            )
        copies.append(TableCopy(table, ours[0], ours[1]))
    return copies
