"""Test harness for Telegram: the npm ``telegram-test-api`` emulator on loopback.

Our launcher (``telegram_emulator/server.js``) makes the emulator answer as the real Bot
API does where the bot relies on it (getMe's ``is_bot``, a sent Message's ``from`` and
``date`` in seconds, ``chat_instance`` on callback queries, getUpdates honouring ``offset``
and ``timeout``, 404 for unknown methods), so python-telegram-bot and `tanya run` talk to
it unchanged, as to Telegram. It also adds what the package lacks: sendPoll, sendPhoto,
poll answers, users who blocked the bot (403), with ``limits=True`` Telegram's flood
limits (429 with ``retry_after``), and injected faults (5xx, 429, timeouts, cut
connections). ``Emulator`` has helpers for them: ``block``, ``sent_messages``, ``stats``,
``set_limits``, ``set_faults``, and ``Citizen.answer_poll``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

EMULATOR_DIR = Path(__file__).resolve().parent / "telegram_emulator"
LAUNCHER = Path(__file__).resolve().parent / "run_bot_for_tests.py"
TOKEN = "123456:TEST-token"
BOT_USER = {"id": 666, "is_bot": True, "first_name": "Test First name", "username": "TestNameBot"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def text_of(message: dict[str, Any]) -> str:
    """What a bot message shows: its text, a photo's caption or a poll's question."""
    body = message["message"]
    poll = body.get("poll") or {}
    return str(body.get("text") or body.get("caption") or poll.get("question") or "")


class Emulator:
    """The emulator as a child process (on ``port``, to bring a stopped one back).

    With ``limits`` it refuses, with 429 and ``retry_after``, more than ``global_limit``
    messages from the bot per rolling second, or more than ``per_chat_limit`` to one
    private chat (Telegram's limits: 30 and 1).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        limits: bool = False,
        global_limit: int = 30,
        per_chat_limit: int = 1,
        store_timeout: int = 600,
    ) -> None:
        if not (EMULATOR_DIR / "node_modules" / "telegram-test-api").is_dir():
            raise RuntimeError("telegram-test-api is not installed: run scripts/test-deps.sh")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = ["node", "server.js", str(self.port), str(store_timeout)]
        command += [f"--global-limit={global_limit}", f"--per-chat-limit={per_chat_limit}"]
        if limits:
            command.append("--limits")
        self.process = subprocess.Popen(
            command,
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

    async def message_id(self, text: str) -> int:
        """The id the emulator gave the last user message with ``text`` (the client API
        does not return it)."""
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.url}/getUpdatesHistory", json={"token": TOKEN}, timeout=10
            )
        response.raise_for_status()
        ids = [
            u["messageId"]
            for u in response.json()["result"]
            if "message" in u and u["message"].get("text") == text
        ]
        assert ids, f"the emulator has no message {text!r}"
        return int(ids[-1])

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with httpx.AsyncClient() as client:
            response = await client.request(
                method, f"{self.url}{path}", json=body, params={"token": TOKEN}, timeout=30
            )
        response.raise_for_status()
        return response.json()["result"]

    async def block(self, *chat_ids: int) -> None:
        """These users block the bot: what it sends them is refused with 403."""
        await self._call("POST", "/blockBot", {"botToken": TOKEN, "chat_ids": list(chat_ids)})

    async def unblock(self, *chat_ids: int) -> None:
        await self._call("POST", "/unblockBot", {"botToken": TOKEN, "chat_ids": list(chat_ids)})

    async def sent_messages(self) -> list[dict[str, Any]]:
        """Every message the emulator accepted from the bot, oldest first: ``time`` (epoch
        milliseconds, fractional), ``chat_id`` and ``method`` (sendMessage, sendPoll, ...)."""
        return list(await self._call("GET", "/admin/sent"))

    async def bot_messages(self) -> list[dict[str, Any]]:
        """Every message the bot sent, to any chat, as stored (``message`` is the request:
        ``chat_id``, ``text``, ``caption``, ``photo``, ``poll``, ...), oldest first."""
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.url}/getUpdatesHistory", json={"token": TOKEN}, timeout=30
            )
        response.raise_for_status()
        return [u for u in response.json()["result"] if "chat_id" in u.get("message", {})]

    async def refused(self) -> list[dict[str, Any]]:
        """Every 429 the emulator answered (limits on): ``time``, ``chat_id``, ``method``,
        ``retry_after``."""
        return list(await self._call("GET", "/admin/refused"))

    async def stalls(self) -> list[dict[str, Any]]:
        """The emulator's own pauses over 20 ms (``time``, ``lag_ms``): messages arriving
        meanwhile are stamped together when it resumes."""
        return list(await self._call("GET", "/admin/stalls"))

    async def webhook_deliveries(self) -> list[dict[str, Any]]:
        """Every POST of an update to the bot's webhook: time, update_id, HTTP status."""
        result: list[dict[str, Any]] = await self._call("GET", "/admin/webhook")
        return result

    async def stats(self) -> dict[str, int]:
        """``sent`` (accepted), ``too_many_requests`` (429s) and ``forbidden`` (403s)."""
        return dict(await self._call("GET", "/admin/stats"))

    async def set_limits(
        self,
        enabled: bool,
        global_limit: int | None = None,
        per_chat_limit: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"enabled": enabled}
        if global_limit is not None:
            body["global_limit"] = global_limit
        if per_chat_limit is not None:
            body["per_chat_limit"] = per_chat_limit
        return dict(await self._call("POST", "/admin/limits", body))

    async def set_faults(
        self, rate: float, kinds: tuple[str, ...] = ("500",), seed: int = 1
    ) -> dict[str, Any]:
        """Make that share of the bot's sends fail, each with one of ``kinds``: "500",
        "502", "429", "timeout" (never answered, not stored) or "reset" (cut)."""
        body = {"rate": rate, "kinds": list(kinds), "seed": seed}
        return dict(await self._call("POST", "/admin/faults", body))

    async def edits(self) -> list[dict[str, Any]]:
        """Every editMessageReplyMarkup the bot made: ``chat_id``, ``message_id``,
        ``reply_markup`` (null when the buttons were taken off)."""
        return list(await self._call("GET", "/admin/edits"))

    async def set_latency(self, milliseconds: float) -> None:
        """Answer the bot's sends this much later (they are stored at once), like a distant
        Bot API: a crash then leaves messages that arrived but were not confirmed."""
        await self._call("POST", "/admin/latency", {"latency_ms": milliseconds})


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

    async def edit(self, message_id: int, text: str) -> None:
        """Edit the message ``message_id`` this citizen sent, to ``text``."""
        message = self._message(text=text, message_id=message_id)
        await self._post("/editMessage", {"botToken": TOKEN, "message": message})

    async def send_photo_with_caption(self, caption: str) -> None:
        photo = [{"file_id": "PHOTO2", "file_unique_id": "u2", "width": 90, "height": 90}]
        await self._post("/sendMessage", self._message(photo=photo, caption=caption))

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

    async def answer_poll(self, bot_message: dict[str, Any], option_ids: list[int]) -> None:
        """Vote in one of the bot's native polls (an empty list retracts the vote)."""
        await self._post(
            "/sendPollAnswer",
            {
                "botToken": TOKEN,
                "poll_id": bot_message["message"]["poll"]["id"],
                "user": self.user,
                "option_ids": option_ids,
            },
        )

    async def fetch(self) -> list[dict[str, Any]]:
        """The bot's messages to this chat that arrived since the last look."""
        data = await self._post("/getUpdates", {"token": TOKEN, "chatId": self.chat["id"]})
        fresh: list[dict[str, Any]] = data["result"]
        self.received += fresh
        return fresh

    async def wait_for(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        """The bot's messages to this citizen, once at least ``count`` have arrived."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                texts = [text_of(m)[:60] for m in self.received]
                raise AssertionError(f"expected {count} bot messages, got {texts}")
            await self.fetch()
            if len(self.received) < count:
                await asyncio.sleep(0.1)
        return self.received

    async def wait_until(
        self, predicate: Callable[[str], bool], timeout: float = 30
    ) -> dict[str, Any]:
        """The first of the bot's messages to this chat whose text satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.received if predicate(text_of(m))]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                texts = [text_of(m)[:60] for m in self.received]
                raise AssertionError(f"no such bot message among {texts}")
            if not await self.fetch():
                await asyncio.sleep(0.1)


class GroupMember(Citizen):
    """Someone in a group chat with the bot (the officials' group). ``wait_for`` and
    ``fetch`` read what the bot posts to the group, as any member sees it."""

    def __init__(self, emulator: Emulator, user_id: int, group_id: int) -> None:
        super().__init__(emulator, user_id)
        self.user["first_name"] = f"Anggota{user_id}"
        self.chat = {"id": group_id, "type": "supergroup", "title": "Petugas Kota Contoh"}

    async def reply(
        self, message_id: int, text: str, *, author: dict[str, Any], quoted: str = ""
    ) -> None:
        """Reply in the group to message ``message_id`` (written by ``author``)."""
        original = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self.chat,
            "from": author,
            "text": quoted,
        }
        await self._post("/sendMessage", self._message(text=text, reply_to_message=original))


