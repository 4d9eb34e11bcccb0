"""The conversation store's schema, as numbered migrations the app applies itself.

One list for both engines: each migration has a SQLite step and a PostgreSQL step that
leave the two schemas with the same tables, columns and meaning (PostgreSQL's own types
where SQLite has none: identity ids, ``tsvector`` for full-text search).

On SQLite ``PRAGMA user_version`` records how many migrations a database file has had; it
is set only after a migration completed. SQLite commits each schema statement on its own
here (sqlite-utils commits after every ``create``), so every SQLite step is written to be
idempotent (``if_not_exists``): one cut short by a crash is simply run again, whole, at the
next start. On PostgreSQL a step and the new version (table ``tanya_schema``) are one
transaction, as PostgreSQL's DDL is transactional; an advisory lock keeps two workers
starting at once from migrating together. Add new migrations at the end; never edit one
that has shipped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlite_utils import Database

from bot.store.engine import Dialect, Engine, SqliteEngine

log = logging.getLogger(__name__)


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


def _outbox_claims(db: Database) -> None:
    """Which worker is sending an outbox message, and until when its claim holds (several
    workers on one database; DEVELOPERS.md, "Several workers on one database")."""
    columns = db.table("outbox").columns_dict
    for name in ("claimed_by", "lease_until"):
        if name not in columns:
            db.table("outbox").add_column(name, str)


def _broadcast_claims(db: Database) -> None:
    """Broadcast recipients claimed by a worker with a lease, as the outbox's messages are,
    and one pace per channel that every worker's announcements share (its rate limit)."""
    columns = db.table("deliveries").columns_dict
    for name in ("claimed_by", "lease_until"):
        if name not in columns:
            db.table("deliveries").add_column(name, str)
    db.table("send_pace").create(
        {"channel": str, "next_at": float}, pk="channel", if_not_exists=True
    )


def _jobs(db: Database) -> None:
    """When each once-per-period job (the purge, the pass over abandoned messages) last
    started, and in which worker (``bot.store.leases.Jobs``)."""
    db.table("jobs").create(
        {"name": str, "last_run": str, "holder": str}, pk="name", if_not_exists=True
    )


def _model_versions(db: Database) -> None:
    """The model files written by training, so every worker loads the newest one
    (``bot.store.models``)."""
    db.execute(
        'CREATE TABLE IF NOT EXISTS model_versions ("id" INTEGER PRIMARY KEY AUTOINCREMENT, '
        "path TEXT NOT NULL, checksum TEXT NOT NULL, trained_at TEXT NOT NULL, "
        "recorded_at TEXT NOT NULL, recorded_by TEXT NOT NULL)"
    )


def _liveness(db: Database) -> None:
    """A heartbeat row per worker, and the worker that stored each incoming message, so a
    dead worker's claims and unanswered messages are taken over at once
    (``bot.store.liveness``)."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS workers (name TEXT PRIMARY KEY, host TEXT NOT NULL, "
        "pid INTEGER NOT NULL, started_at TEXT NOT NULL, beat_at REAL NOT NULL, "
        "stopped_at TEXT)"
    )
    if "received_by" not in db.table("messages").columns_dict:
        db.table("messages").add_column("received_by", str)


# Existing answers are linked to their ticket by the rule used before: an official's
# message answers the ticket on its question answered at the instant it was written
# (Escalations.answer stamped both alike), else the latest ticket on that question. Each
# message names one ticket, so no two tickets get the same answer; a ticket answered
# more than once (sent again) keeps the latest.
_LINK_ANSWERS = (
    "UPDATE escalations SET answer_message_id = (SELECT max(m.id) FROM messages m "
    "WHERE m.reply_to = escalations.message_id AND m.action = 'official' "
    "AND m.direction = 'out' AND escalations.id = coalesce((SELECT max(e.id) "
    "FROM escalations e WHERE e.message_id = m.reply_to AND e.answered_at = m.created_at), "
    "(SELECT max(e.id) FROM escalations e WHERE e.message_id = m.reply_to))) "
    "WHERE status = 'answered' AND answer_message_id IS NULL"
)


def _answer_message(db: Database) -> None:
    """An official's answer linked to its ticket by id (``escalations.answer_message_id``)
    instead of by time: two tickets on one question answered in the same millisecond
    each keep their own answer and delivery."""
    if "answer_message_id" not in db.table("escalations").columns_dict:
        db.table("escalations").add_column("answer_message_id", int)
    db.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_escalations_answer_message "
        "ON escalations (answer_message_id)"
    )
    db.execute(_LINK_ANSWERS)
    db.conn.commit()


def _fold_diacritics(db: Database) -> None:
    """Nothing to do on SQLite: FTS5's unicode61 tokenizer already removes diacritics
    (a search for "jose" finds "José"); the PostgreSQL step brings its search level."""


# PostgreSQL: the same schema. Ids are identity columns (never reused, and settable, so
# `tanya copy-store` keeps them); times stay ISO 8601 text (they compare as text, as on
# SQLite); references are DEFERRABLE so a copy can load rows in any order in one
# transaction.
_ID = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
_REF = "DEFERRABLE INITIALLY IMMEDIATE"

_PG_INITIAL = f"""
CREATE FUNCTION tanya_local_day(iso TEXT, zone TEXT) RETURNS TEXT
  LANGUAGE SQL STABLE STRICT PARALLEL SAFE
  AS $$ SELECT to_char(iso::timestamptz AT TIME ZONE zone, 'YYYY-MM-DD') $$;
