"""Exporting conversations as CSV: admins only, citizens as numbers, personal data masked,
erased citizens absent, texts removed by retention empty; on the desk and from `tanya`."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from bot.config import Settings, load_settings
from bot.core.decision import Action, Decision, EscalationReason
from bot.server import create_app
from bot.service import Loaded
from bot.store import Store
from bot.store.conversation_export import HEADER
from bot.store.retention import cutoff
from tests.conftest import ROOT, run_tanya, write_config
from tests.desk_helpers import add_official, browser, post_form, running, sign_in

NIK = "3201234567890001"
PHONE = "0812-3456-7890"
EMAIL = "budi.santoso@example.com"
TELEGRAM_ID = "5550001111"
MESSENGER_ID = "7788990011223344"
TODAY = datetime.now(ZoneInfo("Asia/Jakarta")).date()
PERIOD = {"from": str(TODAY - timedelta(days=1)), "to": str(TODAY + timedelta(days=1))}


def conversations(store: Store) -> dict[str, int]:
    """Two citizens: one on Telegram whose question went to Ayu, who answered and was
    rated; one on Messenger. Returns the citizens' ids."""
    official = store.officials.by_name("Ayu")
    assert official is not None
    telegram = store.citizen("telegram", TELEGRAM_ID, "id").id
    question = store.save_incoming(telegram, "1", "text", f"NIK {NIK} hp {PHONE} kucingrahasia")
    decision = Decision(
        text="",
        action=Action.ESCALATE,
        language="id",
        reply="...",
        confidence=0.12,
        reason=EscalationReason.LOW_CONFIDENCE,
    )
    store.save_reply(question.id, telegram, "Pertanyaan diteruskan, tiket dibuat.", decision)
    ticket, _ = store.open_escalation(telegram, question.id, "low_confidence")
    store.escalations.answer(ticket, official.id, f"Kami hubungi {EMAIL}.", "[]")
    store.escalations.set_delivery(ticket, "sent")
    store.escalations.rate(ticket, telegram, 5)
    messenger = store.citizen("messenger", MESSENGER_ID, "id").id
    formula = store.save_incoming(messenger, "m1", "text", '=HYPERLINK("http://x") zebrabaru')
    answer = Decision(
        text="", action=Action.ANSWER, language="id", reply="...", confidence=0.9, faq_id="ktp"
    )
    store.save_reply(formula.id, messenger, "Jawaban KTP.", answer)
    store.save_feedback(formula.id, helpful=True)
    return {"telegram": telegram, "messenger": messenger}


def rows_of(body: bytes) -> list[dict[str, str]]:
    assert body.startswith("\ufeff".encode()), "Excel needs the byte-order mark"
    reader = csv.reader(io.StringIO(body.decode("utf-8-sig")))
    assert next(reader) == HEADER
    return [dict(zip(HEADER, row, strict=True)) for row in reader]


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.open(store_url)
    add_official(store, "Ayu", "admin")
    add_official(store, "Budi", "agent")
    yield store
    store.close()


@pytest.fixture
async def server(
    trained_settings: Settings, loaded: Loaded, store: Store
) -> AsyncIterator[TestServer]:
    app: web.Application = create_app(trained_settings, loaded, store)
    async with running(app) as server:
        yield server


@pytest.fixture
async def admin(server: TestServer) -> AsyncIterator[ClientSession]:
    async with browser(server) as client:
        assert (await sign_in(client, "Ayu")).status == 303
        yield client


async def export(client: ClientSession, **fields: str) -> tuple[int, bytes, dict[str, str]]:
    response = await post_form(client, "/desk/export", **(PERIOD | fields))
    return response.status, await response.read(), dict(response.headers)


