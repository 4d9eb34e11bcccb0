"""Test harness: run `tanya run` against the Telegram emulator, optionally slowed down.

The emulator needs python-telegram-bot's request class patched (tests/telegram_harness.py);
that patch belongs to the tests, never to the bot, so this launcher applies it before
handing over to the real command. With TANYA_TEST_SLOW_DECIDE=<seconds> every decision
waits first, which leaves a test time to kill the process between "stored" and "answered".
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import telegram.request

from tests.telegram_harness import EmulatorRequest

telegram.request.HTTPXRequest = EmulatorRequest  # type: ignore[misc]
import bot.channels.telegram as telegram_channel  # noqa: E402

telegram_channel.HTTPXRequest = EmulatorRequest  # type: ignore[misc]

delay = float(os.environ.get("TANYA_TEST_SLOW_DECIDE", "0"))
if delay:
    from bot.core.worker import AnsweringWorker

    original = AnsweringWorker.decide

    async def slow_decide(self: AnsweringWorker, text: str, language: str | None):  # type: ignore[no-untyped-def]
        await asyncio.sleep(delay)
        return await original(self, text, language)

    AnsweringWorker.decide = slow_decide  # type: ignore[method-assign]

from bot.cli import main  # noqa: E402

sys.argv = ["tanya", *sys.argv[1:]]
main()
