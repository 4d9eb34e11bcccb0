"""The conversation store on a real SQLite file and a real PostgreSQL database: schema,
de-duplication, recovery."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import psycopg
import pytest
from sqlite_utils import Database

import bot.store.escalations as escalations_module
from bot.core.decision import Action, Decision, EscalationReason
from bot.store import MIGRATIONS, Store, migrate, schema_version
from bot.store.engine import Dialect
from bot.store.escalations import InboxFilter
from bot.store.outbox import OutboxState
from bot.store.store import Saved


@pytest.mark.sqlite_only
def test_new_database_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "data" / "tanya.db")
    assert schema_version(store.db) == len(MIGRATIONS)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"citizens", "messages", "feedback", "escalations"} <= set(store.engine.tables())
    indexes = {i.name for i in store.engine.db.table("messages").indexes}
    assert "idx_messages_channel_message" in indexes


def test_migration_cut_short_is_completed(tmp_path: Path) -> None:
    path = tmp_path / "tanya.db"
    db = Database(path)
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
    )
    migrate(db)  # the first migration ran half-way before; it runs again, whole
    assert schema_version(db) == len(MIGRATIONS)
    assert "escalations" in db.table_names()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    db = Database(tmp_path / "tanya.db")
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer than this Tanya"):
        migrate(db)


def test_citizen_is_created_once_and_seen_again(store_url: str) -> None:
    store = Store.open(store_url)
    first = store.citizen("telegram", "42", language="id")
    again = store.citizen("telegram", "42")
    other = store.citizen("messenger", "42")
    assert first.id == again.id != other.id
    assert again.language == "id"
    store.set_language(first.id, "en")
    assert store.citizen("telegram", "42").language == "en"


def test_citizen_seen_again_comes_with_the_survey_they_are_answering(store_url: str) -> None:
    """What ``SurveyFlow.typed`` reads instead of asking again for each message."""
    store = Store.open(store_url)
    citizen = store.citizen("telegram", "42")
    assert citizen.survey == (None, None)
    store.surveys.start(7, citizen.id)
    store.surveys.start(8, citizen.id)
    time.sleep(0.002)  # times are stored to the millisecond
    store.surveys.answer(7, citizen.id, 0, "KTP", 3)  # 7 moved on last
    seen = store.seen_again("telegram", "42")
    assert seen is not None and seen.survey is not None
    assert seen.survey.broadcast_id == 7 == store.surveys.unfinished(citizen.id)
    assert seen.survey.moved_at is not None
    assert store.surveys.unfinished(citizen.id, since=seen.survey.moved_at) == 7
    for survey in (7, 8):
        store.surveys.answer(survey, citizen.id, 2, "selesai", 3)
    assert store.citizen("telegram", "42").survey == (None, None)
    assert store.seen_again("telegram", "99") is None


def test_message_from_someone_known_is_stored_as_they_are_marked_seen(store_url: str) -> None:
    store = Store.open(store_url)
    assert store.save_incoming_if_known("messenger", "p9", "mid.1", "text", "halo") is None
    assert store.find_citizen("messenger", "p9") is None  # nothing written for a stranger
    citizen = store.citizen("messenger", "p9", language="id")
    store.surveys.start(3, citizen.id)
    known = store.save_incoming_if_known("messenger", "p9", "mid.1", "text", "halo", rumour=1)
    assert known is not None
    seen, saved = known
    assert (seen.id, seen.language, seen.survey.broadcast_id if seen.survey else None) == (
        citizen.id,
        "id",
        3,
    )
    assert saved.is_new and not saved.officials_waiting
    [stored] = store.messages(citizen.id)
    assert (stored.id, stored.text, stored.rumour) == (saved.id, "halo", 1)
    again = store.save_incoming_if_known("messenger", "p9", "mid.1", "text", "halo")
    assert again is not None and again[1] == Saved(saved.id, False, "received")
    assert len(store.messages(citizen.id)) == 1


def test_redelivered_message_is_not_stored_twice(store_url: str) -> None:
    store = Store.open(store_url)
    citizen = store.citizen("messenger", "p1")
    first = store.save_incoming(citizen.id, "mid.1", "text", "ktp hilang")
    again = store.save_incoming(citizen.id, "mid.1", "text", "ktp hilang")
    assert (first.is_new, again.is_new, again.id) == (True, False, first.id)
    assert len(store.messages(citizen.id)) == 1


def test_unanswered_survives_reopening_and_the_queued_reply_survives_too(store_url: str) -> None:
    path = store_url
    store = Store.open(path)
    citizen = store.citizen("telegram", "7")
    saved = store.save_incoming(citizen.id, "1", "text", "kapan vaksin?")
    store.close()  # the process dies before answering

    store = Store.open(path)
    [pending] = store.unanswered()
    assert (pending.id, pending.text, pending.citizen.platform_id) == (
        saved.id,
        "kapan vaksin?",
        "7",
    )
    decision = Decision(
        text="kapan vaksin?",
        action=Action.ESCALATE,
        language="id",
        reply="...",
        reason=EscalationReason.LOW_CONFIDENCE,
        confidence=0.1,
    )
    ticket, opened = store.open_escalation(citizen.id, saved.id, "low_confidence")
    assert opened
    item = store.queue_reply(
        saved.id, citizen.id, "...", decision, '[{"text": "...", "buttons": []}]'
    )
    assert store.unanswered() == []  # decided: the outbox owns the reply now
    store.close()  # ... and the process dies before the platform confirmed it

    store = Store.open(path)
    assert store.outbox.waiting_citizens(["telegram"]) == [citizen.id]
    queued = store.outbox.next_for(citizen.id)
    assert queued is not None and (queued.id, queued.platform_id) == (item, "7")
    incoming, outgoing = store.messages(citizen.id)
    assert outgoing.status == "pending"  # not "sent" before Telegram confirmed it
    assert store.open_escalation(citizen.id, saved.id, "low_confidence") == (ticket, False)
    assert store.outbox.finish(item, OutboxState.SENT, "", 1)
    assert not store.outbox.finish(item, OutboxState.SENT, "", 1)  # once only
    assert store.outbox.waiting_citizens(["telegram"]) == []
    incoming, outgoing = store.messages(citizen.id)
    assert (incoming.status, incoming.action, incoming.reason) == (
        "answered",
        "escalate",
        "low_confidence",
    )
    assert (outgoing.direction, outgoing.reply_to, outgoing.status) == (
        "out",
        saved.id,
        "sent",
    )


def test_ids_are_never_handed_out_twice(store_url: str) -> None:
    """After /hapusdata the next citizen must not get the erased citizen's ticket number
    (the audit log's "ticket #N" would then name someone else)."""
    store = Store.open(store_url)
    first = store.citizen("webchat", "session-one")
    saved = store.save_incoming(first.id, None, "text", "jalan rusak")
    ticket, _ = store.open_escalation(first.id, saved.id, "low_confidence")
    store.erase_citizen(first.id)
    second = store.citizen("webchat", "session-two")
    again = store.save_incoming(second.id, None, "text", "lampu mati")
    next_ticket, _ = store.open_escalation(second.id, again.id, "low_confidence")
    assert (second.id, again.id, next_ticket) == (first.id + 1, saved.id + 1, ticket + 1)


@pytest.mark.sqlite_only
def test_ids_survive_the_upgrade_to_never_reused_ids(tmp_path: Path) -> None:
    """A database from before the change keeps its rows, ids and search index."""
    from sqlite_utils import Database

    db = Database(tmp_path / "old.db")
    for migration in MIGRATIONS[:4]:
        migration.sqlite(db)
    db.execute("PRAGMA user_version = 4")
    db.execute(
        "INSERT INTO citizens (id, channel, platform_id, first_seen, last_seen) "
        "VALUES (5, 'telegram', '9', 'x', 'x')"
    )
    db.execute(
        "INSERT INTO messages (id, citizen_id, direction, kind, text, created_at, status) "
        "VALUES (40, 5, 'in', 'text', 'sampah belum diangkut', 'x', 'received')"
    )
    db.execute(
        "INSERT INTO escalations (id, citizen_id, message_id, reason, status, created_at, "
        "question) VALUES (12, 5, 40, 'low_confidence', 'open', 'x', 'sampah belum diangkut')"
    )
    db.conn.commit()
    db.close()
    store = Store.open(tmp_path / "old.db")
    assert schema_version(store.db) == len(MIGRATIONS)
    [row] = store.escalations.find(InboxFilter(search="sampah"))
    assert (row.id, row.citizen_id, row.message_id) == (12, 5, 40)
    store.db.execute("DELETE FROM escalations WHERE id = 12")
    citizen = store.citizen("telegram", "10")
    saved = store.save_incoming(citizen.id, None, "text", "banjir")
    ticket, _ = store.open_escalation(citizen.id, saved.id, "low_confidence")
    assert (citizen.id, saved.id, ticket) == (6, 41, 13)


def test_foreign_keys_are_enforced(store_url: str) -> None:
    store = Store.open(store_url)
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        store.save_feedback(message_id=999, helpful=True)


def test_a_store_operation_that_fails_half_way_leaves_nothing_behind(store_url: str) -> None:
    """Each operation is one transaction: if its last statement fails (here a trigger
    refuses the reply), the statements before it are rolled back, so the citizen's
    message is not left looking decided while its reply was never stored."""
    store = Store.open(store_url)
    citizen = store.citizen("telegram", "42", "id")
    saved = store.save_incoming(citizen.id, "m1", "text", "kapan posyandu buka?")
    if store.dialect is Dialect.SQLITE:
        store.db.execute(
            "CREATE TRIGGER refuse_replies BEFORE INSERT ON messages WHEN NEW.direction = 'out' "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    else:
        store.db.execute(
            "CREATE FUNCTION refuse_replies() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.direction = 'out' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; "
            "END $$"
        )
        store.db.execute(
            "CREATE TRIGGER refuse_replies BEFORE INSERT ON messages FOR EACH ROW "
            "EXECUTE FUNCTION refuse_replies()"
        )
    decision = Decision(
        text="kapan posyandu buka?",
        action=Action.ANSWER,
        language="id",
        reply="Posyandu buka Senin.",
        confidence=0.9,
        faq_id="posyandu",
    )
    with pytest.raises((sqlite3.IntegrityError, psycopg.Error), match="disk full"):
        store.save_reply(saved.id, citizen.id, "Posyandu buka Senin.", decision)
    row = store.db.execute("SELECT action, faq_id FROM messages WHERE id = ?", [saved.id])
    assert row.fetchone() == (None, None)
    store.close()


@pytest.mark.sqlite_only
def test_names_typed_at_failed_sign_ins_are_forgotten_on_upgrade(tmp_path: Path) -> None:
    """Before, a password typed into the name field stayed in the audit log."""
    from sqlite_utils import Database

    db = Database(tmp_path / "old.db")
    for migration in MIGRATIONS[:4]:
        migration.sqlite(db)
    db.execute("PRAGMA user_version = 4")
    db.execute(
        "INSERT INTO audit_log (at, official_id, action, target, detail) "
        "VALUES ('x', NULL, 'sign-in-failed', 'Rahasia#2026', '10.0.0.7')"
    )
    db.execute("INSERT INTO login_failures (key, at) VALUES ('name:rahasia#2026', 'x')")
    db.conn.commit()
    db.close()
    store = Store.open(tmp_path / "old.db")
    [(target, detail)] = store.db.execute("SELECT target, detail FROM audit_log").fetchall()
    assert (target, detail) == ("", "10.0.0.7")
    assert store.db.execute("SELECT count(*) FROM login_failures").fetchone() == (0,)


def test_two_answers_to_one_question_at_the_same_instant_keep_their_own_tickets(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two officials (on two workers) answer two tickets on one question in the same
    millisecond: each answer still names its own ticket, and each ticket's delivery is
    its own answer's (an answer was found by its ticket's answer time, which both share)."""
    store = Store.open(store_url)
    citizen = store.citizen("telegram", "8", "id")
    asked = store.save_incoming(citizen.id, "1", "text", "kapan bantuan sosial cair")
    first, _ = store.open_escalation(citizen.id, asked.id, "low_confidence")
    store.escalations.answer(first, 0, "Bulan depan.", '[{"text": "Bulan depan."}]')
    second, _ = store.open_escalation(citizen.id, asked.id, "asked_human")
    instant = "2030-01-01T00:00:00.000+00:00"
    monkeypatch.setattr(escalations_module, "now_iso", lambda: instant)
    with store.db.atomic():  # the first was answered at that instant too
        store.db.execute("UPDATE escalations SET answered_at = ? WHERE id = ?", [instant, first])
        store.db.execute("UPDATE messages SET created_at = ? WHERE action = 'official'", [instant])
    store.escalations.answer(second, 0, "Tanggal 5.", '[{"text": "Tanggal 5."}]')
    items = {}
    for ticket in (first, second):
        item = store.outbox.for_official_answer(ticket)
        assert item is not None and item.ticket == ticket
        items[ticket] = item
    assert items[first].id != items[second].id
    store.outbox.finish(items[first].id, OutboxState.FAILED, "blocked by the user", 0)
    assert store.escalations.get(first).delivery == "failed"  # type: ignore[union-attr]
    assert store.escalations.get(second).delivery == "pending"  # type: ignore[union-attr]


def test_answers_written_before_the_link_are_linked_to_their_tickets(store_url: str) -> None:
    """A database from before ``answer_message_id``: each ticket's answer is found by the
    rule used then (the answer written when the ticket was answered), one per ticket."""
    store = Store.open(store_url)
    citizen = store.citizen("telegram", "9", "id")
    asked = store.save_incoming(citizen.id, "1", "text", "kapan bantuan sosial cair")
    tickets = []
    for n in range(2):
        ticket, _ = store.open_escalation(citizen.id, asked.id, "asked_human")
        store.escalations.answer(ticket, 0, f"jawaban {n}", "[]")
        tickets.append(ticket)
        time.sleep(0.002)
    answers = [
        r[0]
        for r in store.db.execute("SELECT id FROM messages WHERE action = 'official' ORDER BY id")
    ]
    version = len(MIGRATIONS) - 1  # as it was before the link
    with store.db.atomic():
        store.db.execute("DROP INDEX idx_escalations_answer_message")
        if store.dialect is Dialect.POSTGRESQL:
            store.db.execute("ALTER TABLE escalations DROP COLUMN answer_message_id")
            store.db.execute("DELETE FROM tanya_schema WHERE version > ?", [version])
        else:
            store.db.execute("UPDATE escalations SET answer_message_id = NULL")
    if store.dialect is Dialect.SQLITE:
        store.db.execute(f"PRAGMA user_version = {version}")
    store.close()
    store = Store.open(store_url)
    linked = store.db.execute(
        "SELECT id, answer_message_id FROM escalations ORDER BY id"
    ).fetchall()
    assert linked == list(zip(tickets, answers, strict=True))
    for ticket in tickets:
        item = store.outbox.for_official_answer(ticket)
        assert item is not None and item.ticket == ticket


def test_one_tickets_delivery_leaves_the_other_answers_to_the_question_alone(
    store_url: str,
) -> None:
    """The first answer to a question did not get through; a second ticket's answer was
    shown: the first answer is still recorded as not delivered."""
    store = Store.open(store_url)
    citizen = store.citizen("webchat", "s9", "id")
    asked = store.save_incoming(citizen.id, "1", "text", "kapan bantuan sosial cair")
    first, _ = store.open_escalation(citizen.id, asked.id, "low_confidence")
    first_item = store.escalations.answer(first, 0, "Bulan depan.", '[{"text": "Bulan depan."}]')
    store.outbox.finish(first_item, OutboxState.FAILED, "refused", 0)
    time.sleep(0.002)
    second, _ = store.open_escalation(citizen.id, asked.id, "asked_human")
    store.escalations.answer(second, 0, "Tanggal 5.", '[{"text": "Tanggal 5."}]')
    store.escalations.set_delivery(second, "sent")
    statuses = dict(
        store.db.execute(
            "SELECT text, status FROM messages WHERE action = 'official' ORDER BY id"
        ).fetchall()
    )
    assert statuses == {"Bulan depan.": "failed", "Tanggal 5.": "sent"}


def test_a_second_ticket_on_the_same_question_gets_its_own_answer(store_url: str) -> None:
    """A citizen asks for an official again about a question whose first ticket was
    answered (/petugas after the answer): the second answer's outbox item names the second
    ticket (PostgreSQL refused the query when one question had two tickets; SQLite named
    the first)."""
    store = Store.open(store_url)
    citizen = store.citizen("telegram", "7", "id")
    asked = store.save_incoming(citizen.id, "1", "text", "kapan bantuan sosial cair")
    first, _ = store.open_escalation(citizen.id, asked.id, "low_confidence")
    store.escalations.answer(first, 0, "Bulan depan.", '[{"text": "Bulan depan."}]')
    time.sleep(0.002)  # the citizen asks again in between: never the same millisecond
    second, opened = store.open_escalation(citizen.id, asked.id, "asked_human")
    assert opened and second != first
    store.escalations.answer(second, 0, "Tanggal 5.", '[{"text": "Tanggal 5."}]')
    for ticket in (first, second):
        item = store.outbox.for_official_answer(ticket)
        assert item is not None and item.ticket == ticket
    store.close()