async def test_admin_gets_every_message_masked_and_without_platform_ids(
    store: Store, admin: ClientSession
) -> None:
    ids = conversations(store)
    page = await (await admin.get("/desk/")).text()
    assert 'href="/desk/export"' in page  # in the admin's menu
    form = await admin.get("/desk/export")
    assert form.status == 200 and 'name="from"' in await form.text()

    status, body, headers = await export(admin)

    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    assert headers["Content-Disposition"].startswith("attachment; filename=")
    assert headers["Cache-Control"] == "no-store"
    text = body.decode("utf-8-sig")
    for secret in (NIK, PHONE, "3456-7890", EMAIL, TELEGRAM_ID, MESSENGER_ID):
        assert secret not in text, secret
    rows = rows_of(body)
    assert len(rows) == 5  # question, reply, official's answer; question, reply
    question, reply, answer, formula, faq_reply = rows
    assert question["text"] == "NIK ************0001 hp *********890 kucingrahasia"
    assert answer["text"] == "Kami hubungi b***@example.com."
    assert [r["citizen"] for r in rows] == ["1", "1", "1", "2", "2"]
    assert [r["channel"] for r in rows] == ["telegram"] * 3 + ["messenger"] * 2
    assert [r["sender"] for r in rows] == ["citizen", "bot", "official", "citizen", "bot"]
    assert (question["action"], question["reason"], question["confidence"]) == (
        "escalate",
        "low_confidence",
        "0.120",
    )
    ticket = store.escalations.ticket_for_message(store.messages(ids["telegram"])[0].id)
    assert question["ticket"] == reply["ticket"] == answer["ticket"] == str(ticket)
    assert answer["rating"] == "5"
    assert formula["text"] == '\'=HYPERLINK("http://x") zebrabaru'  # never a formula
    assert (formula["helpful"], faq_reply["faq_entry"]) == ("yes", "ktp")
    assert question["time"].startswith(str(TODAY)) or question["time"].startswith(
        str(TODAY - timedelta(days=1))
    )
    [entry] = [r for r in store.officials.audit_log() if r.action == "conversations-exported"]
    assert entry.official == "Ayu" and entry.detail == "5 messages, channel all"


async def test_agents_may_not_export(store: Store, server: TestServer) -> None:
    conversations(store)
    async with browser(server) as agent:
        await sign_in(agent, "Budi")
        assert 'href="/desk/export"' not in await (await agent.get("/desk/")).text()
        assert (await agent.get("/desk/export")).status == 403
        status, body, _ = await export(agent)
        assert status == 403 and b"kucingrahasia" not in body
    assert not [r for r in store.officials.audit_log() if r.action == "conversations-exported"]


async def test_channel_and_period_choose_the_messages(store: Store, admin: ClientSession) -> None:
    conversations(store)
    _, body, _ = await export(admin, channel="messenger")
    assert {r["channel"] for r in rows_of(body)} == {"messenger"}
    last_year = {"from": str(TODAY.replace(year=TODAY.year - 1)), "to": str(TODAY - timedelta(2))}
    _, body, _ = await export(admin, **last_year)
    assert rows_of(body) == []
    status, body, _ = await export(admin, **{"from": str(TODAY), "to": str(TODAY - timedelta(1))})
    assert status == 400 and "Periode tidak sah" in body.decode()
    status, body, _ = await export(admin, channel="fax")
    assert status == 400 and "Kanal tidak dikenal" in body.decode()


async def test_erased_citizens_are_absent_and_removed_texts_empty(
    store: Store, admin: ClientSession
) -> None:
    ids = conversations(store)
    store.erase_citizen(ids["telegram"])
    with store.db.atomic():  # the Messenger conversation took place 400 days ago
        store.db.execute("UPDATE messages SET created_at = '2000-01-01T00:00:00.000+00:00'")
    store.retention.purge(cutoff(365))

    _, body, _ = await export(admin, **{"from": "1999-12-31", "to": str(TODAY)})

    rows = rows_of(body)
    assert "kucingrahasia" not in body.decode() and "zebrabaru" not in body.decode()
    assert [(r["citizen"], r["sender"], r["text"], r["action"]) for r in rows] == [
        ("1", "citizen", "", "answer"),
        ("1", "bot", "", "answer"),
    ]


def test_tanya_export_conversations(tmp_path: Path) -> None:
    config = write_config(tmp_path, ROOT / "faq", ROOT / "rasa_project", tmp_path / "m.tar.gz")
    store = Store.open(load_settings(config).storage.location)
    add_official(store, "Ayu", "admin")
    conversations(store)
    store.close()
    out = tmp_path / "percakapan.csv"

    result = run_tanya(
        "--config",
        str(config),
        "export-conversations",
        "--from",
        PERIOD["from"],
        "--to",
        PERIOD["to"],
        "--channel",
        "telegram",
        "--out",
        str(out),
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr.decode()
    assert f"Exported 3 messages of {PERIOD['from']}..{PERIOD['to']} to {out}" in (
        result.stdout.decode()
    )
    rows = rows_of(out.read_bytes())
    assert [r["sender"] for r in rows] == ["citizen", "bot", "official"]
    assert NIK not in out.read_text(encoding="utf-8")
    store = Store.open(load_settings(config).storage.location)
    [entry] = [r for r in store.officials.audit_log() if r.action == "conversations-exported"]
    assert entry.detail == "3 messages, channel telegram (command line)"
    store.close()
    wrong = run_tanya(
        "--config",
        str(config),
        "export-conversations",
        "--from",
        "2024-02-01",
        "--to",
        "2024-01-01",
        cwd=tmp_path,
    )
    assert wrong.returncode == 1 and "ends before it starts" in wrong.stderr.decode()
