"""Retention and /hapusdata on a real SQLite file: a purge removes citizens' words from
before the cut-off (everywhere, also the search index and the file's free space) and
keeps every figure; an erased citizen leaves nothing; `tanya purge` and the daily run."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from bot.config import ConfigError, RetentionSettings, Settings, load_settings
from bot.core.decision import Action, Decision, EscalationReason
from bot.core.surveys import parse_questions, questions_json
from bot.server import create_app
from bot.service import Loaded
from bot.store import Store
from bot.store.engine import Dialect
from bot.store.escalations import InboxFilter
from bot.store.retention import Purged, cutoff
from bot.store.stats import Period
from tests.conftest import ROOT, run_tanya, write_config
from tests.desk_helpers import add_official, browser, running, sign_in

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=400)  # past the 365 days of config.yml
RECENT = NOW - timedelta(days=3)
NIK = "3201234567890001"
# Words only the old, finished conversation holds: all of them must go.
OLD_WORDS = ("kucingrahasia", "zebrarahasia", "lumbarahasia", "kancilrahasia", NIK)
# Old words still needed (an open ticket, a message not answered yet) and new words.
KEPT_WORDS = ("gajahrahasia", "rusarahasia", "harimaubaru", "saranbaru")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _decision(text: str, action: Action, **fields: Any) -> Decision:
    return Decision(text=text, action=action, language="id", reply="...", **fields)


@dataclass(frozen=True)
class Traffic:
    old_citizen: int
    new_citizen: int
    answered_ticket: int
    closed_ticket: int
    open_ticket: int
    new_ticket: int
    survey: int


def _ask(store: Store, citizen: int, text: str, decision: Decision) -> int:
    saved = store.save_incoming(citizen, None, "text", text)
    store.save_reply(saved.id, citizen, f"balasan untuk {text}", decision)
    return saved.id


def _ticket(store: Store, citizen: int, text: str) -> int:
    decision = _decision(text, Action.ESCALATE, reason=EscalationReason.LOW_CONFIDENCE)
    message = _ask(store, citizen, text, decision)
    return store.open_escalation(citizen, message, "low_confidence", "kependudukan")[0]


def build_traffic(store: Store) -> Traffic:
    """An old, finished conversation (400 days ago) and a recent one, with every kind of
    row: answers, feedback, answered/closed/open tickets, ratings, a survey, a poll."""
    ayu = add_official(store, "Ayu", "admin")
    old = store.citizen("telegram", "5550001111", "id").id
    new = store.citizen("webchat", "sesi-baru", "id").id
    answered = _ask(
        store,
        old,
        f"kucingrahasia NIK {NIK} hilang",
        _decision("", Action.ANSWER, faq_id="ktp-hilang", confidence=0.91),
    )
    store.save_feedback(answered, helpful=True)
    answered_ticket = _ticket(store, old, "zebrarahasia telp 081234567890 bagaimana")
    store.escalations.answer(answered_ticket, ayu.id, "Untuk zebrarahasia silakan ke kantor.", "[]")
    store.officials.audit(
        ayu, "answer", f"ticket #{answered_ticket}", "Untuk zebrarahasia silakan ke kantor."
    )
    store.escalations.set_delivery(answered_ticket, "sent")
    store.escalations.rate(answered_ticket, old, 4)
    closed_ticket = _ticket(store, old, "lumbarahasia asdf")
    store.escalations.close(closed_ticket, ayu.id, "spam: lumbarahasia iseng")
    store.officials.audit(ayu, "close", f"ticket #{closed_ticket}", "spam: lumbarahasia iseng")
    open_ticket = _ticket(store, old, "gajahrahasia belum dijawab")
    store.save_incoming(old, "never-answered", "text", "rusarahasia menunggu")
    questions = parse_questions("Seberapa puas Anda? [1-5]\nApa saran Anda? [teks]")
    survey = store.broadcasts.create(
        kind="survey",
        text="Survei layanan",
        topics=["pengumuman"],
        channels=["telegram", "webchat"],
        send_at=_iso(OLD),
        created_by=ayu.id,
        options=questions_json(questions),
    )
    store.surveys.answer(survey, old, 0, "4", 2)
    store.surveys.answer(survey, old, 1, "saran kancilrahasia", 2)
    poll = store.broadcasts.create(
        kind="poll",
        text="Pilih jadwal",
        topics=["pengumuman"],
        channels=["telegram"],
        send_at=_iso(OLD),
        created_by=ayu.id,
        options=["pagi", "sore"],
    )
    store.broadcasts.vote(poll, old, [1])
    _backdate(store, old, OLD)

    _ask(store, new, "harimaubaru jam buka", _decision("", Action.ANSWER, faq_id="jam-buka"))
    new_ticket = _ticket(store, new, "harimaubaru pertanyaan lain")
    store.escalations.answer(new_ticket, ayu.id, "Jawaban harimaubaru.", "[]")
    store.officials.audit(ayu, "answer", f"ticket #{new_ticket}", "Jawaban harimaubaru.")
    store.surveys.answer(survey, new, 0, "5", 2)
    store.surveys.answer(survey, new, 1, "saranbaru lebih cepat", 2)
    _backdate(store, new, RECENT)
    return Traffic(old, new, answered_ticket, closed_ticket, open_ticket, new_ticket, survey)


def _backdate(store: Store, citizen: int, moment: datetime) -> None:
    """Move a citizen's rows to ``moment`` (answers an hour later), as if written then."""
    at, later = _iso(moment), _iso(moment + timedelta(hours=1))
    tickets = "SELECT 'ticket #' || id FROM escalations WHERE citizen_id = ?"
    with store.db.atomic():
        for sql, values in (
            ("UPDATE messages SET created_at = ? WHERE citizen_id = ?", [at, citizen]),
            (
                "UPDATE feedback SET created_at = ? WHERE message_id IN "
                "(SELECT id FROM messages WHERE citizen_id = ?)",
                [at, citizen],
            ),
            (
                "UPDATE escalations SET created_at = ?, updated_at = ?, answered_at = "
                "CASE WHEN answered_at IS NULL THEN NULL ELSE ? END WHERE citizen_id = ?",
                [at, later, later, citizen],
            ),
            ("UPDATE survey_answers SET created_at = ? WHERE citizen_id = ?", [at, citizen]),
            ("UPDATE votes SET created_at = ? WHERE citizen_id = ?", [at, citizen]),
            (f"UPDATE audit_log SET at = ? WHERE target IN ({tickets})", [later, citizen]),
        ):
            store.db.execute(sql, values)


