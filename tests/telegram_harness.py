"""Test harness for Telegram: the npm ``telegram-test-api`` emulator on loopback.

The emulator differs from the real Bot API; the differences are smoothed over here, in
the harness only, never in the bot's code (``EmulatorRequest``):

* getMe lacks ``is_bot``; sendMessage returns ``date`` in milliseconds and no ``from``;
* callback queries lack ``chat_instance``; answerCallbackQuery/edit* return ``null``;
* unsupported methods answer HTTP 500 without ``ok``;
* getUpdates ignores ``timeout`` (no long polling): an empty answer is delayed a little
  so the bot's polling loop does not spin.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from telegram.request import HTTPXRequest

EMULATOR_DIR = Path(__file__).resolve().parent / "telegram_emulator"
TOKEN = "123456:TEST-token"
BOT_USER = {"id": 666, "is_bot": True, "first_name": "Test First name", "username": "TestNameBot"}
EMPTY_POLL_DELAY = 0.05


def _fix_dates(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("date", "edit_date") and isinstance(item, int) and item > 10**11:
                value[key] = item // 1000
            else:
                _fix_dates(item)
    elif isinstance(value, list):
        for item in value:
            _fix_dates(item)


class EmulatorRequest(HTTPXRequest):
    """python-telegram-bot's request class, with the emulator's replies made standard."""

    async def do_request(
        self, url: str, method: str, request_data: Any = None, **kwargs: Any
    ) -> tuple[int, bytes]:
        code, payload = await super().do_request(url, method, request_data=request_data, **kwargs)
        api_method = url.rsplit("/", 1)[-1]
        try:
            data = json.loads(payload)
        except ValueError:
            return code, payload
        if "ok" not in data:  # 500 {"message": ...}: an unsupported method
            data = {
                "ok": False,
                "error_code": 400,
                "description": data.get("message", "emulator error"),
            }
            code = 400
        elif data["ok"] is False:
            code = data.get("error_code") or 400
        else:
            result = data.get("result")
            if result is None:
                data["result"] = True
            elif api_method == "getMe":
                result.setdefault("is_bot", True)
            elif api_method == "sendMessage":
                result.setdefault("from", dict(BOT_USER))
                # The request is echoed back as sent: drop what a Message does not carry and
                # decode what python-telegram-bot sent as JSON strings.
                for key in ("chat_id", "parse_mode", "link_preview_options"):
                    result.pop(key, None)
                if isinstance(result.get("reply_markup"), str):
                    result["reply_markup"] = json.loads(result["reply_markup"])
            elif api_method == "getUpdates":
                for update in result:
                    if update.get("message") is not None:
                        update["message"].pop("botToken", None)
                    query = update.get("callback_query")
                    if query is not None:
                        chat = (query.get("message") or {}).get("chat", {})
                        query.setdefault("chat_instance", str(chat.get("id", 0)))
                if not result:
                    await asyncio.sleep(EMPTY_POLL_DELAY)
            _fix_dates(data)
        return code, json.dumps(data).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Emulator:
    """The emulator as a child process."""

    def __init__(self) -> None:
        if not (EMULATOR_DIR / "node_modules" / "telegram-test-api").is_dir():
            raise RuntimeError("telegram-test-api is not installed: run scripts/test-deps.sh")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            ["node", "server.js", str(self.port)],
            cwd=EMULATOR_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("ready"):
            self.stop()
            raise RuntimeError(f"the emulator did not start: {line}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Citizen:
    """A Telegram user talking to the bot through the emulator's client API."""

    def __init__(self, emulator: Emulator, user_id: int, language: str = "id") -> None:
        self.url = emulator.url
        self.user = {
            "id": user_id,
            "is_bot": False,
            "first_name": f"Warga{user_id}",
            "username": f"warga{user_id}",
            "language_code": language,
        }
        self.chat = {"id": user_id, "type": "private", "first_name": f"Warga{user_id}"}
        self.received: list[dict[str, Any]] = []

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{self.url}{path}", json=body, timeout=10)
            response.raise_for_status()
            return response.json()

    def _message(self, **fields: Any) -> dict[str, Any]:
        return {
            "botToken": TOKEN,
            "from": self.user,
            "chat": self.chat,
            "date": int(time.time()),
            **fields,
        }

    async def say(self, text: str) -> None:
        if text.startswith("/"):
            length = len(text.split()[0])
            await self._post(
                "/sendCommand",
                self._message(
                    text=text, entities=[{"offset": 0, "length": length, "type": "bot_command"}]
                ),
            )
        else:
            await self._post("/sendMessage", self._message(text=text))

    async def send_photo(self) -> None:
        await self._post(
            "/sendMessage",
            self._message(
                photo=[{"file_id": "PHOTO1", "file_unique_id": "u1", "width": 90, "height": 90}]
            ),
        )

    async def press(self, bot_message: dict[str, Any], label: str) -> None:
        """Press the inline button with ``label`` under one of the bot's messages."""
        rows = bot_message["message"]["reply_markup"]["inline_keyboard"]
        button = next(b for row in rows for b in row if b["text"] == label)
        message = {
            "message_id": bot_message["messageId"],
            "date": int(time.time()),
            "chat": self.chat,
            "from": BOT_USER,
            "text": bot_message["message"]["text"],
        }
        await self._post(
            "/sendCallback",
            {
                "botToken": TOKEN,
                "from": self.user,
                "message": message,
                "data": button["callback_data"],
            },
        )

    async def wait_for(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        """The bot's messages to this citizen, once at least ``count`` have arrived."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                texts = [m["message"]["text"][:60] for m in self.received]
                raise AssertionError(f"expected {count} bot messages, got {texts}")
            data = await self._post("/getUpdates", {"token": TOKEN, "chatId": self.chat["id"]})
            self.received += data["result"]
            if len(self.received) < count:
                await asyncio.sleep(0.1)
        return self.received
