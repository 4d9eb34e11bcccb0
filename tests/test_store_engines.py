"""The store on both engines: what differs between SQLite and PostgreSQL behind the one
API (search, ids, settings), `tanya migrate`, and `tanya copy-store`, which moves a
city's SQLite history into PostgreSQL without losing a row or an id."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import psycopg
import pytest

from bot.config import ConfigError, load_settings
from bot.store import MIGRATIONS, Store, schema_version
from bot.store.broadcasts import BroadcastKind
from bot.store.engine import Dialect, StoreUnavailable, to_psycopg
from bot.store.escalations import InboxFilter, TicketStatus
from bot.store.outbox import OutboxKind, OutboxState
from tests.conftest import ROOT, run_tanya, write_config
from tests.desk_helpers import add_official
from tests.postgres import PostgresServer


def fill(store: Store) -> dict[str, int]:
    """A little of everything a city's store holds, including an erased citizen (whose
    ids SQLite never hands out again)."""
    ayu = add_official(store, "Ayu", "admin")
    gone = store.citizen("telegram", "100", "id")
    said = store.save_incoming(gone.id, "1", "text", "rahasia orang yang pergi")
    store.open_escalation(gone.id, said.id, "low_confidence")
    store.erase_citizen(gone.id)
    citizen = store.citizen("telegram", "200", "id")
    asked = store.save_incoming(citizen.id, "2", "text", "Kapan posyandu buka 100%?")
    ticket, _ = store.open_escalation(citizen.id, asked.id, "low_confidence", "kesehatan")
    store.escalations.answer(ticket, ayu.id, "Senin pagi.", '[{"text": "Senin pagi."}]')
    other = store.save_incoming(citizen.id, "3", "text", "jalan berlubang di RT 05")
    open_ticket, _ = store.open_escalation(citizen.id, other.id, "asked_human")
    store.save_feedback(asked.id, helpful=True)
    store.subscriptions.subscribe(citizen.id, "vaksin")
    poll = store.broadcasts.create(
        kind=BroadcastKind.POLL,
        text="Jam buka?",
        topics=["vaksin"],
        channels=["telegram"],
        send_at="2026-01-01T00:00:00.000+00:00",
        created_by=ayu.id,
        options=["pagi", "sore"],
    )
    store.broadcasts.start(poll)
    [recipient] = store.broadcasts.pending(poll, "telegram", 10)
    store.broadcasts.mark(recipient.delivery_id, "sent")
    assert store.broadcasts.vote(poll, citizen.id, [1])
    store.campaigns.create("poster", "Poster vaksin", ayu.id)
    store.secret("webchat")
    store.officials.audit(ayu, "assign", f"ticket #{open_ticket}", "Ayu")
    return {"citizen": citizen.id, "ticket": ticket, "open": open_ticket, "poll": poll}


def test_search_ids_and_states_alike_on_both_engines(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        made = fill(store)
        assert schema_version(store.engine) == len(MIGRATIONS)
        # Full-text search: FTS5 on SQLite, tsvector on PostgreSQL; the last word is a prefix.
        [found] = store.escalations.find(InboxFilter(TicketStatus.OPEN, search="jalan berlub"))
        assert found.id == made["open"]
        assert store.escalations.find(InboxFilter(TicketStatus.OPEN, search="rahasia")) == []
        assert store.escalations.find(InboxFilter(TicketStatus.OPEN, search="' & ! :*")) == []
        # An id of the erased citizen is never handed out again, on either engine.
        newcomer = store.citizen("webchat", "s-1")
        assert newcomer.id == made["citizen"] + 1
        item = store.outbox.for_official_answer(made["ticket"])
        assert item is not None and item.kind is OutboxKind.OFFICIAL
        assert item.state is OutboxState.QUEUED and item.ticket == made["ticket"]
        assert store.broadcasts.results(made["poll"]) == ([0, 1], 1)
        assert store.officials.by_name("AYU") is not None  # names compare without case
        [campaign] = store.campaigns.figures()
        assert (campaign.slug, campaign.citizens) == ("poster", 0)
        assert store.campaigns.create("poster", "again", None) is False
        assert store.channels() == {"telegram", "webchat"}
    finally:
        store.close()


def test_one_statement_commits_on_its_own_or_joins_the_open_block(store_url: str) -> None:
    """``execute_atomic``: a statement committed by itself (on PostgreSQL without BEGIN
    and COMMIT round trips), its RETURNING rows read whole; inside ``atomic`` it is part of
    that block and rolled back with it."""
    store = Store.open(store_url)
    engine = store.engine
    insert = (
        "INSERT INTO citizens (channel, platform_id, first_seen, last_seen) "
        "VALUES ('webchat', ?, 'x', 'x') RETURNING id"
    )
    try:
        [(first,)] = engine.execute_atomic(insert, ["one"]).fetchall()
        with pytest.raises(RuntimeError), engine.atomic():
            engine.execute_atomic(insert, ["two"])
            raise RuntimeError("the block fails")
        assert engine.execute_atomic("UPDATE citizens SET language = 'id'", []).rowcount == 1
    finally:
        store.close()
    store = Store.open(store_url)  # what another connection sees: committed, once
    try:
        found = store.find_citizen("webchat", "one")
        assert found is not None and (found.id, found.language) == (first, "id")
        assert store.find_citizen("webchat", "two") is None
    finally:
        store.close()


def test_the_bots_held_connection_cut_by_the_server_is_replaced(
    postgres_server: PostgresServer,
) -> None:
    """The event loop's single statements share one connection and its cursors; when the
    server ends that connection (a restart, an administrator), the statement on it fails
    and the next ones run on a new connection."""
    store = Store.open(postgres_server.fresh_database())
    try:
        engine = store.engine
        citizen = store.citizen("webchat", "one")
        [(pid,)] = engine.execute("SELECT pg_backend_pid()").fetchall()
        with psycopg.connect(store.engine.url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        with pytest.raises(psycopg.OperationalError):
            engine.execute("SELECT 1")
        [(new_pid,)] = engine.execute("SELECT pg_backend_pid()").fetchall()
        assert new_pid != pid
        found = store.find_citizen("webchat", "one")  # a query of dict rows, too
        assert found is not None and found.id == citizen.id
        assert [r["platform_id"] for r in engine.query("SELECT platform_id FROM citizens")] == [
            "one"
        ]
    finally:
        store.close()


def test_placeholders_become_psycopgs_and_literals_stay() -> None:
    sql = "SELECT '?' || x FROM t WHERE a = ? AND b LIKE '%:%' AND c = 'it''s ?'"
    assert to_psycopg(sql) == (
        "SELECT '?' || x FROM t WHERE a = %s AND b LIKE '%%:%%' AND c = 'it''s ?'"
    )


def _config(tmp_path: Path, url: str) -> Path:
    config = write_config(tmp_path, ROOT / "faq", ROOT / "rasa_project", tmp_path / "m.tar.gz")
    text = config.read_text(encoding="utf-8")
    assert "  url: data/tanya.db\n" in text
    config.write_text(text.replace("  url: data/tanya.db\n", f"  url: {url}\n"), "utf-8")
    return config


@pytest.mark.sqlite_only
def test_copy_store_moves_everything_with_its_ids(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    source = tmp_path / "city.db"
    store = Store.open(source)
    made = fill(store)
    before = {t: store.engine.query(f'SELECT * FROM "{t}"') for t in _tables(store)}
    store.close()
    target = postgres_server.fresh_database(migrated=False)

    done = run_tanya("copy-store", str(source), target, cwd=tmp_path)

    assert done.returncode == 0, done.stderr.decode()
    output = done.stdout.decode()
    assert "counts and checksums match" in output
    assert "password" not in output
    copied = Store.open(target)
    try:
        assert copied.dialect is Dialect.POSTGRESQL
        after = {t: copied.engine.query(f'SELECT * FROM "{t}"') for t in _tables(copied)}
        for table, rows in before.items():
            key = sorted(rows[0]) if rows else []
            theirs = [{k: r[k] for k in key} for r in after[table]]
            assert _sorted(theirs) == _sorted(rows), table
        # The desk works on the copy: search, the ticket's answer and its delivery.
        [found] = copied.escalations.find(InboxFilter(TicketStatus.OPEN, search="berlubang"))
        assert found.id == made["open"]
        answered = copied.escalations.get(made["ticket"])
        assert answered is not None and answered.answer == "Senin pagi."
        # New rows continue after the highest id SQLite ever gave, the erased one's too.
        citizen = copied.citizen("telegram", "300")
        asked = copied.save_incoming(citizen.id, "9", "text", "halo")
        ticket, _ = copied.open_escalation(citizen.id, asked.id, "low_confidence")
        assert citizen.id == made["citizen"] + 1
        assert ticket == made["open"] + 1
        assert json.loads(copied.outbox.for_official_answer(made["ticket"]).replies)  # type: ignore[union-attr]
    finally:
        copied.close()

    again = run_tanya("copy-store", str(source), target, cwd=tmp_path)
    assert again.returncode != 0
    assert "nothing was copied" in again.stderr.decode()
    assert "already holds" in again.stderr.decode()


def _tables(store: Store) -> list[str]:
    return [t for t in store.engine.tables() if not t.startswith(("escalations_fts", "tanya_"))]


def _sorted(rows: list[dict[str, object]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


def test_tanya_migrate_on_postgresql(tmp_path: Path, postgres_server: PostgresServer) -> None:
    url = postgres_server.fresh_database(migrated=False)
    config = _config(tmp_path, url)

    done = run_tanya("--config", str(config), "migrate", cwd=tmp_path)

    assert done.returncode == 0, done.stderr.decode()
    assert f"schema version {len(MIGRATIONS)} of {len(MIGRATIONS)}" in done.stdout.decode()
    store = Store.open(url)
    try:
        assert {"citizens", "messages", "escalations", "outbox"} <= set(store.engine.tables())
    finally:
        store.close()
    again = run_tanya("--config", str(config), "migrate", cwd=tmp_path)
    assert again.returncode == 0, again.stderr.decode()


def test_a_server_without_unaccent_starts_and_searches_without_folding(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A managed server where Tanya's role may not create the unaccent extension (no
    CREATE on the database): the store still migrates and searches, only "jose" no longer
    finds "José", and the log says why, once."""
    url = postgres_server.fresh_database(migrated=False)
    database = url.rsplit("/", 1)[1]
    role = f"plain_{database}"
    postgres_server.admin(f"CREATE ROLE {role} LOGIN")
    postgres_server.admin(f"REVOKE CREATE ON DATABASE {database} FROM PUBLIC")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER SCHEMA public OWNER TO {role}")  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="bot.store.migrations"):
        store = Store.open(url.replace("//tanya@", f"//{role}@"))
    try:
        [warning] = [r.getMessage() for r in caplog.records if "unaccent" in r.getMessage()]
        assert "permission denied" in warning and "will not fold diacritics" in warning
        assert schema_version(store.engine) == len(MIGRATIONS)
        citizen = store.citizen("telegram", "1", "id")
        said = store.save_incoming(citizen.id, "1", "text", "Pak José belum terima bantuan")
        ticket, _ = store.open_escalation(citizen.id, said.id, "low_confidence")
        [found] = store.escalations.find(InboxFilter(TicketStatus.OPEN, search="josé bantuan"))
        assert found.id == ticket
        assert store.escalations.find(InboxFilter(TicketStatus.OPEN, search="jose")) == []
    finally:
        store.close()