def words_in_database(store: Store, words: tuple[str, ...]) -> set[str]:
    """Which of ``words`` any value of any table holds (also the search index's blocks)."""
    found = set()
    for table in store.engine.tables():
        for row in store.db.execute(f'SELECT * FROM "{table}"'):
            for value in row:
                if isinstance(value, bytes):
                    value = value.decode("utf-8", "ignore")
                found |= {w for w in words if isinstance(value, str) and w in value}
    return found


def words_in_files(store: Store, words: tuple[str, ...]) -> set[str]:
    """Which of ``words`` a SQLite database's files hold anywhere, free space included.
    (On PostgreSQL a changed row's old version stays in the table's file until
    autovacuum reclaims the space: queries, backups and copies no longer see it.)"""
    if store.dialect is not Dialect.SQLITE:
        return set()
    path = Path(store.engine.url)
    found = set()
    assert path.is_file()
    for file in path.parent.glob(path.name + "*"):
        content = file.read_bytes()
        found |= {w for w in words if w.encode() in content}
    return found


def aggregates(store: Store) -> dict[str, Any]:
    """The dashboard's figures over all time, and the other counts officials see."""
    period = Period.last_days(1000, NOW, "Asia/Jakarta")
    figures: dict[str, Any] = {"dashboard": store.stats.summary(period, NOW)}
    for name, sql in {
        "messages": "SELECT c.channel, m.direction, m.kind, m.action, m.reason, m.status, "
        "m.faq_id, m.confidence, m.language, substr(m.created_at, 1, 10), count(*) "
        "FROM messages m JOIN citizens c ON c.id = m.citizen_id GROUP BY 1, 2, 3, 4, 5, 6, 7, "
        "8, 9, 10",
        "escalations": "SELECT status, reason, topic, delivery, rating, created_at, answered_at, "
        "faq_entry, substr(closed_reason, 1, coalesce(nullif(instr(closed_reason, ':'), 0) - 1, "
        "99)) FROM escalations ORDER BY id",
        "survey": "SELECT broadcast_id, question, count(*) FROM survey_answers GROUP BY 1, 2",
        "survey_scale": "SELECT question, answer, count(*) FROM survey_answers "
        "WHERE question = 0 GROUP BY 1, 2",
        "survey_progress": "SELECT status, count(*) FROM survey_progress GROUP BY 1",
        "votes": "SELECT broadcast_id, option, count(*) FROM votes GROUP BY 1, 2",
        "feedback": "SELECT helpful, count(*) FROM feedback GROUP BY 1",
        "citizens": "SELECT channel, count(*) FROM citizens GROUP BY 1",
        "audit": "SELECT action, count(*) FROM audit_log WHERE action != 'retention-purge' "
        "GROUP BY 1",
    }.items():
        figures[name] = store.db.execute(sql).fetchall()
    return figures


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.open(store_url)
    yield store
    store.close()


