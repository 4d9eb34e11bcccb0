"""Telegram in webhook mode served by `tanya run --workers 2` on one PostgreSQL: every
update is answered once, whichever worker it reaches and however often it is delivered."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx

from tests.postgres import PostgresServer
from tests.telegram_harness import (
    TOKEN,
    Citizen,
    Emulator,
    free_port,
    start_workers,
    text_of,
    wait_for_workers,
    write_child_config,
)

SECRET = "rahasia-untuk-semua-worker"


async def test_webhook_updates_are_answered_once_across_two_workers(
    trained: Path, tmp_path: Path, postgres_server: PostgresServer, emulator: Emulator
) -> None:
    """Both workers register the same webhook and secret; the emulator delivers citizens'
    messages to the shared port, and the same update POSTed six times over fresh
    connections (as Telegram redelivers after a timeout; the kernel spreads connections
    over both workers) reaches its citizen once."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_child_config(
        trained / "config.yml",
        tmp_path,
        [
            ("url: data/tanya.db", f"url: {postgres_server.fresh_database()}"),
            ("port: 8080", f"port: {port}"),
            ("api_url: https://api.telegram.org", f"api_url: {emulator.url}"),
            ("mode: polling", "mode: webhook"),
            ('webhook_url: ""', f"webhook_url: {base}"),
        ],
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEBOOK_")}
    env |= {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET}
    log = tmp_path / "run.log"
    parent = start_workers(config, 2, env, log, trained)
    try:
        await wait_for_workers(base, parent, log, 2)
        citizens = [Citizen(emulator, 7100 + number) for number in range(6)]
        for citizen in citizens:
            await citizen.say("halo")
        for citizen in citizens:
            [reply] = await citizen.wait_for(1, timeout=60)
            assert text_of(reply).startswith("Halo! Saya Tanya")

        twice = Citizen(emulator, 7200)
        update = {
            "update_id": 880001,
            "message": {
                "message_id": 4242,
                "date": int(time.time()),
                "text": "halo",
                "from": twice.user,
                "chat": twice.chat,
            },
        }
        for _ in range(6):
            async with httpx.AsyncClient() as client:  # a new connection each time
                answer = await client.post(
                    f"{base}/webhooks/telegram",
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                    timeout=30,
                )
            assert answer.status_code == 200
        [reply] = await twice.wait_for(1, timeout=60)
        assert text_of(reply).startswith("Halo! Saya Tanya")
        await asyncio.sleep(2)  # a second answer from the other worker would arrive meanwhile
        assert len(await twice.fetch()) == 0
        for citizen in citizens:
            assert len(await citizen.fetch()) == 0

        deliveries = await emulator.webhook_deliveries()
        assert len(deliveries) == len(citizens) and {d["status"] for d in deliveries} == {200}

        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=60) == 0
    finally:
        if parent.poll() is None:
            parent.kill()
