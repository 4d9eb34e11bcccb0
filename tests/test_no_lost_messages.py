"""Nothing is lost: the bot is killed (SIGKILL) after messages were received and before
they were answered; after a restart every citizen still gets an answer. On both engines:
on SQLite the restarted bot lets its predecessor's claims go at its start (one process
per file); on PostgreSQL it cannot know it is the only worker, and takes them over once
the dead one's heartbeat has been silent for a few seconds (``bot.store.liveness``), well
within the wait below and long before the claims' 60 s lease."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import ROOT
from tests.store_switch import engine_at
from tests.telegram_harness import (
    TOKEN,
    Citizen,
    Emulator,
    free_port,
    start_child,
    wait_until_up,
    write_child_config,
)
from tests.test_messenger import GraphApi, signed, text_event


@pytest.fixture
async def graph() -> AsyncIterator[tuple[GraphApi, str]]:
    api = GraphApi()
    app = web.Application()
    app.router.add_post("/v21.0/me/messages", api.messages)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield api, str(server.make_url("/v21.0"))
    await server.close()


def bot_config(trained: Path, tmp_path: Path, emulator: Emulator, graph_url: str) -> Path:
    return write_child_config(
        trained / "config.yml",
        tmp_path,
        [
            ("api_url: https://api.telegram.org", f"api_url: {emulator.url}"),
            ("poll_timeout: 30", "poll_timeout: 1"),
            ("per_chat_interval: 1.0", "per_chat_interval: 0.1"),
            ("graph_api_url: https://graph.facebook.com/v21.0", f"graph_api_url: {graph_url}"),
        ],
    )


def start_bot(config: Path, port: int, slow: float) -> subprocess.Popen[bytes]:
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "FACEBOOK_PAGE_ACCESS_TOKEN": "test-page-token",
        "FACEBOOK_APP_SECRET": "test-app-secret",
        "FACEBOOK_VERIFY_TOKEN": "v",
        "TANYA_TEST_SLOW_DECIDE": str(slow),
    }
    return start_child(config, port, env)


def stored(database: Path) -> list[tuple[str, str]]:
    with engine_at(database) as db:
        return db.execute("SELECT status, text FROM messages WHERE direction = 'in'").fetchall()


async def test_sigkill_between_receiving_and_answering(
    trained: Path, tmp_path: Path, graph: tuple[GraphApi, str]
) -> None:
    emulator = Emulator()
    try:
        config = bot_config(trained, tmp_path, emulator, graph[1])
        database = tmp_path / "data" / "tanya.db"
        port = free_port()
        first = start_bot(config, port, slow=60)
        await wait_until_up(f"http://127.0.0.1:{port}", first)

        citizens = [Citizen(emulator, 200 + i) for i in range(3)]
        for citizen in citizens:
            await citizen.say("kapan jadwal vaksin booster")
        async with httpx.AsyncClient() as client:
            for i in range(2):
                body, headers = signed(
                    text_event(f"psid-{i}", "ktp hilang gimana", f"mid.{i}"),
                    secret="test-app-secret",
                )
                response = await client.post(
                    f"http://127.0.0.1:{port}/webhooks/messenger", content=body, headers=headers
                )
                assert response.status_code == 200  # stored before this 200

        deadline = time.monotonic() + 30
        while len(stored(database)) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert sorted(s for s, _ in stored(database)) == ["received"] * 5

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert graph[0].sent == []
        for citizen in citizens:
            assert await citizen.wait_for(0) == []

        second = start_bot(config, port, slow=0)
        try:
            await wait_until_up(f"http://127.0.0.1:{port}", second)
            for citizen in citizens:
                answer = (await citizen.wait_for(1))[0]
                assert answer["message"]["text"].startswith("Vaksinasi booster dibuka")
            sent = await graph[0].wait_for(2)  # an answer each, feedback buttons under it
            recipients = {m["recipient"]["id"] for m in sent}
            assert recipients == {"psid-0", "psid-1"}
            assert all(status == "answered" for status, _ in stored(database))
        finally:
            second.terminate()
            assert second.wait(timeout=20) == 0  # polling and workers stop cleanly
    finally:
        emulator.stop()


def test_launcher_is_test_only() -> None:
    """The test harness lives in tests/ and the bot's package never imports it."""
    for path in (ROOT / "bot").rglob("*.py"):
        assert "telegram_harness" not in path.read_text(encoding="utf-8"), path
    assert (
        json.loads((ROOT / "tests" / "telegram_emulator" / "package.json").read_text())["private"]
        is True
    )


async def test_sigkill_while_replies_are_on_their_way_resends_them_at_most_once(
    trained: Path, tmp_path: Path, graph: tuple[GraphApi, str]
) -> None:
    """Replies Telegram received but had not confirmed when the process died are sent
    again at the next start (at least once: Telegram cannot be asked whether they came),
    never more than once, and every reply is recorded as sent only after a confirmation."""
    emulator = Emulator()
    try:
        await emulator.set_latency(3000)  # Telegram stores each reply at once, answers late
        config = bot_config(trained, tmp_path, emulator, graph[1])
        database = tmp_path / "data" / "tanya.db"
        port = free_port()
        first = start_bot(config, port, slow=0)
        await wait_until_up(f"http://127.0.0.1:{port}", first)
        citizens = [Citizen(emulator, 300 + i) for i in range(6)]
        for citizen in citizens:
            await citizen.say("kapan jadwal vaksin booster")
        deadline = time.monotonic() + 60
        while len(await emulator.sent_messages()) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)  # replies arrived, their confirmations did not
        first.wait(timeout=10)
        with engine_at(database) as db:
            recorded = db.execute(
                "SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'sent'"
            ).fetchone()[0]
        assert recorded == 0  # nothing counted as sent without Telegram's answer
        in_flight = len(await emulator.sent_messages())

        await emulator.set_latency(0)
        second = start_bot(config, port, slow=0)
        try:
            await wait_until_up(f"http://127.0.0.1:{port}", second)
            for citizen in citizens:
                answer = (await citizen.wait_for(1))[0]
                assert answer["message"]["text"].startswith("Vaksinasi booster dibuka")
            # The replies on their way reached the citizens before the kill; their resends
            # come once the dead process's claims are free: at once on SQLite (the only
            # process), after the liveness window on PostgreSQL (another worker may be
            # alive). Every reply is recorded as sent only after Telegram confirms it.
            deadline = time.monotonic() + 60
            while True:
                with engine_at(database) as db:
                    statuses = db.execute(
                        "SELECT status FROM messages WHERE direction = 'out'"
                    ).fetchall()
                if statuses == [("sent",)] * len(citizens) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert statuses == [("sent",)] * len(citizens)
            await asyncio.sleep(2)  # anything sent twice would have arrived by now
            for citizen in citizens:
                await citizen.fetch()
            copies = [len(citizen.received) for citizen in citizens]
            assert all(n in (1, 2) for n in copies), copies
            assert sum(n - 1 for n in copies) <= in_flight  # only what was on its way
        finally:
            second.terminate()
            assert second.wait(timeout=20) == 0
    finally:
        emulator.stop()