def test_purge_removes_every_copy_of_old_words_and_keeps_the_rest(
    store: Store, tmp_path: Path
) -> None:
    traffic = build_traffic(store)
    everything = OLD_WORDS + KEPT_WORDS
    assert words_in_database(store, everything) == set(everything)

    purged = store.retention.purge(cutoff(365))

    assert words_in_database(store, everything) == set(KEPT_WORDS)
    assert words_in_files(store, OLD_WORDS) == set()
    # Two questions and the bot's replies, the official's answer, the closed ticket's
    # question and reply, the open ticket's reply (not its question); not the unanswered one.
    assert purged == Purged(messages=8, escalations=2, survey_answers=1, audit_entries=2)
    answered = store.escalations.get(traffic.answered_ticket)
    closed = store.escalations.get(traffic.closed_ticket)
    assert answered is not None and answered.question is None and answered.answer is None
    assert closed is not None and closed.closed_reason == "spam"  # the note went
    kept = store.escalations.get(traffic.open_ticket)
    assert kept is not None and kept.question == "gajahrahasia belum dijawab"
    survey = {(a.citizen_id, a.question): a.answer for a in store.surveys.answers(traffic.survey)}
    assert survey == {
        (traffic.old_citizen, 0): "4",  # a rating is a result, not words
        (traffic.old_citizen, 1): "",
        (traffic.new_citizen, 0): "5",
        (traffic.new_citizen, 1): "saranbaru lebih cepat",
    }
    assert store.retention.purge(cutoff(365)) == Purged()  # nothing left to do


def test_aggregates_are_the_same_after_a_purge(store: Store) -> None:
    build_traffic(store)
    before = aggregates(store)
    summary = before["dashboard"]
    assert summary.questions >= 5 and summary.rated == 1 and summary.helpful == 1
    assert summary.tickets == {"opened": 4, "answered": 2, "closed": 1}

    assert store.retention.purge(cutoff(365)).total > 0

    assert aggregates(store) == before