async def eventually(condition: Callable[[], Any], timeout: float = 15) -> Any:
    """Poll until ``condition()`` is truthy and return its value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not become true in time")
        await asyncio.sleep(0.05)
    return value


# `tanya run` in a child process, for tests and benchmarks that kill or restart it.


def write_child_config(source: Path, directory: Path, changes: list[tuple[str, str]]) -> Path:
    """``source`` (a config.yml) with each ``old`` text replaced by ``new``, written to
    ``directory``/config.yml; an ``old`` that is not there fails, so no change goes
    unnoticed when config.yml changes."""
    text = source.read_text(encoding="utf-8")
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    path = directory / "config.yml"
    path.write_text(text, encoding="utf-8")
    return path


def start_child(
    config: Path, port: int, env: dict[str, str], log: Path | None = None
) -> subprocess.Popen[bytes]:
    """`tanya run` on ``port`` through tests/run_bot_for_tests.py (the emulator's request
    class patched in), with ``env`` added to this process's environment; output goes to
    ``log`` (appended) or nowhere."""
    output = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [sys.executable, str(LAUNCHER), "--config", str(config), "run", "--port", str(port)],
            cwd=config.parent,
            env={**os.environ, **env},
            stdout=output,
            stderr=output,
        )
    finally:
        if log is not None:
            output.close()  # type: ignore[union-attr]


async def wait_until_up(
    url: str, process: subprocess.Popen[bytes], log: Path | None = None, timeout: float = 120
) -> None:
    """Until ``url``/healthz answers 200; fails (with the log's tail) if the bot exits."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:] if log is not None else ""
                raise AssertionError(f"the bot exited\n{tail}")
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("the bot did not come up")


def start_workers(
    config: Path, workers: int, env: dict[str, str], log: Path, cwd: Path
) -> subprocess.Popen[bytes]:
    """`tanya run --workers N` with ``config``, in ``cwd``, with exactly ``env``; output
    to ``log``."""
    with log.open("wb") as output:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot",
                "--config",
                str(config),
                "run",
                "--workers",
                str(workers),
            ],
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def worker_pids(base: str, tries: int) -> Counter[int]:
    """Which workers answer /healthz over ``tries`` fresh connections."""
    seen: Counter[int] = Counter()
    for _ in range(tries):
        async with httpx.AsyncClient() as client:  # a new connection each time
            seen[(await client.get(f"{base}/healthz", timeout=10)).json()["pid"]] += 1
    return seen


async def wait_for_workers(
    base: str, process: subprocess.Popen[bytes], log: Path, count: int, timeout: float = 120
) -> set[int]:
    """The pids of ``count`` workers once all of them answer (the last may load later)."""
    await wait_until_up(base, process, log)
    deadline = time.monotonic() + timeout
    while len(seen := await worker_pids(base, 10)) < count:
        assert time.monotonic() < deadline, f"fewer workers than {count}: {seen}"
    return set(seen)
