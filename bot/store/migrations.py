"""The conversation store's schema, as numbered migrations the app applies itself.

``PRAGMA user_version`` records how many migrations a database file has had; it is set
only after a migration completed. SQLite commits each schema statement on its own here
(sqlite-utils commits after every ``create``), so every migration is written to be
idempotent (``if_not_exists``): one cut short by a crash is simply run again, whole, at
the next start. Add new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

import re
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


def _add_columns(db: Database, table: str, columns: dict[str, type]) -> None:
    existing = set(db.table(table).columns_dict)
    for name, kind in columns.items():
        if name not in existing:
            db.table(table).add_column(name, kind)


def _officials_desk(db: Database) -> None:
    """Officials, their sessions, the audit log, and what the desk records per escalation."""
    db.table("officials").create(
        {
            "id": int,
            "name": str,
            "role": str,  # admin | agent
            "password_hash": str,  # Argon2id (argon2-cffi's encoded form)
            "telegram_user_id": int,  # may answer from the officials' Telegram group
            "language": str,  # the desk's language for this official
            "created_at": str,
            "disabled_at": str,
        },
        pk="id",
        not_null={"name", "role", "password_hash", "created_at"},
        if_not_exists=True,
    )
    db.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_officials_name ON officials (name COLLATE NOCASE)"
    )
    db.table("desk_sessions").create(
        {
            "id": str,  # SHA-256 of the cookie's token: a stolen database holds no sessions
            "official_id": int,
            "csrf_token": str,
            "created_at": str,
            "expires_at": str,
        },
        pk="id",
        foreign_keys=[("official_id", "officials", "id")],
        not_null={"official_id", "csrf_token", "created_at", "expires_at"},
        if_not_exists=True,
    )
    db.table("login_failures").create(
        {"id": int, "key": str, "at": str}, pk="id", not_null={"key", "at"}, if_not_exists=True
    )
    db.table("login_failures").create_index(["key", "at"], if_not_exists=True)
    db.table("audit_log").create(
        {
            "id": int,
            "at": str,
            "official_id": int,
            "official": str,  # the name at the time, kept if the account is renamed
            "action": str,
            "target": str,
            "detail": str,
        },
        pk="id",
        not_null={"at", "action"},
        if_not_exists=True,
    )
    db.table("audit_log").create_index(["at"], if_not_exists=True)
    _add_columns(
        db,
        "escalations",
        {
            "question": str,  # the citizen's words, copied for full-text search
            "topic": str,  # the topic of the model's best guess, for filtering
            "assigned_to": int,
            "answer": str,
            "answered_by": int,
            "answered_at": str,
            "closed_reason": str,
            "delivery": str,  # pending | sent | waiting | failed | undeliverable
            "delivery_detail": str,
            "delivered_at": str,
            "rating": int,  # 1-5 from the citizen
            "group_message_id": int,  # the post in the officials' Telegram group
            "faq_entry": str,  # the entry the answer was added to
        },
    )
    db.execute(
        "UPDATE escalations SET question = (SELECT text FROM messages m "
        "WHERE m.id = escalations.message_id) WHERE question IS NULL"
    )
    db.table("escalations").create_index(["group_message_id"], if_not_exists=True)
    if not db.table("escalations").detect_fts():
        db.table("escalations").enable_fts(["question"], create_triggers=True, tokenize="unicode61")


def _broadcasts(db: Database) -> None:
    """Subscriptions, announcements and polls with per-recipient delivery, campaigns."""
    _add_columns(
        db,
        "citizens",
        {
            "blocked_at": str,  # the citizen blocked the bot: no more announcements
            "campaign": str,  # the campaign link that first brought them in
        },
    )
    _add_columns(db, "messages", {"broadcast_id": int})  # an announcement or poll sent
    db.table("subscriptions").create(
        {"citizen_id": int, "topic": str, "created_at": str},
        pk=("citizen_id", "topic"),
        foreign_keys=[("citizen_id", "citizens", "id")],
        not_null={"created_at"},
        if_not_exists=True,
    )
    db.table("subscriptions").create_index(["topic"], if_not_exists=True)
    db.table("subscription_offers").create(
        {"citizen_id": int, "topic": str, "created_at": str},
        pk=("citizen_id", "topic"),
        if_not_exists=True,
    )
    db.table("broadcasts").create(
        {
            "id": int,
            "kind": str,  # announcement | poll | survey
            "text": str,  # the announcement, or the poll's question
            "link": str,
            "image_url": str,
            "options": str,  # polls: JSON list of choices; surveys: JSON list of questions
            "multiple": int,  # polls: more than one choice allowed
            "topics": str,  # JSON list: subscribers of any of these receive it
            "channels": str,  # JSON list of channel names
            "status": str,  # scheduled | sending | sent | cancelled
            "send_at": str,
            "created_by": int,
            "created_at": str,
            "started_at": str,
            "finished_at": str,
            "closed_at": str,  # polls: no more votes
        },
        pk="id",
        not_null={"kind", "text", "topics", "channels", "status", "send_at", "created_at"},
        if_not_exists=True,
    )
    db.table("broadcasts").create_index(["status", "send_at"], if_not_exists=True)
    db.table("deliveries").create(
        {
            "id": int,
            "broadcast_id": int,
            "citizen_id": int,
            # pending -> sending -> sent | failed | skipped | blocked
            "status": str,
            "detail": str,
            "platform_ref": str,  # e.g. the Telegram poll id, to match votes
            "updated_at": str,
        },
        pk="id",
        foreign_keys=[("broadcast_id", "broadcasts", "id"), ("citizen_id", "citizens", "id")],
        not_null={"broadcast_id", "citizen_id", "status"},
        if_not_exists=True,
    )
    db.table("deliveries").create_index(
        ["broadcast_id", "citizen_id"], unique=True, if_not_exists=True
    )
    db.table("deliveries").create_index(["broadcast_id", "status"], if_not_exists=True)
    db.table("deliveries").create_index(["platform_ref"], if_not_exists=True)
    db.table("votes").create(
        {"broadcast_id": int, "citizen_id": int, "option": int, "created_at": str},
        pk=("broadcast_id", "citizen_id", "option"),
        not_null={"created_at"},
        if_not_exists=True,
    )
    db.table("survey_answers").create(
        {
            "broadcast_id": int,
            "citizen_id": int,
            "question": int,
            "answer": str,
            "created_at": str,
        },
        pk=("broadcast_id", "citizen_id", "question"),
        not_null={"answer", "created_at"},
        if_not_exists=True,
    )
    db.table("survey_progress").create(
        {
            "broadcast_id": int,
            "citizen_id": int,
            "next_question": int,
            "status": str,  # answering | done
            "updated_at": str,
        },
        pk=("broadcast_id", "citizen_id"),
        not_null={"next_question", "status", "updated_at"},
        if_not_exists=True,
    )
    db.table("survey_progress").create_index(["citizen_id", "status"], if_not_exists=True)
    db.table("campaigns").create(
        {"slug": str, "title": str, "created_by": int, "created_at": str},
        pk="slug",
        not_null={"created_at"},
        if_not_exists=True,
    )


def _insight(db: Database) -> None:
    """Possible misinformation: incoming messages tagged as rumours (forwarded from
    elsewhere, or asking whether something is true or a hoax), and an index for the
    desk's per-period questions (clusters, rumours)."""
    _add_columns(db, "messages", {"rumour": int})  # 1: tagged as possible misinformation
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_messages_in_created ON messages (created_at) "
        "WHERE direction = 'in'"
    )


