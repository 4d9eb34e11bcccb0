"""Load benchmark (loopback only, bounded in count and time).

    python bench/load.py [--seconds 20] [--rates 25,50,100] [--citizens 1000] [--rasa]
                         [--model PATH]

Runs `tanya run` with the trained model (rasa_project/models/tanya.tar.gz) and Messenger
switched on, pointed at a local stand-in for the Graph API, then sends signed webhook
events as simulated citizens:

(a) closed loop: 200 citizens, each sending its next question as soon as the previous one
    is answered: the highest sustained rate (messages answered per second);
(b) open loop: messages arriving at fixed offered rates from ``--citizens`` citizens, with
    p50/p95/p99 from the webhook POST to the reply reaching the Send API;
(c) the bot's peak memory (VmHWM).

(d) Telegram: the bot in polling mode against the Bot API emulator
    (tests/telegram_emulator), citizens writing through the emulator's client API at
    ``--telegram-rates`` (default 10 and 25 messages/s from 1,000 citizens), with
    p50/p95/p99 from the citizen's message to the bot's reply reaching the emulator (the
    emulator stamps each send). Telegram lets a bot send about 30 messages/s in all, and
    python-telegram-bot's rate limiter holds the bot to that, so Telegram's ceiling is
    Telegram's, not the bot's: the rates stay below it. ``--telegram-rates ""`` skips it.

With ``--rasa``, the same model served by Rasa's own HTTP server (``rasa run
--enable-api``, ``/model/parse``) is measured as the reference, 100 clients, closed loop.
Figures are printed and written to bench/results/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "bench-app-secret"
MODEL = ROOT / "rasa_project" / "models" / "tanya.tar.gz"


def questions() -> list[str]:
    lines = (ROOT / "bench" / "data" / "sample_test.jsonl").read_text(encoding="utf-8")
    return [json.loads(line)["text"] for line in lines.splitlines() if line.strip()]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Replies:
    """The Graph API stand-in: notes when each citizen's first reply arrives."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[float]] = {}

    async def messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        future = self.waiting.pop(body["recipient"]["id"], None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())
        return web.json_response({"recipient_id": body["recipient"]["id"], "message_id": "m"})

    def expect(self, psid: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[psid] = future
        return future


def signed(psid: str, text: str, mid: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": "1",
                    "time": 0,
                    "messaging": [
                        {
                            "sender": {"id": psid},
                            "recipient": {"id": "1"},
                            "timestamp": 0,
                            "message": {"mid": mid, "text": text},
                        }
                    ],
                }
            ],
        }
    ).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


class Bot:
    def __init__(self, graph_url: str, workdir: Path, model: Path) -> None:
        self.port = free_port()
        config = (ROOT / "config.yml").read_text(encoding="utf-8")
        config = config.replace(
            "graph_api_url: https://graph.facebook.com/v21.0", f"graph_api_url: {graph_url}"
        )
        config = config.replace("dir: faq", f"dir: {ROOT / 'faq'}")
        config = config.replace(
            "project_dir: rasa_project", f"project_dir: {ROOT / 'rasa_project'}"
        )
        config = config.replace(
            "model_path: rasa_project/models/tanya.tar.gz", f"model_path: {model}"
        )
        (workdir / "config.yml").write_text(config, encoding="utf-8")
        env = {
            **os.environ,
            "FACEBOOK_PAGE_ACCESS_TOKEN": "bench",
            "FACEBOOK_APP_SECRET": SECRET,
            "FACEBOOK_VERIFY_TOKEN": "bench",
        }
        env.pop("TELEGRAM_BOT_TOKEN", None)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot",
                "--config",
                str(workdir / "config.yml"),
                "run",
                "--port",
                str(self.port),
            ],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(workdir / "bot.log").open("w"),
        )
        self.log = workdir / "bot.log"
        self.url = f"http://127.0.0.1:{self.port}"

    async def wait_until_up(self) -> None:
        async with client(1) as session:
            for _ in range(600):
                try:
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    await asyncio.sleep(0.2)
        raise RuntimeError("the bot did not start")

    def peak_memory_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(pick(0.95) * 1000, 1),
        "p99_ms": round(pick(0.99) * 1000, 1),
    }