def test_a_purged_question_is_no_longer_found_by_the_desk_search(store: Store) -> None:
    traffic = build_traffic(store)

    def found(words: str, status: str = "answered") -> list[int]:
        return [r.id for r in store.escalations.find(InboxFilter(status, search=words))]

    assert found("zebrarahasia") == [traffic.answered_ticket]
    assert found("lumbarahasia", "closed") == [traffic.closed_ticket]
    store.retention.purge(cutoff(365))
    assert found("zebrarahasia") == [] and found("lumbarahasia", "closed") == []
    assert found("harimaubaru") == [traffic.new_ticket]
    assert found("gajahrahasia", "open") == [traffic.open_ticket]


def test_dry_run_counts_and_changes_nothing(store: Store) -> None:
    build_traffic(store)
    before = {t: store.db.execute(f'SELECT * FROM "{t}"').fetchall() for t in store.engine.tables()}

    expected = store.retention.would_purge(cutoff(365))

    after = {t: store.db.execute(f'SELECT * FROM "{t}"').fetchall() for t in store.engine.tables()}
    assert after == before
    assert expected == store.retention.purge(cutoff(365)) and expected.total > 0


def test_small_batches_purge_the_same(store: Store, tmp_path: Path) -> None:
    build_traffic(store)
    other = Store.open(tmp_path / "other.db")
    build_traffic(other)
    assert store.retention.purge(cutoff(365), batch_rows=2) == other.retention.purge(cutoff(365))
    assert words_in_database(store, OLD_WORDS) == set()


def test_each_purge_is_in_the_audit_log_with_counts_only(store: Store) -> None:
    build_traffic(store)
    store.retention.purge(cutoff(365))
    [entry] = [r for r in store.officials.audit_log() if r.action == "retention-purge"]
    assert entry.official is None
    assert entry.detail == "8 messages, 2 escalations, 1 survey answers, 2 audit entries"
    assert entry.target == f"texts before {cutoff(365):%Y-%m-%d}"


def test_erased_citizen_leaves_nothing_anywhere(store: Store, tmp_path: Path) -> None:
    """/hapusdata: no row of any table refers to them, and none of their words is left
    in the database's files, not in the search index nor the audit log."""
    traffic = build_traffic(store)
    store.subscriptions.subscribe(traffic.old_citizen, "pengumuman")
    store.subscriptions.offer_once(traffic.old_citizen, "darurat")
    message_ids = [m.id for m in store.messages(traffic.old_citizen)]

    store.erase_citizen(traffic.old_citizen)

    for table in store.engine.tables():
        columns = store.engine.columns(table)
        if "citizen_id" in columns:
            rows = store.db.execute(
                f'SELECT count(*) FROM "{table}" WHERE citizen_id = ?', [traffic.old_citizen]
            ).fetchone()[0]
            assert rows == 0, table
    marks = ", ".join("?" for _ in message_ids)
    for table, column in (("feedback", "message_id"), ("messages", "id"), ("messages", "reply_to")):
        assert (
            store.db.execute(
                f"SELECT count(*) FROM {table} WHERE {column} IN ({marks})", message_ids
            ).fetchone()[0]
            == 0
        ), table
    assert store.find_citizen("telegram", "5550001111") is None
    theirs = (*OLD_WORDS, "gajahrahasia", "rusarahasia", "5550001111")
    assert words_in_database(store, theirs) == set()
    assert words_in_files(store, theirs) == set()
    assert store.escalations.find(InboxFilter("open", search="gajahrahasia")) == []
    assert words_in_database(store, ("harimaubaru", "saranbaru")) == {"harimaubaru", "saranbaru"}


