"""Test harness: run the real `tanya` command, optionally slowed down.

The Telegram emulator answers as the Bot API does (tests/telegram_emulator/server.js), so
nothing in the bot is patched for it. With TANYA_TEST_SLOW_DECIDE=<seconds> every decision
waits first, which leaves a test time to kill the process between "stored" and "answered".
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