def client(connections: int) -> aiohttp.ClientSession:
    """The simulated citizens' HTTP client. aiohttp, not httpx: on the same two cores as
    the bot, httpx's client alone took most of a core at 100 messages/s."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=60),
    )


async def one(
    session: aiohttp.ClientSession,
    bot: Bot,
    replies: Replies,
    psid: str,
    text: str,
    counter: list[int],
) -> float:
    counter[0] += 1
    body, headers = signed(psid, text, f"mid.{uuid.uuid4().hex}")
    arrived = replies.expect(psid)
    started = time.perf_counter()
    async with session.post(
        f"{bot.url}/webhooks/messenger", data=body, headers=headers
    ) as response:
        response.raise_for_status()
    return await asyncio.wait_for(arrived, 60) - started


async def closed_loop(
    bot: Bot, replies: Replies, texts: list[str], seconds: float, citizens: int = 200
) -> dict[str, Any]:
    counter, latencies = [0], []
    deadline = time.perf_counter() + seconds

    async def citizen(n: int, session: aiohttp.ClientSession) -> None:
        rng = random.Random(n)
        while time.perf_counter() < deadline:
            latencies.append(await one(session, bot, replies, f"c{n}", rng.choice(texts), counter))

    async with client(citizens) as session:
        started = time.perf_counter()
        await asyncio.gather(*(citizen(n, session) for n in range(citizens)))
        elapsed = time.perf_counter() - started
    return {
        "citizens": citizens,
        "answered": len(latencies),
        "answered_per_second": round(len(latencies) / elapsed, 1),
        **percentiles(latencies),
    }


async def open_loop(
    bot: Bot, replies: Replies, texts: list[str], rate: float, seconds: float, citizens: int
) -> dict[str, Any]:
    counter, latencies, tasks = [0], [], []
    rng = random.Random(rate)
    async with client(500) as session:

        async def send(psid: str, text: str) -> None:
            latencies.append(await one(session, bot, replies, psid, text, counter))

        started = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            psid = f"o{int(rate)}-{i % citizens}"
            while psid in replies.waiting:  # one message in flight per citizen
                psid += "x"
            tasks.append(asyncio.create_task(send(psid, rng.choice(texts))))
        await asyncio.gather(*tasks)
    return {"offered_per_second": rate, "messages": total, **percentiles(latencies)}


async def rasa_reference(
    model: Path, seconds: float, texts: list[str], clients: int = 100
) -> dict[str, Any]:
    port = free_port()
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rasa",
            "run",
            "--enable-api",
            "--model",
            str(model),
            "--port",
            str(port),
            "-i",
            "127.0.0.1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with client(clients) as session:
            for _ in range(900):
                try:
                    async with session.get(f"{url}/status") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.2)
            latencies: list[float] = []
            deadline = time.perf_counter() + seconds

            async def worker(n: int) -> None:
                rng = random.Random(n)
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    async with session.post(
                        f"{url}/model/parse", json={"text": rng.choice(texts)}
                    ) as response:
                        response.raise_for_status()
                        await response.read()
                    latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            await asyncio.gather(*(worker(n) for n in range(clients)))
            elapsed = time.perf_counter() - started
        return {
            "clients": clients,
            "requests_per_second": round(len(latencies) / elapsed, 1),
            **percentiles(latencies),
        }
    finally:
        process.terminate()
        process.wait(timeout=60)


async def telegram_open_loop(
    model: Path, rates: list[float], seconds: float, citizens: int
) -> list[dict[str, Any]]:
    """Citizens' messages at fixed rates through the Telegram emulator (see (d) above)."""
    from bench.broadcast import Bot as TelegramBot
    from bench.broadcast import write_config
    from tests.telegram_harness import TOKEN, Emulator

    results = []
    emulator = Emulator()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            config = write_config(Path(workdir), emulator, 25, model)
            # Long polling, as against Telegram (the emulator waits for updates too).
            text = config.read_text(encoding="utf-8").replace("poll_timeout: 1", "poll_timeout: 10")
            config.write_text(text, encoding="utf-8")
            bot = TelegramBot(config)
            try:
                await bot.wait_until_up()
                async with client(200) as session:
                    # Warm up (the first messages load lazily built parts), not counted.
                    await _telegram_rate(session, emulator.url, TOKEN, 10, 3, citizens)
                    for rate in rates:
                        results.append(
                            await _telegram_rate(
                                session, emulator.url, TOKEN, rate, seconds, citizens
                            )
                        )
                        print("telegram open loop:", results[-1], flush=True)
                results[-1]["bot_peak_memory_mb"] = round(bot.memory_mb("VmHWM"), 1)
            finally:
                bot.stop()
    finally:
        emulator.stop()
    return results


