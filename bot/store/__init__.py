"""The conversation store (SQLite through sqlite-utils): schema, migrations, queries."""

from bot.store.migrations import MIGRATIONS, migrate, schema_version
from bot.store.store import Citizen, Saved, Store

__all__ = ["MIGRATIONS", "Citizen", "Saved", "Store", "migrate", "schema_version"]