CREATE FUNCTION instr(haystack TEXT, needle TEXT) RETURNS INTEGER
  LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT strpos(haystack, needle) $$;
CREATE TABLE citizens (
  id {_ID}, channel TEXT NOT NULL, platform_id TEXT NOT NULL, language TEXT,
  first_seen TEXT NOT NULL, last_seen TEXT NOT NULL
);
CREATE UNIQUE INDEX idx_citizens_channel_platform_id ON citizens (channel, platform_id);
CREATE TABLE messages (
  id {_ID}, citizen_id BIGINT NOT NULL REFERENCES citizens (id) {_REF},
  direction TEXT NOT NULL, channel_message_id TEXT, kind TEXT NOT NULL, text TEXT,
  created_at TEXT NOT NULL, status TEXT NOT NULL, action TEXT, reason TEXT,
  confidence DOUBLE PRECISION, faq_id TEXT, language TEXT,
  reply_to BIGINT REFERENCES messages (id) {_REF}
);
CREATE INDEX idx_messages_citizen_id_created_at ON messages (citizen_id, created_at);
CREATE INDEX idx_messages_direction_status ON messages (direction, status);
CREATE INDEX idx_messages_faq_id ON messages (faq_id);
CREATE UNIQUE INDEX idx_messages_channel_message ON messages (citizen_id, channel_message_id)
  WHERE channel_message_id IS NOT NULL;
CREATE TABLE feedback (
  id {_ID}, message_id BIGINT NOT NULL REFERENCES messages (id) {_REF},
  helpful INTEGER NOT NULL, created_at TEXT NOT NULL
);
CREATE INDEX idx_feedback_message_id ON feedback (message_id);
CREATE TABLE escalations (
  id {_ID}, citizen_id BIGINT NOT NULL REFERENCES citizens (id) {_REF},
  message_id BIGINT NOT NULL REFERENCES messages (id) {_REF},
  reason TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT
);
CREATE INDEX idx_escalations_status_created_at ON escalations (status, created_at);
CREATE INDEX idx_escalations_citizen_id ON escalations (citizen_id);
"""

_PG_OFFICIALS_DESK = f"""
CREATE TABLE officials (
  id {_ID}, name TEXT NOT NULL, role TEXT NOT NULL, password_hash TEXT NOT NULL,
  telegram_user_id BIGINT, language TEXT, created_at TEXT NOT NULL, disabled_at TEXT
);
CREATE UNIQUE INDEX idx_officials_name ON officials (lower(name));
CREATE TABLE desk_sessions (
  id TEXT PRIMARY KEY, official_id BIGINT NOT NULL REFERENCES officials (id) {_REF},
  csrf_token TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL
);
CREATE TABLE login_failures (id {_ID}, key TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX idx_login_failures_key_at ON login_failures (key, at);
CREATE TABLE audit_log (
  id {_ID}, at TEXT NOT NULL, official_id BIGINT, official TEXT, action TEXT NOT NULL,
  target TEXT, detail TEXT
);
CREATE INDEX idx_audit_log_at ON audit_log (at);
ALTER TABLE escalations
  ADD COLUMN question TEXT, ADD COLUMN topic TEXT, ADD COLUMN assigned_to BIGINT,
  ADD COLUMN answer TEXT, ADD COLUMN answered_by BIGINT, ADD COLUMN answered_at TEXT,
  ADD COLUMN closed_reason TEXT, ADD COLUMN delivery TEXT, ADD COLUMN delivery_detail TEXT,
  ADD COLUMN delivered_at TEXT, ADD COLUMN rating INTEGER, ADD COLUMN group_message_id BIGINT,
  ADD COLUMN faq_entry TEXT;
UPDATE escalations SET question = (SELECT text FROM messages m
  WHERE m.id = escalations.message_id) WHERE question IS NULL;
CREATE INDEX idx_escalations_group_message_id ON escalations (group_message_id);
-- The desk's search, PostgreSQL's own: the words of the question, kept by PostgreSQL
-- itself (blanking the question blanks them), with a GIN index. Punctuation splits words
-- as in SQLite's index (PostgreSQL's parser would keep "<b>", URLs and e-mails whole).
ALTER TABLE escalations ADD COLUMN question_words tsvector GENERATED ALWAYS AS
  (to_tsvector('simple', regexp_replace(coalesce(question, ''), '[[:punct:]]', ' ', 'g')))
  STORED;