async def _telegram_rate(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    rate: float,
    seconds: float,
    citizens: int,
) -> dict[str, Any]:
    rng = random.Random(rate)
    texts = questions()
    first_chat = 7_000_000 + int(rate * seconds) * 10_000
    written: list[tuple[int, float]] = []  # (chat, epoch ms when the citizen wrote)
    total = int(rate * seconds)

    async def write(chat: int, text: str) -> None:
        user = {"id": chat, "is_bot": False, "first_name": f"Warga{chat}", "language_code": "id"}
        body = {
            "botToken": token,
            "from": user,
            "chat": {"id": chat, "type": "private", "first_name": user["first_name"]},
            "date": int(time.time()),
            "text": text,
        }
        written.append((chat, time.time() * 1000))
        async with session.post(f"{url}/sendMessage", json=body) as response:
            response.raise_for_status()

    async with session.get(f"{url}/admin/sent", params={"token": token}) as response:
        already = len((await response.json())["result"])
    started = time.perf_counter()
    tasks = []
    for i in range(total):
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        # Each citizen writes again only after ``citizens`` others: one message at a time.
        chat = first_chat + i % citizens
        tasks.append(asyncio.create_task(write(chat, rng.choice(texts))))
    await asyncio.gather(*tasks)
    # Wait until every citizen has a reply (or a minute has passed).
    deadline = time.perf_counter() + 60
    while True:
        async with session.get(f"{url}/admin/sent", params={"token": token}) as response:
            sent = (await response.json())["result"][already:]
        replied: dict[int, list[float]] = {}
        for item in sent:
            replied.setdefault(int(item["chat_id"]), []).append(float(item["time"]))
        latencies = []
        for chat, at in written:
            later = [t for t in replied.get(chat, []) if t >= at]
            if later:
                latencies.append((min(later) - at) / 1000)
        if len(latencies) >= len(written) or time.perf_counter() > deadline:
            break
        await asyncio.sleep(0.5)
    elapsed = time.perf_counter() - started
    return {
        "offered_per_second": rate,
        "messages": total,
        "answered": len(latencies),
        "answered_per_second": round(len(latencies) / elapsed, 1),
        **percentiles(latencies),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    if not args.model.is_file():
        raise SystemExit(f"no model at {args.model}: run `tanya train` first")
    texts = questions()
    replies = Replies()
    graph = web.Application()
    graph.router.add_post("/v21.0/me/messages", replies.messages)
    runner = web.AppRunner(graph, access_log=None)
    await runner.setup()
    graph_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", graph_port).start()
    result: dict[str, Any] = {"channel": "messenger webhook"}
    with tempfile.TemporaryDirectory() as workdir:
        bot = Bot(f"http://127.0.0.1:{graph_port}/v21.0", Path(workdir), args.model)
        try:
            await bot.wait_until_up()
            await closed_loop(bot, replies, texts, 3, citizens=20)  # warm up
            result["closed_loop"] = await closed_loop(bot, replies, texts, args.seconds)
            print("closed loop:", result["closed_loop"], flush=True)
            result["open_loop"] = []
            for rate in args.rates:
                figures = await open_loop(bot, replies, texts, rate, args.seconds, args.citizens)
                print("open loop:", figures, flush=True)
                result["open_loop"].append(figures)
            result["bot_peak_memory_mb"] = round(bot.peak_memory_mb(), 1)
        except Exception:
            print(bot.log.read_text()[-3000:])
            raise
        finally:
            bot.stop()
    await runner.cleanup()
    if args.telegram_rates:
        result["telegram"] = await telegram_open_loop(
            args.model, args.telegram_rates, args.seconds, args.citizens
        )
    if args.rasa:
        result["rasa_reference"] = await rasa_reference(args.model, args.seconds, texts)
        print("rasa run --enable-api:", result["rasa_reference"], flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--rates",
        type=lambda s: [float(r) for r in s.split(",") if r],
        default=[25.0, 50.0, 100.0],
        help="offered rates for the open loop (empty: closed loop only)",
    )
    parser.add_argument("--model", type=Path, default=MODEL, help="the model to serve")
    parser.add_argument(
        "--telegram-rates",
        type=lambda s: [float(r) for r in s.split(",") if r],
        default=[10.0, 25.0],
        help="offered rates through the Telegram emulator (empty: skip Telegram)",
    )
    parser.add_argument("--citizens", type=int, default=1000)
    parser.add_argument("--rasa", action="store_true", help="also measure `rasa run`")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.json")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