# Tables whose ids citizens or officials see (ticket numbers, ids in button payloads, the
# audit log's targets) or that other rows point to.
_ID_TABLES = (
    "citizens",
    "messages",
    "feedback",
    "escalations",
    "officials",
    "login_failures",
    "audit_log",
    "broadcasts",
    "deliveries",
)
_PLAIN_ID = re.compile(r'("id"|\[id\]|\bid\b) INTEGER PRIMARY KEY(?! AUTOINCREMENT)', re.IGNORECASE)


def _never_reuse_ids(db: Database) -> None:
    """``INTEGER PRIMARY KEY`` hands the largest id out again once its row is deleted:
    after /hapusdata the next citizen got the erased citizen's ticket number, and the audit
    log's "ticket #6" named someone else. ``AUTOINCREMENT`` never reuses one. SQLite cannot
    add it to a table, so each table is rebuilt with it (ids, indexes and triggers kept), as
    SQLite's documentation describes for schema changes ALTER TABLE cannot make."""
    conn = db.conn
    if conn.in_transaction:
        conn.commit()
    conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction
    try:
        with db.atomic():
            for table in _ID_TABLES:
                _rebuild_with_autoincrement(db, table)
            broken = db.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"rebuilding the tables broke references: {broken[:5]}")
    finally:
        conn.execute("PRAGMA foreign_keys = ON")


