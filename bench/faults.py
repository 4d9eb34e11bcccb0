"""Delivery under platform faults (loopback only, bounded in time).

    .venv/bin/python bench/faults.py [--seconds 60] [--rate 50] [--fault-rate 0.3]
                                     [--citizens 300] [--model PATH]

(a) Faults: `tanya run` with Messenger (signed webhooks; a local stand-in for the Graph
    API's Send API) and Telegram (the Bot API emulator, tests/telegram_emulator). Citizens
    write at ``--rate`` messages/s in all, half on each platform, for ``--seconds``; all that
    time ``--fault-rate`` of the bot's sends fail, each in one of the ways platforms fail:
    HTTP 500 and 502/503, 429 (rate limited), a timeout (no answer until the client gives
    up, nothing stored) and a cut connection. Then the faults stop and the benchmark waits
    until every citizen has every answer (or ``--drain`` seconds pass). Measured, from what
    the platforms received (not from what the bot believes): answers delivered, answers
    recorded as sent in the database that no platform confirmed, answers that reached a
    citizen out of order, duplicates, and how long the last answers took after the faults
    stopped.
(b) Telegram away at start: the bot starts with Telegram unreachable (nothing listens at
    its API address). Measured: seconds from the process's start to /healthz, to a web chat
    answer and to a Messenger answer; then the emulator comes up and a Telegram citizen
    writes: seconds from Telegram coming back to the answer.

Each citizen asks different questions, each answered by a different FAQ entry, so the
order of the answers a citizen receives says whether a later answer overtook an earlier
one. Figures are printed and written to bench/results/faults.json.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import random
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.channels.telegram import to_html  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.store.messages import Direction, MessageStatus  # noqa: E402
from tests.telegram_harness import (  # noqa: E402
    TOKEN,
    Citizen,
    Emulator,
    free_port,
    start_child,
    wait_until_up,
)

MODEL = ROOT / "rasa_project" / "models" / "tanya.tar.gz"
RESULTS = ROOT / "bench" / "results" / "faults.json"
SECRET = "bench-app-secret"
FAULT_KINDS = ("500", "502", "429", "timeout", "reset")
PREFIX = 48  # characters of an answer that tell the FAQ entries apart
FIRST_CHAT = 2_000_000


class GraphApi:
    """The Send API stand-in: records what it confirmed, per citizen, in order; while
    ``fault_rate`` is set, fails that share of calls in one of the ways of FAULT_KINDS."""

    def __init__(self, seed: int = 7) -> None:
        self.fault_rate = 0.0
        self.rng = random.Random(seed)
        self.confirmed: dict[str, list[str]] = defaultdict(list)
        self.injected: dict[str, int] = defaultdict(int)
        self.calls = 0

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.calls += 1
        if self.fault_rate and self.rng.random() < self.fault_rate:
            kind = self.rng.choice(FAULT_KINDS)
            self.injected[kind] += 1
            if kind == "timeout":
                await asyncio.sleep(15)  # longer than the bot's 10 s: it gives up first
                return web.json_response({"error": {"message": "late", "code": 2}}, status=500)
            if kind == "reset":
                assert request.transport is not None
                request.transport.abort()
                return web.Response()
            if kind == "429":
                error = {"message": "(#613) Calls to this api have exceeded the rate limit."}
                return web.json_response({"error": error | {"code": 613}}, status=429)
            return web.json_response(
                {"error": {"message": "An unexpected error has occurred.", "code": 2}},
                status=int(kind) + (1 if kind == "502" else 0),  # 500, or 503
            )
        psid = body["recipient"]["id"]
        self.confirmed[psid].append(body["message"].get("text", ""))
        return web.json_response({"recipient_id": psid, "message_id": f"m_{self.calls}"})


def signed(psid: str, text: str) -> tuple[bytes, dict[str, str]]:
    now = int(time.time() * 1000)
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": "1",
                    "time": now,
                    "messaging": [
                        {
                            "sender": {"id": psid},
                            "recipient": {"id": "1"},
                            "timestamp": now,
                            "message": {"mid": f"mid.{uuid.uuid4().hex}", "text": text},
                        }
                    ],
                }
            ],
        }
    ).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def write_config(workdir: Path, graph_url: str, telegram_url: str, model: Path) -> Path:
    config = (ROOT / "config.yml").read_text(encoding="utf-8")
    for old, new in [
        ("dir: faq", f"dir: {ROOT / 'faq'}"),
        ("project_dir: rasa_project", f"project_dir: {ROOT / 'rasa_project'}"),
        ("model_path: rasa_project/models/tanya.tar.gz", f"model_path: {model}"),
        ("url: data/tanya.db", f"url: {workdir / 'tanya.db'}"),
        ("api_url: https://api.telegram.org", f"api_url: {telegram_url}"),
        ("graph_api_url: https://graph.facebook.com/v21.0", f"graph_api_url: {graph_url}"),
        ("poll_timeout: 30", "poll_timeout: 10"),
    ]:
        assert old in config, old
        config = config.replace(old, new)
    path = workdir / "config.yml"
    path.write_text(config, encoding="utf-8")
    return path


ENV = {
    "TELEGRAM_BOT_TOKEN": TOKEN,
    "FACEBOOK_PAGE_ACCESS_TOKEN": "bench",
    "FACEBOOK_APP_SECRET": SECRET,
    "FACEBOOK_VERIFY_TOKEN": "bench",
}


async def distinct_questions(
    session: aiohttp.ClientSession, url: str
) -> list[tuple[str, str, str]]:
    """Held-out questions the model answers, each with a different FAQ entry: (question,
    the start of its answer on Messenger, and on Telegram, which shows it as HTML)."""
    lines = (ROOT / "bench" / "data" / "sample_test.jsonl").read_text(encoding="utf-8")
    chosen: dict[str, tuple[str, str, str]] = {}
    for line in lines.splitlines():
        text = json.loads(line)["text"] if line.strip() else ""
        if not text or len(text) > 120:
            continue
        async with session.post(f"{url}/api/ask", json={"text": text, "language": "id"}) as r:
            decision = await r.json()
        prefix = decision["reply"][:PREFIX]
        if (
            decision["action"] == "answer"
            and decision["language"] == "id"
            and decision["faq_id"] not in chosen
            and all(p != prefix for _, p, _ in chosen.values())
        ):
            chosen[decision["faq_id"]] = (text, prefix, to_html(decision["reply"])[:PREFIX])
    return list(chosen.values())


async def telegram_received(emulator: Emulator) -> dict[str, list[str]]:
    """What the emulator accepted from the bot, per chat, in order."""
    received: dict[str, list[str]] = defaultdict(list)
    for message in await emulator.bot_messages():
        body = message["message"]
        received[str(body.get("chat_id"))].append(str(body.get("text") or ""))
    return received


def check(expected: dict[str, list[str]], received: dict[str, list[str]]) -> dict[str, int]:
    """Delivered, missing, out of order and duplicated answers, from what the platform
    received: each citizen's answers (by their first characters) against the order in
    which the citizen asked."""
    counts = {"expected": 0, "delivered": 0, "missing": 0, "out_of_order": 0, "duplicates": 0}
    for citizen, wanted in expected.items():
        got = [text[:PREFIX] for text in received.get(citizen, [])]
        firsts = [got.index(prefix) for prefix in wanted if prefix in got]
        counts["expected"] += len(wanted)
        counts["delivered"] += len(firsts)
        counts["missing"] += len(wanted) - len(firsts)
        disorder = sum(1 for a, b in itertools.pairwise(firsts) if b < a)
        if disorder and counts["out_of_order"] < 3:
            print(f"out of order for {citizen}: asked {wanted}, got {got}", flush=True)
        counts["out_of_order"] += disorder
        counts["duplicates"] += sum(got.count(prefix) - 1 for prefix in wanted if prefix in got)
    return counts


def arrival_order(
    database: Path,
    expected: dict[str, dict[str, list[str]]],
    prefixes: dict[str, tuple[str, str]],
) -> tuple[dict[str, dict[str, list[str]]], int]:
    """Each citizen's expected answers in the order the bot stored their questions, and
    how many questions were stored in another order than the citizen sent them."""
    store = Store.open(database)
    try:
        rows = store.texts(Direction.IN)
    finally:
        store.close()
    arrived: dict[str, dict[str, list[str]]] = {ch: defaultdict(list) for ch in expected}
    for channel, platform_id, text in rows:
        if channel in arrived and text in prefixes:
            prefix, html = prefixes[text]
            arrived[channel][platform_id].append(html if channel == "telegram" else prefix)
    reordered = sum(
        1
        for channel in expected
        for citizen, sent in expected[channel].items()
        for a, b in zip(sent, arrived[channel].get(citizen, []), strict=False)
        if a != b
    )
    return arrived, reordered


def recorded_but_not_confirmed(database: Path, received: dict[str, dict[str, list[str]]]) -> int:
    """Replies the database calls sent that no platform received for that citizen."""
    store = Store.open(database)
    try:
        rows = store.texts(Direction.OUT, MessageStatus.SENT)
    finally:
        store.close()
    # The text as each platform got it.
    shown: dict[str, Callable[[str], str]] = {"messenger": str, "telegram": to_html}
    unconfirmed = [
        (channel, platform_id, text[:PREFIX])
        for channel, platform_id, text in rows
        if channel in received
        and text is not None
        and not any(
            got[:PREFIX] == shown[channel](text)[:PREFIX]
            for got in received[channel].get(platform_id, [])
        )
    ]
    for example in unconfirmed[:3]:
        print("recorded as sent, never received:", example, flush=True)
    return len(unconfirmed)


async def start_graph_api() -> tuple[GraphApi, web.AppRunner, int]:
    """The Graph API stand-in on a free loopback port (its runner is cleaned up by the caller)."""
    graph = GraphApi()
    app = web.Application()
    app.router.add_post("/v21.0/me/messages", graph.messages)
    runner = web.AppRunner(app)
    await runner.setup()
    graph_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", graph_port).start()
    return graph, runner, graph_port


async def faults_run(args: argparse.Namespace) -> dict[str, Any]:
    graph, runner, graph_port = await start_graph_api()
    emulator = Emulator()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        config = write_config(
            workdir, f"http://127.0.0.1:{graph_port}/v21.0", emulator.url, args.model
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = workdir / "bot.log"
        process = start_child(config, port, ENV, log)
        try:
            await wait_until_up(url, process, log, timeout=180)
            connector = aiohttp.TCPConnector(limit=200)
            async with aiohttp.ClientSession(connector=connector) as session:
                questions = await distinct_questions(session, url)
                prefixes = {text: (prefix, html) for text, prefix, html in questions}
                per_citizen = max(1, round(args.rate * args.seconds / args.citizens))
                if len(questions) < per_citizen:
                    raise SystemExit(f"only {len(questions)} distinct answers for {per_citizen}")
                await emulator.set_faults(args.fault_rate, FAULT_KINDS, seed=11)
                graph.fault_rate = args.fault_rate
                expected: dict[str, dict[str, list[str]]] = {
                    "messenger": defaultdict(list),
                    "telegram": defaultdict(list),
                }
                citizens = {n: Citizen(emulator, FIRST_CHAT + n) for n in range(args.citizens // 2)}
                sent, started = 0, time.perf_counter()
                tasks: list[asyncio.Task[None]] = []
                total = int(args.rate * args.seconds)
                for index in range(total):
                    await asyncio.sleep(max(0.0, started + index / args.rate - time.perf_counter()))
                    number, turn = index // 2 % (args.citizens // 2), index // args.citizens
                    text, prefix, html_prefix = questions[(number + turn) % len(questions)]
                    if index % 2:
                        psid = f"psid-{number}"
                        expected["messenger"][psid].append(prefix)
                        body, headers = signed(psid, text)
                        tasks.append(asyncio.create_task(post(session, url, body, headers)))
                    else:
                        expected["telegram"][str(FIRST_CHAT + number)].append(html_prefix)
                        tasks.append(
                            asyncio.create_task(say(session, emulator, citizens[number], text))
                        )
                    sent += 1
                await asyncio.gather(*tasks)
                offered = sent / (time.perf_counter() - started)
                await emulator.set_faults(0.0)
                graph.fault_rate = 0.0
                cleared = time.perf_counter()
                wanted = sum(len(v) for e in expected.values() for v in e.values())
                done_after = None
                while time.perf_counter() - cleared < args.drain:
                    received = {
                        "messenger": dict(graph.confirmed),
                        "telegram": await telegram_received(emulator),
                    }
                    delivered = sum(
                        check(expected[ch], received[ch])["delivered"] for ch in expected
                    )
                    if delivered >= wanted:
                        done_after = time.perf_counter() - cleared
                        break
                    await asyncio.sleep(1)
                await asyncio.sleep(2)  # let the bot record the last confirmations
                received = {
                    "messenger": dict(graph.confirmed),
                    "telegram": await telegram_received(emulator),
                }
                health = await (await session.get(f"{url}/healthz")).json()
            telegram_stats = await emulator.stats()
        finally:
            process.terminate()
            process.wait(timeout=60)
            emulator.stop()
            await runner.cleanup()
        errors = [
            line for line in log.read_text(errors="replace").splitlines() if " ERROR " in line
        ]
        for line in errors[:5]:
            print("bot log:", line[:300], flush=True)
        # The order the bot received each citizen's messages in is the order it owes its
        # answers in; the platform (or the network) may deliver webhooks out of order.
        arrived, reordered = arrival_order(workdir / "tanya.db", expected, prefixes)
        per_channel = {ch: check(arrived[ch], received[ch]) for ch in expected}
        totals = {k: sum(c[k] for c in per_channel.values()) for k in per_channel["messenger"]}
        return {
            "seconds": args.seconds,
            "offered_per_second": round(offered, 1),
            "messages": sent,
            "citizens": args.citizens,
            "fault_rate": args.fault_rate,
            "fault_kinds": list(FAULT_KINDS),
            "faults_injected": {
                "messenger": dict(graph.injected),
                "telegram_sends_accepted": telegram_stats.get("sent"),
            },
            "answers": totals,
            "arrived_in_another_order_than_sent": reordered,
            "per_channel": per_channel,
            "delivered_share": round(totals["delivered"] / max(totals["expected"], 1), 4),
            "recorded_sent_not_confirmed": recorded_but_not_confirmed(
                workdir / "tanya.db", received
            )
            if (workdir / "tanya.db").exists()
            else None,
            "all_delivered_seconds_after_faults_stopped": round(done_after, 1)
            if done_after is not None
            else None,
            "outbox_at_end": health.get("outbox"),
            "bot_log_errors": len(errors),
        }


async def say(
    session: aiohttp.ClientSession, emulator: Emulator, citizen: Citizen, text: str
) -> None:
    """A Telegram citizen's message, through the emulator's client API (one shared
    connection pool: a client per message would cost more CPU than the bot)."""
    message = {
        "botToken": TOKEN,
        "from": citizen.user,
        "chat": citizen.chat,
        "date": int(time.time()),
        "text": text,
    }
    async with session.post(f"{emulator.url}/sendMessage", json=message) as response:
        response.raise_for_status()


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> None:
    async with session.post(f"{url}/webhooks/messenger", data=body, headers=headers) as response:
        response.raise_for_status()


async def telegram_away_at_start(args: argparse.Namespace) -> dict[str, Any]:
    graph, runner, graph_port = await start_graph_api()
    telegram_port = free_port()  # nothing listens there yet
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        config = write_config(
            workdir,
            f"http://127.0.0.1:{graph_port}/v21.0",
            f"http://127.0.0.1:{telegram_port}",
            args.model,
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = workdir / "bot.log"
        started = time.perf_counter()
        process = start_child(config, port, ENV, log)
        emulator: Emulator | None = None
        try:
            await wait_until_up(url, process, log, timeout=180)
            result["ready_seconds"] = round(time.perf_counter() - started, 1)
            # Like a browser on loopback: keep the web chat's (Secure) session cookie over
            # plain HTTP to an IP address.
            jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[url])
            async with aiohttp.ClientSession(cookie_jar=jar) as session:
                await session.get(f"{url}/chat")
                async with session.post(
                    f"{url}/chat/api/messages", json={"text": "halo", "id": "w1"}
                ) as response:
                    assert response.status == 200, await response.text()
                result["webchat_answered_seconds"] = round(time.perf_counter() - started, 1)
                body, headers = signed("psid-start", "halo")
                await post(session, url, body, headers)
                while not graph.confirmed.get("psid-start"):
                    await asyncio.sleep(0.05)
                result["messenger_answered_seconds"] = round(time.perf_counter() - started, 1)
                health = await (await session.get(f"{url}/healthz")).json()
                result["healthz_while_away"] = {
                    "status": health["status"],
                    "telegram": health["channels"]["telegram"],
                }
                await asyncio.sleep(args.away)
                emulator = Emulator(telegram_port)
                back = time.perf_counter()
                citizen = Citizen(emulator, FIRST_CHAT + 999_999)
                await citizen.say("halo")
                await citizen.wait_for(1, timeout=120)
                result["telegram_answered_after_back_seconds"] = round(
                    time.perf_counter() - back, 1
                )
                result["away_seconds"] = args.away
        finally:
            process.terminate()
            process.wait(timeout=60)
            if emulator is not None:
                emulator.stop()
            await runner.cleanup()
    return result


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if not args.skip_faults:
        result["faults"] = await faults_run(args)
        print("faults:", json.dumps(result["faults"], indent=2), flush=True)
    result["telegram_away_at_start"] = await telegram_away_at_start(args)
    print("telegram away at start:", json.dumps(result["telegram_away_at_start"]), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=50, help="messages/s, both platforms")
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--citizens", type=int, default=300)
    parser.add_argument("--drain", type=float, default=300, help="seconds to wait after")
    parser.add_argument("--away", type=float, default=20, help="seconds Telegram stays away")
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument(
        "--skip-faults",
        action="store_true",
        help="only Telegram away at start (the results file keeps the last faults run)",
    )
    args = parser.parse_args()
    if not args.model.is_file():
        raise SystemExit(f"no model at {args.model}: run `tanya train` first")
    result = asyncio.run(main_async(args))
    if args.skip_faults and RESULTS.is_file():
        result = {**json.loads(RESULTS.read_text(encoding="utf-8")), **result}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
