"""Only bot/store reads or writes the database: the rest of the bot (and the benchmarks)
reach it through the store's methods, which return typed rows (dataclasses, NamedTuples,
Enums), never raw dict rows or the database handle. A raw row would let a view depend on
a column name the engines or a migration may change, unchecked by mypy."""

from __future__ import annotations

import ast
import inspect
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.store import Store
from tests.conftest import ROOT

# Everything outside bot/store that uses the store: the bot, its benchmarks and scripts.
USERS = [ROOT / "bot", ROOT / "bench", ROOT / "scripts"]
STORE = ROOT / "bot" / "store"
HANDLES = {"db", "engine"}  # the Store's (and sub-stores') database handle


def sources() -> Iterator[Path]:
    for folder in USERS:
        for path in sorted(folder.rglob("*.py")):
            if STORE not in path.parents:
                yield path


def handle_uses(source: str) -> list[str]:
    """Where code reads ``x.db`` or ``x.engine`` (line: attribute); ``rasa.engine``
    imports are module names, not attributes, and do not count."""
    return [
        f"{node.lineno}: .{node.attr}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr in HANDLES
    ]


def test_nothing_outside_the_store_touches_the_database_handle() -> None:
    uses = [
        f"{path.relative_to(ROOT)}:{use}"
        for path in sources()
        for use in handle_uses(path.read_text(encoding="utf-8"))
    ]
    assert uses == []


def test_the_check_finds_a_handle_use() -> None:
    source = "from rasa.engine import graph\nrows = store.db.execute('SELECT 1')\nx = s.engine\n"
    assert sorted(handle_uses(source)) == ["2: .db", "3: .engine"]


def untyped(annotation: Any) -> bool:
    """True for a row type the caller would have to subscript by column name: a dict
    keyed by strings holding Any, Any itself, or a container of either."""
    if annotation is Any:
        return True
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is dict and args and args[1] is Any:
        return True
    return any(untyped(arg) for arg in args)


def public_methods(store: Store) -> Iterator[tuple[str, Any]]:
    parts: list[tuple[str, object]] = [("Store", store)]
    parts += [
        (name, part)
        for name, part in vars(store).items()
        if type(part).__module__.startswith("bot.store.") and name not in HANDLES
    ]
    for owner, part in parts:
        for name, method in inspect.getmembers(type(part), inspect.isfunction):
            if not name.startswith("_"):
                yield f"{owner}.{name}", method


def test_store_methods_return_typed_rows(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "tanya.db")
    try:
        methods = dict(public_methods(store))
    finally:
        store.close()
    assert "escalations.get" in methods and "Store.messages" in methods  # the walk works
    raw = [
        name
        for name, method in methods.items()
        if untyped(typing.get_type_hints(method).get("return"))
    ]
    assert raw == []


def test_the_row_check_tells_raw_rows_from_typed_ones() -> None:
    assert untyped(list[dict[str, Any]])
    assert untyped(dict[str, Any] | None)
    assert not untyped(list[tuple[int, str]])
    assert not untyped(dict[str, int])