CREATE INDEX idx_escalations_question_words ON escalations USING GIN (question_words);
"""

_PG_BROADCASTS = f"""
ALTER TABLE citizens ADD COLUMN blocked_at TEXT, ADD COLUMN campaign TEXT;
ALTER TABLE messages ADD COLUMN broadcast_id BIGINT;
CREATE TABLE subscriptions (
  citizen_id BIGINT REFERENCES citizens (id) {_REF}, topic TEXT, created_at TEXT NOT NULL,
  PRIMARY KEY (citizen_id, topic)
);
CREATE INDEX idx_subscriptions_topic ON subscriptions (topic);
CREATE TABLE subscription_offers (
  citizen_id BIGINT, topic TEXT, created_at TEXT, PRIMARY KEY (citizen_id, topic)
);
CREATE TABLE broadcasts (
  id {_ID}, kind TEXT NOT NULL, text TEXT NOT NULL, link TEXT, image_url TEXT, options TEXT,
  multiple INTEGER, topics TEXT NOT NULL, channels TEXT NOT NULL, status TEXT NOT NULL,
  send_at TEXT NOT NULL, created_by BIGINT, created_at TEXT NOT NULL, started_at TEXT,
  finished_at TEXT, closed_at TEXT
);
CREATE INDEX idx_broadcasts_status_send_at ON broadcasts (status, send_at);
CREATE TABLE deliveries (
  id {_ID}, broadcast_id BIGINT NOT NULL REFERENCES broadcasts (id) {_REF},
  citizen_id BIGINT NOT NULL REFERENCES citizens (id) {_REF}, status TEXT NOT NULL,
  detail TEXT, platform_ref TEXT, updated_at TEXT
);
CREATE UNIQUE INDEX idx_deliveries_broadcast_id_citizen_id
  ON deliveries (broadcast_id, citizen_id);