def test_tanya_purge(tmp_path: Path) -> None:
    config = write_config(tmp_path, ROOT / "faq", ROOT / "rasa_project", tmp_path / "model.tar.gz")
    database = load_settings(config).storage.location
    store = Store.open(database)
    build_traffic(store)
    store.close()

    dry = run_tanya("--config", str(config), "purge", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr.decode()
    assert "Would remove texts from before" in dry.stdout.decode()
    assert "(365 days): 8 messages, 2 escalations, 1 survey answers" in dry.stdout.decode()
    store = Store.open(database)
    assert words_in_database(store, OLD_WORDS) == set(OLD_WORDS)
    store.close()

    done = run_tanya("--config", str(config), "purge", "--vacuum", cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    output = done.stdout.decode()
    assert "Removed texts from before" in output and "8 messages" in output
    if isinstance(database, Path):  # the file, rebuilt smaller
        assert re.search(r"Vacuumed .*tanya\.db: [\d.]+ MB -> [\d.]+ MB", output), output
    else:
        assert "Vacuumed (PostgreSQL" in output, output
    store = Store.open(database)
    assert words_in_database(store, OLD_WORDS) == set()
    assert words_in_database(store, KEPT_WORDS) == set(KEPT_WORDS)
    store.close()

    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings["retention"]["message_days"] = 0
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    forever = run_tanya("--config", str(config), "purge", cwd=tmp_path)
    assert forever.returncode == 0 and "kept forever" in forever.stdout.decode()


@pytest.mark.sqlite_only
def test_tanya_purge_without_a_database_says_so(tmp_path: Path) -> None:
    config = write_config(tmp_path, ROOT / "faq", ROOT / "rasa_project", tmp_path / "m.tar.gz")
    result = run_tanya("--config", str(config), "purge", cwd=tmp_path)
    assert result.returncode == 1
    assert "no database at" in result.stderr.decode() and "Traceback" not in result.stderr.decode()


async def test_the_server_purges_at_start_up(
    trained_settings: Settings, loaded: Loaded, store: Store
) -> None:
    traffic = build_traffic(store)
    app: web.Application = create_app(trained_settings, loaded, store)
    async with running(app) as server:
        for _ in range(100):
            if not words_in_database(store, OLD_WORDS):
                break
            await asyncio.sleep(0.05)
        assert words_in_database(store, OLD_WORDS) == set()
        kept = ("gajahrahasia", "harimaubaru", "saranbaru")
        assert words_in_database(store, kept) == set(kept)
        async with browser(server) as official:
            await sign_in(official, "Ayu")
            ticket = await official.get(f"/desk/tickets/{traffic.answered_ticket}")
            page = await ticket.text()
        assert ticket.status == 200
        assert "teks dihapus: masa simpan habis" in page and "4/5" in page  # the rating stays
        assert "None" not in page


async def test_no_purge_when_texts_are_kept_forever(store: Store) -> None:
    build_traffic(store)
    await asyncio.wait_for(store.retention.purge_daily(0), timeout=5)  # returns at once
    assert words_in_database(store, OLD_WORDS) == set(OLD_WORDS)


async def test_daily_purge_runs_again(store: Store) -> None:
    build_traffic(store)
    task = asyncio.create_task(store.retention.purge_daily(365, every=0.05))
    try:
        for _ in range(100):
            runs = [r for r in store.officials.audit_log() if r.action == "retention-purge"]
            if len(runs) >= 3:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
    assert len(runs) >= 3
    assert runs[-1].detail.startswith("8 messages")  # the first run, listed last
    assert runs[0].detail.startswith("0 messages")


def test_retention_setting_is_documented_and_checked(tmp_path: Path) -> None:
    text = (ROOT / "config.yml").read_text(encoding="utf-8")
    for field in dataclasses.fields(RetentionSettings):
        assert re.search(rf"^retention:\n(?:\s+#.*\n)+\s+{field.name}:", text, re.M), field.name
    assert load_settings(ROOT / "config.yml").retention.message_days == 365
    path = tmp_path / "config.yml"
    path.write_text(
        "faq: {dir: faq}\nnlu: {project_dir: r, model_path: m}\nstorage: {database: d}\n"
        "retention: {message_days: -1}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=re.escape("retention.message_days must be 0")):
        load_settings(path)