@pytest.mark.sqlite_only
def test_storage_url_settings(tmp_path: Path) -> None:
    config = _config(tmp_path, "elsewhere/city.db")
    assert load_settings(config).storage.location == tmp_path / "elsewhere" / "city.db"
    text = config.read_text(encoding="utf-8")
    # The setting's older name, from config files written before it, is still read.
    config.write_text(text.replace("url: elsewhere", "database: elsewhere"), "utf-8")
    assert load_settings(config).storage.database == tmp_path / "elsewhere" / "city.db"
    config.write_text(text.replace("  url:", "  database: old.db\n  url:"), "utf-8")
    with pytest.raises(ConfigError, match="not both"):
        load_settings(config)
    secret = "postgresql://tanya:secret@db.example/tanya"
    config.write_text(text.replace("elsewhere/city.db", secret), "utf-8")
    with pytest.raises(ConfigError, match="PGPASSWORD"):
        load_settings(config)
    config.write_text(text.replace("elsewhere/city.db", "postgresql://tanya@db/tanya"), "utf-8")
    storage = load_settings(config).storage
    assert (storage.location, storage.database) == ("postgresql://tanya@db/tanya", None)


def test_unreachable_postgresql_is_a_clear_message(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    config = _config(tmp_path, "postgresql://tanya@127.0.0.1:9/tanya")
    done = run_tanya("--config", str(config), "migrate", cwd=tmp_path, timeout=120)
    assert done.returncode != 0
    said = done.stderr.decode()
    assert "cannot connect to PostgreSQL at postgresql://127.0.0.1:9/tanya" in said
    assert "Connection refused" in said and "Traceback" not in said
    with pytest.raises(StoreUnavailable, match='database "nowhere" does not exist'):
        Store.open(postgres_server.url("nowhere"))


@pytest.mark.sqlite_only
def test_copy_store_refuses_what_postgresql_cannot_hold_and_copies_nothing(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    source = tmp_path / "city.db"
    store = Store.open(source)
    fill(store)
    # SQLite keeps text in an INTEGER column; PostgreSQL refuses it.
    store.db.execute("UPDATE feedback SET helpful = 'ya'")
    store.close()
    target = postgres_server.fresh_database(migrated=False)

    done = run_tanya("copy-store", str(source), target, cwd=tmp_path)

    assert done.returncode != 0
    assert "nothing was copied: feedback:" in done.stderr.decode()
    copied = Store.open(target)
    try:
        assert [
            t for t in _tables(copied) if copied.db.execute(f'SELECT 1 FROM "{t}"').fetchone()
        ] == []
    finally:
        copied.close()