CREATE INDEX idx_deliveries_broadcast_id_status ON deliveries (broadcast_id, status);
CREATE INDEX idx_deliveries_platform_ref ON deliveries (platform_ref);
CREATE TABLE votes (
  broadcast_id BIGINT, citizen_id BIGINT, option INTEGER, created_at TEXT NOT NULL,
  PRIMARY KEY (broadcast_id, citizen_id, option)
);
CREATE TABLE survey_answers (
  broadcast_id BIGINT, citizen_id BIGINT, question INTEGER, answer TEXT NOT NULL,
  created_at TEXT NOT NULL, PRIMARY KEY (broadcast_id, citizen_id, question)
);
CREATE TABLE survey_progress (
  broadcast_id BIGINT, citizen_id BIGINT, next_question INTEGER NOT NULL,
  status TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (broadcast_id, citizen_id)
);
CREATE INDEX idx_survey_progress_citizen_id_status ON survey_progress (citizen_id, status);
CREATE TABLE campaigns (
  slug TEXT PRIMARY KEY, title TEXT, created_by BIGINT, created_at TEXT NOT NULL
);
"""

_PG_INSIGHT = """
ALTER TABLE messages ADD COLUMN rumour INTEGER;
CREATE INDEX idx_messages_in_created ON messages (created_at) WHERE direction = 'in';
"""

_PG_OUTBOX = f"""
CREATE TABLE outbox (
  id {_ID}, citizen_id BIGINT NOT NULL REFERENCES citizens (id) {_REF},
  message_id BIGINT REFERENCES messages (id) {_REF}, kind TEXT NOT NULL,
  replies TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  parts_sent INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL, give_up_at TEXT,
  last_error TEXT, then_erase INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL, sent_at TEXT
);
CREATE INDEX idx_outbox_queued ON outbox (citizen_id, id) WHERE state = 'queued';
CREATE INDEX idx_outbox_state ON outbox (state, updated_at);
CREATE INDEX idx_outbox_message ON outbox (message_id);
CREATE INDEX idx_messages_reply_to ON messages (reply_to);
ALTER TABLE messages ADD COLUMN attempts INTEGER, ADD COLUMN error TEXT;
ALTER TABLE deliveries ADD COLUMN attempts INTEGER, ADD COLUMN retry_at TEXT;
"""

_PG_ERASURE = """
CREATE TABLE erased_citizens (
  channel TEXT, platform_hash TEXT, erased_at TEXT NOT NULL,
  PRIMARY KEY (channel, platform_hash)
);
CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL, created_at TEXT NOT NULL);
"""

_PG_FORGET_TYPED_NAMES = """
UPDATE audit_log SET target = '' WHERE action = 'sign-in-failed' AND official_id IS NULL;
DELETE FROM login_failures WHERE key LIKE 'name:%';
"""

_PG_LANGUAGE_CHOICE = """
ALTER TABLE citizens ADD COLUMN language_chosen INTEGER NOT NULL DEFAULT 0;
"""

_PG_CITIZEN_FLOW = """
ALTER TABLE messages ADD COLUMN buttons TEXT, ADD COLUMN attachment TEXT;
DELETE FROM feedback WHERE id NOT IN (SELECT max(id) FROM feedback GROUP BY message_id);
CREATE UNIQUE INDEX idx_feedback_one_per_message ON feedback (message_id);
"""

_PG_OUTBOX_CLAIMS = """
ALTER TABLE outbox ADD COLUMN claimed_by TEXT, ADD COLUMN lease_until TEXT;
"""

_PG_BROADCAST_CLAIMS = """
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT, ADD COLUMN lease_until TEXT;
CREATE TABLE send_pace (channel TEXT PRIMARY KEY, next_at DOUBLE PRECISION NOT NULL);
"""

_PG_JOBS = """
CREATE TABLE jobs (name TEXT PRIMARY KEY, last_run TEXT, holder TEXT);
"""

_PG_LIVENESS = """
CREATE TABLE workers (
  name TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, started_at TEXT NOT NULL,
  beat_at DOUBLE PRECISION NOT NULL, stopped_at TEXT
);
ALTER TABLE messages ADD COLUMN received_by TEXT;
"""

_PG_ANSWER_MESSAGE = f"""
ALTER TABLE escalations ADD COLUMN answer_message_id BIGINT;
CREATE UNIQUE INDEX idx_escalations_answer_message ON escalations (answer_message_id);
{_LINK_ANSWERS};
"""

_PG_MODEL_VERSIONS = f"""
CREATE TABLE model_versions (
  id {_ID}, path TEXT NOT NULL, checksum TEXT NOT NULL, trained_at TEXT NOT NULL,
  recorded_at TEXT NOT NULL, recorded_by TEXT NOT NULL
);
"""


# The desk's search folds diacritics as SQLite's FTS5 does: the question's words and the
# search's go through tanya_fold, an IMMUTABLE wrapper (a generated column needs one) of
# the unaccent extension with its schema spelled out. Where the extension cannot be
# created (a managed server that does not allow it), tanya_fold leaves text as it is.
_PG_FOLD_DIACRITICS = """
CREATE FUNCTION tanya_fold(words TEXT) RETURNS TEXT
  LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT {body} $$;
ALTER TABLE escalations DROP COLUMN question_words;
ALTER TABLE escalations ADD COLUMN question_words tsvector GENERATED ALWAYS AS
  (to_tsvector('simple',
    regexp_replace(tanya_fold(coalesce(question, '')), '[[:punct:]]', ' ', 'g')))
  STORED;
