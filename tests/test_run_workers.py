"""`tanya run --workers N`: several bot processes on one port and one PostgreSQL, kept
running by the parent; refused where it cannot work (SQLite, Telegram long polling)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.channels.webchat import SESSION_HEADER
from tests.conftest import run_tanya
from tests.postgres import PostgresServer
from tests.telegram_harness import (
    free_port,
    start_workers,
    wait_for_workers,
    worker_pids,
    write_child_config,
)
from tests.test_messenger import SECRET, VERIFY, GraphApi, signed, text_event


@pytest.mark.sqlite_only  # the refusal is about a SQLite file
def test_several_workers_are_refused_where_they_cannot_work(trained: Path, tmp_path: Path) -> None:
    """SQLite (one writer) and Telegram long polling (one poller) are one process's: the
    command says so and what to change, before loading anything."""
    sqlite = run_tanya(
        "--config", str(trained / "config.yml"), "run", "--workers", "2", cwd=trained
    )
    message = sqlite.stderr.decode()
    assert sqlite.returncode == 1 and "Traceback" not in message
    assert "--workers 2 needs PostgreSQL" in message and "copy-store" in message

    config = write_child_config(
        trained / "config.yml",
        tmp_path,
        [("url: data/tanya.db", "url: postgresql://tanya@127.0.0.1:1/none")],
    )
    os.environ["TELEGRAM_BOT_TOKEN"] = "123:abc"
    try:
        polling = run_tanya("--config", str(config), "run", "--workers", "3", cwd=trained)
    finally:
        del os.environ["TELEGRAM_BOT_TOKEN"]
    message = polling.stderr.decode()
    assert polling.returncode == 1 and "Traceback" not in message
    assert "needs Telegram in webhook mode" in message and "telegram.mode: webhook" in message


async def _web_chat(base: str, text: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        page = (await client.get("/chat")).text
        session = page.split('name="tanya-session" content="', 1)[1].split('"', 1)[0]
        answer = await client.post(
            "/chat/api/messages",
            json={"text": text, "id": "m1"},
            headers={SESSION_HEADER: session},
        )
        answer.raise_for_status()
        return str(answer.json()["replies"][0]["text"])


async def _messenger(base: str, psid: str, text: str) -> None:
    body, headers = signed(text_event(psid, text, f"mid.{psid}"))
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{base}/webhooks/messenger", content=body, headers=headers, timeout=30
        )
    assert answer.status_code == 200


async def test_two_workers_serve_one_port_on_postgresql(
    trained: Path, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """Both workers answer (web chat and signed Messenger webhooks, each answered once);
    a worker killed with SIGKILL is started again while the other serves on; SIGTERM to
    the parent stops them all."""
    api = GraphApi()
    graph_app = web.Application()
    graph_app.router.add_post("/v21.0/me/messages", api.messages)
    graph = TestServer(graph_app, host="127.0.0.1")
    await graph.start_server()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_child_config(
        trained / "config.yml",
        tmp_path,
        [
            ("url: data/tanya.db", f"url: {postgres_server.fresh_database()}"),
            ("port: 8080", f"port: {port}"),
            ("https://graph.facebook.com/v21.0", str(graph.make_url("/v21.0"))),
        ],
    )
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    env |= {
        "FACEBOOK_PAGE_ACCESS_TOKEN": "test-page-token",
        "FACEBOOK_APP_SECRET": SECRET,
        "FACEBOOK_VERIFY_TOKEN": VERIFY,
    }
    log = tmp_path / "run.log"
    parent = start_workers(config, 2, env, log, trained)
    try:
        first = await wait_for_workers(base, parent, log, 2)

        for _ in range(6):
            assert (await _web_chat(base, "halo")).startswith("Halo! Saya Tanya")
        psids = [f"99{number:04d}" for number in range(12)]
        for psid in psids:
            await _messenger(base, psid, "ktp saya hilang gimana")
        await api.wait_for(len(psids))
        await asyncio.sleep(1)  # a second answer to the same message would arrive meanwhile
        assert sorted(body["recipient"]["id"] for body in api.sent) == psids  # once each

        killed = next(iter(first))
        os.kill(killed, signal.SIGKILL)
        later = [f"77{number:04d}" for number in range(6)]
        for psid in later:  # the other worker answers meanwhile
            await _messenger(base, psid, "ktp saya hilang gimana")
        await api.wait_for(len(psids) + len(later))
        deadline = time.monotonic() + 120
        while not ((now := set(await worker_pids(base, 10))) - first and len(now) == 2):
            assert time.monotonic() < deadline, f"the killed worker was not started again: {now}"
            await asyncio.sleep(0.5)
        assert killed not in now
        text = log.read_text(errors="replace")
        assert "ended (killed by SIGKILL)" in text and "starting it again" in text

        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=60) == 0
        for pid in now | first:
            assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"worker {pid} lives on"
    finally:
        if parent.poll() is None:
            parent.kill()
        await graph.close()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True
