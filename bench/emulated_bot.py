"""Benchmark launcher: the real `tanya` command, talking to the Telegram emulator.

The emulator's replies differ from the Bot API's in small ways that the test harness
smooths over (``tests/telegram_harness.EmulatorRequest``); as ``tests/run_bot_for_tests.py``
does, this installs that adapter as python-telegram-bot's request class and hands over to
the command unchanged:

    python bench/emulated_bot.py --config CONFIG run --port PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import telegram.request

from tests.telegram_harness import EmulatorRequest

telegram.request.HTTPXRequest = EmulatorRequest  # type: ignore[misc]
import bot.channels.telegram as telegram_channel  # noqa: E402

telegram_channel.HTTPXRequest = EmulatorRequest  # type: ignore[misc]

from bot.cli import main  # noqa: E402

sys.argv = ["tanya", *sys.argv[1:]]
main()