CREATE INDEX idx_escalations_question_words ON escalations USING GIN (question_words);
"""


def _pg_fold_diacritics(engine: Engine) -> None:
    schema = _unaccent_schema(engine)
    body = "words"
    if schema is not None:
        body = f"{schema[0]}.unaccent({schema[1]}::regdictionary, words)"
    for statement in _statements(_PG_FOLD_DIACRITICS.format(body=body)):
        engine.execute(statement)


def _unaccent_schema(engine: Engine) -> tuple[str, str] | None:
    """Where the unaccent extension is, after creating it when it is not there yet: the
    schema as an identifier and its dictionary's name as a literal (spelled out, so that
    the function does not depend on the search path and may be IMMUTABLE). None, said
    once in the log, where it cannot be created."""
    import psycopg

    try:
        with engine.atomic():  # a savepoint: a refusal leaves the migration going
            engine.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    except psycopg.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning(
            "PostgreSQL's unaccent extension cannot be created (%s): the desk's search "
            'will not fold diacritics ("jose" will not find "José"). To have it, '
            "a superuser runs CREATE EXTENSION unaccent in this database before Tanya's "
            "first start.",
            reason,
        )
        return None
    row = engine.execute(
        "SELECT quote_ident(n.nspname), quote_literal(quote_ident(n.nspname) || '.unaccent') "
        "FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'unaccent'"
    ).fetchone()
    return (str(row[0]), str(row[1])) if row else None


@dataclass(frozen=True)
class Migration:
    """One schema change, for each engine: a function of the SQLite database, and the
    PostgreSQL statements (run in one transaction; empty: nothing to do there), or a
    function of the engine where the step must look before it acts (in that transaction
    too)."""

    name: str
    sqlite: Callable[[Database], None]
    postgresql: str | Callable[[Engine], None]


MIGRATIONS: list[Migration] = [
    Migration("initial", _initial, _PG_INITIAL),
    Migration("officials_desk", _officials_desk, _PG_OFFICIALS_DESK),
    Migration("broadcasts", _broadcasts, _PG_BROADCASTS),
    Migration("insight", _insight, _PG_INSIGHT),
    # PostgreSQL's identity columns never hand an id out twice.
    Migration("never_reuse_ids", _never_reuse_ids, ""),
    Migration("outbox", _outbox, _PG_OUTBOX),
    Migration("erasure", _erasure, _PG_ERASURE),
    Migration("forget_typed_names", _forget_typed_names, _PG_FORGET_TYPED_NAMES),
    Migration("citizen_flow", _citizen_flow, _PG_CITIZEN_FLOW),
    Migration("language_choice", _language_choice, _PG_LANGUAGE_CHOICE),
    Migration("outbox_claims", _outbox_claims, _PG_OUTBOX_CLAIMS),
    Migration("broadcast_claims", _broadcast_claims, _PG_BROADCAST_CLAIMS),
    Migration("jobs", _jobs, _PG_JOBS),
    Migration("model_versions", _model_versions, _PG_MODEL_VERSIONS),
    Migration("fold_diacritics", _fold_diacritics, _pg_fold_diacritics),
    Migration("liveness", _liveness, _PG_LIVENESS),
    Migration("answer_message", _answer_message, _PG_ANSWER_MESSAGE),
]

# Any number, the same in every worker: held while one of them migrates.
_MIGRATION_LOCK = 0x74616E7961  # "tanya"


def _engine(db: Engine | Database) -> Engine:
    return SqliteEngine(db) if isinstance(db, Database) else db


def schema_version(db: Engine | Database) -> int:
    engine = _engine(db)
    if engine.dialect is Dialect.SQLITE:
        return int(engine.execute("PRAGMA user_version").fetchone()[0])
    row = engine.execute(
        "SELECT CASE WHEN to_regclass('tanya_schema') IS NULL THEN 0 "
        "ELSE (SELECT max(version) FROM tanya_schema) END"
    ).fetchone()
    return int(row[0] or 0)


def migrate(db: Engine | Database) -> int:
    """Apply the migrations this database has not had yet; return the new version."""
    engine = _engine(db)
    if engine.dialect is Dialect.POSTGRESQL:
        return _migrate_postgresql(engine)
    assert isinstance(engine, SqliteEngine)
    version = _check(schema_version(engine))
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        migration.sqlite(engine.db)
        engine.execute(f"PRAGMA user_version = {number}")
    return schema_version(engine)


def _check(version: int) -> int:
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"the database has schema version {version}, newer than this Tanya "
            f"({len(MIGRATIONS)}): upgrade Tanya or use another database"
        )
    return version


def _migrate_postgresql(engine: Engine) -> int:
    with engine.atomic():
        engine.execute("SELECT pg_advisory_xact_lock(?)", [_MIGRATION_LOCK])
        engine.execute(
            "CREATE TABLE IF NOT EXISTS tanya_schema (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        version = _check(schema_version(engine))
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            with engine.atomic():
                if callable(migration.postgresql):
                    migration.postgresql(engine)
                else:
                    for statement in _statements(migration.postgresql):
                        engine.execute(statement)
                engine.execute(
                    "INSERT INTO tanya_schema (version, name, applied_at) "
                    "VALUES (?, ?, to_char(now() AT TIME ZONE 'UTC', "
                    '\'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"\'))',
                    [number, migration.name],
                )
    return schema_version(engine)


def _statements(script: str) -> list[str]:
    """A migration's statements, one by one (function bodies in ``$$`` kept whole)."""
    statements: list[str] = []
    current: list[str] = []
    quoted = False
    for line in script.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current.append(line)
        quoted ^= line.count("$$") % 2 == 1
        if line.rstrip().endswith(";") and not quoted:
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        statements.append("\n".join(current))
    return statements