def _rebuild_with_autoincrement(db: Database, table: str) -> None:
    row = db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
    ).fetchone()
    if row is None or not _PLAIN_ID.search(row[0]):
        return  # not there, or already rebuilt by a run that was cut short
    create = _PLAIN_ID.sub(r"\1 INTEGER PRIMARY KEY AUTOINCREMENT", row[0], count=1)
    staging = f"{table}__rebuilt"
    create = create.replace(f'"{table}"', f'"{staging}"', 1).replace(f"[{table}]", staging, 1)
    extras = [
        sql
        for (sql,) in db.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
            "AND sql IS NOT NULL",
            [table],
        )
    ]
    db.execute(f'DROP TABLE IF EXISTS "{staging}"')
    db.execute(create)
    db.execute(f'INSERT INTO "{staging}" SELECT * FROM "{table}"')
    db.execute(f'DROP TABLE "{table}"')
    db.execute(f'ALTER TABLE "{staging}" RENAME TO "{table}"')
    for sql in extras:
        db.execute(sql)


def _outbox(db: Database) -> None:
    """Every outgoing reply and official's answer waits in the outbox until the platform
    confirms it (see ``bot.store.outbox``); an incoming message that could not be answered
    counts its attempts, so one that always fails is set aside instead of blocking."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS "outbox" (
            "id" INTEGER PRIMARY KEY AUTOINCREMENT,
            "citizen_id" INTEGER NOT NULL REFERENCES "citizens"("id"),
            "message_id" INTEGER REFERENCES "messages"("id"),
            "kind" TEXT NOT NULL,
            "replies" TEXT NOT NULL,
            "state" TEXT NOT NULL,
            "attempts" INTEGER NOT NULL DEFAULT 0,
            "parts_sent" INTEGER NOT NULL DEFAULT 0,
            "next_attempt_at" TEXT NOT NULL,
            "give_up_at" TEXT,
            "last_error" TEXT,
            "then_erase" INTEGER NOT NULL DEFAULT 0,
            "created_at" TEXT NOT NULL,
            "updated_at" TEXT NOT NULL,
            "sent_at" TEXT
        )"""
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_outbox_queued ON outbox (citizen_id, id) "
        "WHERE state = 'queued'"
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_outbox_state ON outbox (state, updated_at)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_outbox_message ON outbox (message_id)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_messages_reply_to ON messages (reply_to)")
    _add_columns(db, "messages", {"attempts": int, "error": str})
    # An announcement that failed for now is tried again from ``retry_at``.
    _add_columns(db, "deliveries", {"attempts": int, "retry_at": str})


def _erasure(db: Database) -> None:
    """Tombstones of erased citizens (a hash of the platform id and when), so that a
    webhook the platform redelivers after /hapusdata does not bring them back; and the
    install's own secrets (e.g. the key that signs web chat sessions), made once."""
    db.table("erased_citizens").create(
        {"channel": str, "platform_hash": str, "erased_at": str},
        pk=("channel", "platform_hash"),
        not_null={"erased_at"},
        if_not_exists=True,
    )
    db.table("secrets").create(
        {"name": str, "value": str, "created_at": str},
        pk="name",
        not_null={"value", "created_at"},
        if_not_exists=True,
    )


def _forget_typed_names(db: Database) -> None:
    """Failed sign-ins used to store the name as typed: someone who typed their password
    into the name field left it in the audit log and in the failure counter. Those are
    removed; the audit rows stay (who, when, from where), without the typed text."""
    with db.atomic():
        db.execute(
            "UPDATE audit_log SET target = '' WHERE action = 'sign-in-failed' "
            "AND official_id IS NULL"
        )
        db.execute("DELETE FROM login_failures WHERE key LIKE 'name:%'")


def _citizen_flow(db: Database) -> None:
    """What the conversation needs to treat citizens as a helpline would: one verdict per
    answer (a second tap on 👍 changes it, it is not counted twice), the buttons of the
    bot's messages (the web chat shows the last ones again after a reload), and the kind
    of attachment a message came with (a photo with its caption)."""
    _add_columns(db, "messages", {"buttons": str, "attachment": str})
    with db.atomic():
        db.execute(
            "DELETE FROM feedback WHERE id NOT IN (SELECT max(id) FROM feedback GROUP BY "
            "message_id)"
        )
    db.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_feedback_one_per_message ON feedback (message_id)"
    )


def _language_choice(db: Database) -> None:
    """Whether the citizen picked their language: a choice sticks, where a language
    detected from their messages follows them."""
    if "language_chosen" not in db.table("citizens").columns_dict:
        db.table("citizens").add_column("language_chosen", int, not_null_default=0)


MIGRATIONS: list[Callable[[Database], None]] = [
    _initial,
    _officials_desk,
    _broadcasts,
    _insight,
    _never_reuse_ids,
    _outbox,
    _erasure,
    _forget_typed_names,
    _citizen_flow,
    _language_choice,
]


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
