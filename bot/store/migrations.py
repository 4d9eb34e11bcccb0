"""The conversation store's schema, as numbered migrations the app applies itself.

``PRAGMA user_version`` records how many migrations a database file has had; it is set
only after a migration completed. SQLite commits each schema statement on its own here
(sqlite-utils commits after every ``create``), so every migration is written to be
idempotent (``if_not_exists``): one cut short by a crash is simply run again, whole, at
the next start. Add new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils import Database


def _initial(db: Database) -> None:
    db.table("citizens").create(
        {
            "id": int,
            "channel": str,
            "platform_id": str,
            "language": str,
            "first_seen": str,
            "last_seen": str,
        },
        pk="id",
        not_null={"channel", "platform_id", "first_seen", "last_seen"},
        if_not_exists=True,
    )
    db.table("citizens").create_index(["channel", "platform_id"], unique=True, if_not_exists=True)
    db.table("messages").create(
        {
            "id": int,
            "citizen_id": int,
            "direction": str,  # "in" from the citizen, "out" from the bot or an official
            "channel_message_id": str,  # the platform's id, for de-duplication
            "kind": str,  # text, photo, sticker, voice, location, file, command, button
            "text": str,
            "created_at": str,
            "status": str,  # in: received -> answered; out: sent, failed
            "action": str,  # the decision: answer, clarify, smalltalk, escalate
            "reason": str,
            "confidence": float,
            "faq_id": str,
            "language": str,
            "reply_to": int,
        },
        pk="id",
        foreign_keys=[("citizen_id", "citizens", "id"), ("reply_to", "messages", "id")],
        not_null={"citizen_id", "direction", "kind", "created_at", "status"},
        if_not_exists=True,
    )
    db.table("messages").create_index(["citizen_id", "created_at"], if_not_exists=True)
    db.table("messages").create_index(["direction", "status"], if_not_exists=True)
    db.table("messages").create_index(["faq_id"], if_not_exists=True)
    db.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_messages_channel_message ON messages "
        "(citizen_id, channel_message_id) WHERE channel_message_id IS NOT NULL"
    )
    db.table("feedback").create(
        {"id": int, "message_id": int, "helpful": int, "created_at": str},
        pk="id",
        foreign_keys=[("message_id", "messages", "id")],
        not_null={"message_id", "helpful", "created_at"},
        if_not_exists=True,
    )
    db.table("feedback").create_index(["message_id"], if_not_exists=True)
    db.table("escalations").create(
        {
            "id": int,  # also the ticket number citizens are told
            "citizen_id": int,
            "message_id": int,
            "reason": str,
            "status": str,  # open -> answered | closed
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        foreign_keys=[("citizen_id", "citizens", "id"), ("message_id", "messages", "id")],
        not_null={"citizen_id", "message_id", "reason", "status", "created_at"},
        if_not_exists=True,
    )
    db.table("escalations").create_index(["status", "created_at"], if_not_exists=True)
    db.table("escalations").create_index(["citizen_id"], if_not_exists=True)


MIGRATIONS: list[Callable[[Database], None]] = [_initial]


def schema_version(db: Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: Database) -> int:
    """Apply the migrations this database has not had yet; return the new version."""
    version = schema_version(db)
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"the database has schema version {version}, newer than this Tanya "
            f"({len(MIGRATIONS)}): upgrade Tanya or use another database file"
        )
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        migration(db)
        db.execute(f"PRAGMA user_version = {number}")
    return schema_version(db)
