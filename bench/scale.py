"""Scale-out benchmark (issue 17): several `tanya run` workers on one PostgreSQL, loopback.

    .venv/bin/python bench/scale.py [--workers 3] [--rate 100] [--seconds 60]
        [--throughput-seconds 20] [--throughput-rounds 1] [--recipients 10000]
        [--skip PART,...]

Parts (each can be skipped: throughput, failover, broadcast, retrain):

throughput  one worker, closed loop as in bench/load.py (200 simulated Messenger citizens,
            each sending its next question when the previous is answered), on SQLite, on
            PostgreSQL with synchronous_commit off (the durability of SQLite's WAL with
            synchronous=NORMAL, which the store uses) and on PostgreSQL with its default
            (every commit flushed to disk), one after the other in the same run: messages
            answered per second, p50/p99, the worker's peak memory (VmHWM), start to ready,
            and what a message costs the machine: CPU milliseconds per message of the bot
            process and of the PostgreSQL server (every process of the cluster; SQLite's
            work is in the bot's), and messages per CPU-second of both together, the
            figure issue 17's "per core" target is judged on (docs/capacity.md).
            ``--throughput-rounds N``: the three N times, in turns (the medians; the
            shared cores' load changes from minute to minute).
failover    ``--workers`` workers (`tanya run --workers N`) on PostgreSQL; signed Messenger
            webhooks at ``--rate``/s for ``--seconds`` s, each from a citizen of its own;
            half-way one worker is killed with SIGKILL (the parent starts it again). A
            webhook POST that fails (the connection cut by the kill) is sent again a second
            later, as Facebook does (up to 5 times). Counted from what reached the Graph API
            stand-in: messages never answered (lost), messages answered twice (the same
            reply body twice to one citizen), Send API calls per message; latency; each
            worker's peak memory; start to ready (first /healthz, and every worker up).
            The stand-in notes which worker process sent each Send API call (from its
            connection's socket, /proc), so a double is told apart: the killed worker's
            crash window (its copy first, the others' after the kill: the documented
            at-least-once) or two live workers (a bug).
broadcast   ``--recipients`` Telegram subscribers written into the database, one
            announcement created, ``--workers`` workers (Telegram in webhook mode against
            the Bot API emulator with Telegram's limits: 30 messages/s per bot, 1/s per
            chat): each recipient once?, total rate, 429s.
retrain     ``--workers`` workers; a new FAQ entry is written and an official starts the
            retraining on the desk (on whichever worker takes the request); then /api/ask
            is asked the new entry's question on fresh connections until every worker
            answers with it: seconds from the new model being written to the last worker
            answering with it (the target is 10 s).

PostgreSQL is a throw-away cluster (tests/postgres.py, Debian's server binaries) with its
default durability (fsync on), on loopback; SQLite is a file, as `tanya run` uses it.
Figures are printed and written to bench/results/scale.json, with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.broadcast import TELEGRAM_LIMIT, announce, busiest_second, seed  # noqa: E402
from bench.load import (  # noqa: E402
    SECRET,
    Replies,
    closed_loop,
    percentiles,
    questions,
    signed,
)
from tests.postgres import PostgresServer, server_binaries  # noqa: E402
from tests.telegram_harness import TOKEN, Emulator, free_port  # noqa: E402

MODEL = ROOT / "rasa_project" / "models" / "tanya.tar.gz"
RESULTS = ROOT / "bench" / "results" / "scale.json"
# SQLite (WAL, synchronous=NORMAL: a commit is not flushed to disk, a power cut may lose
# the last ones, a crash of the process none); PostgreSQL with synchronous_commit off (the
# same promise); PostgreSQL with its default (every commit flushed before it returns).
ENGINES = ("sqlite", "postgresql", "postgresql_synchronous_commit")
PARTS = ("throughput", "failover", "broadcast", "retrain")
PASSWORD = "Bench-Scale-Password-2026!"
NEW_ENTRY = "bench-scale-kucing"
NEW_QUESTION = "kucing hitam lewat depan kantor kelurahan pertanda apa"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def memory_mb(pid: int, field: str = "VmHWM") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def store_bytes(storage: str) -> int:
    """The store's size on disk: the SQLite file with its WAL, or the PostgreSQL database."""
    if not storage.startswith("postgresql"):
        return sum(
            Path(storage + suffix).stat().st_size
            for suffix in ("", "-wal")
            if Path(storage + suffix).exists()
        )
    import psycopg

    with psycopg.connect(storage, autocommit=True) as connection:
        row = connection.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and of all its descendants, the exited ones
    (reaped: a PostgreSQL backend that ended) and the running ones."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # After the command's name in parentheses: utime, stime, cutime, cstime are the
    # 12th to 15th fields (proc(5): fields 14 to 17).
    ticks = sum(int(v) for v in stat.rsplit(")", 1)[1].split()[11:15])
    return ticks / CLOCK_TICKS + sum(cpu_seconds(child) for child in children(pid))


def server_pid(pg: PostgresServer) -> int:
    """The PostgreSQL postmaster's pid (every server process is its child)."""
    return int((pg.data / "postmaster.pid").read_text().split()[0])


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


class Cluster:
    """`tanya run [--workers N]` in a child process, on its own port and config."""

    def __init__(
        self,
        workdir: Path,
        storage: str,
        workers: int,
        graph_url: str = "http://127.0.0.1:9/v21.0",
        telegram_url: str = "",
        faq_dir: Path = ROOT / "faq",
        project_dir: Path = ROOT / "rasa_project",
        model: Path = MODEL,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        replacements = [
            ("graph_api_url: https://graph.facebook.com/v21.0", f"graph_api_url: {graph_url}"),
            ("dir: faq", f"dir: {faq_dir}"),
            ("project_dir: rasa_project", f"project_dir: {project_dir}"),
            ("model_path: rasa_project/models/tanya.tar.gz", f"model_path: {model}"),
            ("url: data/tanya.db", f"url: {storage}"),
        ]
        if telegram_url:
            replacements += [
                ("api_url: https://api.telegram.org", f"api_url: {telegram_url}"),
                ("mode: polling", "mode: webhook"),
                ('webhook_url: ""', f"webhook_url: {self.url}"),
            ]
        config = (ROOT / "config.yml").read_text(encoding="utf-8")
        for old, new in replacements:
            assert old in config, old
            config = config.replace(old, new)
        self.config = workdir / "config.yml"
        self.config.write_text(config, encoding="utf-8")
        self.env = {
            **os.environ,
            "FACEBOOK_PAGE_ACCESS_TOKEN": "bench",
            "FACEBOOK_APP_SECRET": SECRET,
            "FACEBOOK_VERIFY_TOKEN": "bench",
            "TELEGRAM_WEBHOOK_SECRET": "bench-webhook-secret",
        }
        self.env.pop("TELEGRAM_BOT_TOKEN", None)
        if telegram_url:
            self.env["TELEGRAM_BOT_TOKEN"] = TOKEN
        self.log = workdir / "bot.log"
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def tanya(self, *args: str, stdin: bytes | None = None) -> None:
        subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(self.config), *args],
            cwd=self.workdir,
            env=self.env,
            input=stdin,
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        command = [sys.executable, "-m", "bot", "--config", str(self.config), "run"]
        command += ["--port", str(self.port)]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        self.started = time.monotonic()
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                command, cwd=self.workdir, env=self.env, stdout=output, stderr=output
            )

    async def pid(self, session: aiohttp.ClientSession) -> int:
        async with session.get(f"{self.url}/healthz", headers={"Connection": "close"}) as r:
            return int((await r.json())["pid"])

    async def wait_until_ready(self, timeout: float = 300) -> dict[str, float]:
        """Seconds from the start to the first /healthz 200, and to every worker's."""
        assert self.process is not None
        first, seen = 0.0, set()
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the bot exited:\n{self.log.read_text()[-3000:]}")
                try:
                    seen.add(await self.pid(session))
                    first = first or time.monotonic() - self.started
                    if len(seen) >= self.workers:
                        return {
                            "first_ready_s": round(first, 1),
                            "all_ready_s": round(time.monotonic() - self.started, 1),
                        }
                except (aiohttp.ClientError, TimeoutError):
                    await asyncio.sleep(0.2)
        raise RuntimeError(f"not every worker came up: {len(seen)} of {self.workers}")

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        return children(self.process.pid) if self.workers > 1 else [self.process.pid]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def socket_owner(local_port: int, remote_port: int, pids: list[int]) -> int:
    """Which of ``pids`` holds the loopback TCP socket from ``local_port`` to
    ``remote_port`` (0: none of them, or it is gone): the socket's inode from
    /proc/net/tcp, then the process whose file descriptors include it."""
    wanted = f":{local_port:04X}", f":{remote_port:04X}"
    inode = ""
    try:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(wanted[0]) and fields[2].endswith(wanted[1]):
                inode = fields[9]
                break
    except OSError:
        return 0
    if not inode or inode == "0":
        return 0
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if os.readlink(fd) == target:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return 0


class GraphApi:
    """The Graph API stand-in: every Send API body, per citizen, with its arrival time and
    the worker process that sent it (found from the connection's socket, once per
    connection, while the sender is alive: ``pids`` gives the workers of the moment)."""

    def __init__(self, pids: Any = None) -> None:
        self.sent: dict[str, list[tuple[float, str, int]]] = defaultdict(list)
        self.pids = pids or (lambda: [])
        self.port = 0
        self._senders: dict[tuple[int, int], int] = {}  # (id of connection, port) -> pid

    def sender(self, request: web.Request) -> int:
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        if not peer:
            return 0
        key = (id(request.protocol), int(peer[1]))
        if key not in self._senders:
            self._senders[key] = socket_owner(int(peer[1]), self.port, self.pids())
        return self._senders[key]

    async def messages(self, request: web.Request) -> web.Response:
        sender = self.sender(request)  # before reading: the sender may die meanwhile
        try:
            body = await request.json()
        except ConnectionError:  # the worker sending it was killed: it never arrived
            return web.Response(status=400)
        psid = body["recipient"]["id"]
        message = json.dumps(body["message"], sort_keys=True)
        self.sent[psid].append((time.perf_counter(), message, sender))
        return web.json_response({"recipient_id": psid, "message_id": f"m{len(self.sent)}"})


def doubles(graph: GraphApi, victim: int, killed_at: float) -> dict[str, list[str]]:
    """Citizens who got one reply twice, by what the Graph API stand-in saw: the crash
    window (the first copy came from the killed worker before it died, the others from
    other workers after: it had sent the reply and died before recording the
    confirmation, which the documented at-least-once allows), two live workers (any other
    double: a bug), or unattributed (a copy whose sender could not be told)."""
    kinds: dict[str, list[str]] = {"crash_window": [], "two_live_workers": [], "unattributed": []}
    for psid, copies in graph.sent.items():
        by_body: dict[str, list[tuple[float, int]]] = defaultdict(list)
        for moment, body, sender in copies:
            by_body[body].append((moment, sender))
        for same in by_body.values():
            if len(same) < 2:
                continue
            same.sort()
            (_, first_by), later = same[0], same[1:]
            if any(sender == 0 for _, sender in same):
                kinds["unattributed"].append(psid)
            elif first_by == victim and all(
                sender != victim and at > killed_at for at, sender in later
            ):
                kinds["crash_window"].append(psid)
            else:
                kinds["two_live_workers"].append(psid)
    return kinds


async def start_graph(handler: Any, port: int = 0) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/v21.0/me/messages", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = port or free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/v21.0"


# Parts


async def throughput(
    pg: PostgresServer, base: Path, seconds: float, texts: list[str], rounds: int = 1
) -> dict[str, Any]:
    """Each engine once per round, the order turned by one each round (the load of the
    shared cores changes within minutes: an engine always run last would always get the
    busiest minutes). With several rounds, each engine's figures are its rounds' and
    their medians, and the ratios to SQLite are the medians of each round's ratio."""
    replies = Replies()
    runner, graph_url = await start_graph(replies.messages)
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    try:
        for turn in range(rounds):
            for engine in ENGINES[turn % len(ENGINES) :] + ENGINES[: turn % len(ENGINES)]:
                figures = await _throughput_of(
                    pg, base / f"{engine}-{turn}", engine, graph_url, replies, seconds, texts
                )
                runs[engine].append(figures)
                print(f"  {engine}: {figures}", flush=True)
    finally:
        await runner.cleanup()
    if rounds == 1:
        results: dict[str, Any] = {engine: runs[engine][0] for engine in ENGINES}
    else:
        results = {engine: _medians(runs[engine]) for engine in ENGINES}
    for engine in ENGINES[1:]:
        for figure, suffix in (("answered_per_second", ""), ("per_cpu_second", "_per_cpu")):
            ratios = [
                mine[figure] / sqlite[figure]
                for mine, sqlite in zip(runs[engine], runs["sqlite"], strict=True)
            ]
            results[f"{engine}_vs_sqlite{suffix}"] = round(statistics.median(ratios), 3)
    return results


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each numeric figure's median over the rounds, and every round's figures."""
    numbers = [k for k, v in runs[0].items() if isinstance(v, int | float)]
    return {k: round(statistics.median(r[k] for r in runs), 2) for k in numbers} | {"rounds": runs}


async def _throughput_of(
    pg: PostgresServer,
    workdir: Path,
    engine: str,
    graph_url: str,
    replies: Replies,
    seconds: float,
    texts: list[str],
) -> dict[str, Any]:
    """One engine's closed loop: a fresh store, one worker, 5 s of warm-up, then measured."""
    storage = str(workdir / "tanya.db") if engine == "sqlite" else pg.fresh_database()
    if engine == "postgresql":  # as durable as SQLite's WAL with synchronous=NORMAL
        pg.admin(f"ALTER DATABASE {storage.rsplit('/', 1)[1]} SET synchronous_commit = off")
    cluster = Cluster(workdir, storage, 1, graph_url)
    cluster.tanya("migrate")
    empty = store_bytes(storage)
    cluster.start()
    try:
        ready = await cluster.wait_until_ready()
        warm = await closed_loop(cluster, replies, texts, 5)
        bot = cluster.worker_pids()[0]
        # SQLite's work is in the bot; the idle cluster is not counted for it.
        server = [] if engine == "sqlite" else [server_pid(pg)]
        before = [cpu_seconds(bot), *map(cpu_seconds, server), time.process_time()]
        figures = await closed_loop(cluster, replies, texts, seconds)
        after = [cpu_seconds(bot), *map(cpu_seconds, server), time.process_time()]
        figures |= cpu_per_message(before, after, figures["answered"])
        figures |= ready | {"peak_memory_mb": memory_mb(bot)}
        figures["load_average"] = load_average()
    finally:
        cluster.stop()
    # The store's growth per message answered (question, reply, outbox row, index
    # entries), from 200 citizens: what docs/capacity.md's size per year uses.
    messages = warm["answered"] + figures["answered"]
    figures["store_bytes_per_message"] = round((store_bytes(storage) - empty) / messages)
    return figures


def cpu_per_message(before: list[float], after: list[float], answered: int) -> dict[str, float]:
    """CPU milliseconds per message answered of the bot, of the database server (when it
    is a process of its own), and of this benchmark (the simulated citizens and Graph API,
    the same for every engine: not counted), and messages per CPU-second of bot and server
    together: what a message costs whatever else shares the cores."""
    spent = [(a - b) * 1000 / max(answered, 1) for a, b in zip(after, before, strict=True)]
    bot, server, bench = spent[0], sum(spent[1:-1]), spent[-1]
    return {
        "bot_cpu_ms_per_message": round(bot, 2),
        "database_cpu_ms_per_message": round(server, 2),
        "bench_cpu_ms_per_message": round(bench, 2),
        "per_cpu_second": round(1000 / (bot + server), 1) if bot + server else 0.0,
    }


async def _post_until_taken(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> int:
    """POST as Facebook does: again after a second when it fails, up to 5 times; the
    number of attempts it took (0: never taken)."""
    for attempt in range(1, 6):
        try:
            async with session.post(url, data=body, headers=headers) as response:
                if response.status == 200:
                    return attempt
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(1)
    return 0


async def failover(
    pg: PostgresServer, base: Path, workers: int, rate: float, seconds: float, texts: list[str]
) -> dict[str, Any]:
    graph = GraphApi()
    graph.port = free_port()
    runner, graph_url = await start_graph(graph.messages, graph.port)
    cluster = Cluster(base / "failover", pg.fresh_database(), workers, graph_url)
    graph.pids = cluster.worker_pids
    cluster.start()
    rng = random.Random(17)
    attempts: list[int] = []
    sent_at: dict[str, float] = {}
    killed: dict[str, Any] = {}
    killed_at = 0.0
    try:
        ready = await cluster.wait_until_ready()
        print(f"  {workers} workers ready: {ready}", flush=True)
        pids_before = cluster.worker_pids()
        timeout = aiohttp.ClientTimeout(total=30)
        connector = aiohttp.TCPConnector(limit=300, force_close=True)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            url = f"{cluster.url}/webhooks/messenger"

            async def send(psid: str, text: str) -> None:
                body, headers = signed(psid, text, f"mid.{psid}")
                sent_at[psid] = time.perf_counter()
                attempts.append(await _post_until_taken(session, url, body, headers))

            total = int(rate * seconds)
            tasks = []
            started = time.perf_counter()
            for i in range(total):
                await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
                if i == total // 2:
                    victim = rng.choice(pids_before)
                    killed_at = time.perf_counter()
                    os.kill(victim, signal.SIGKILL)
                    killed = {"pid": victim, "at_message": i, "at_s": round(i / rate, 1)}
                    print(f"  SIGKILL worker {victim} at message {i}", flush=True)
                tasks.append(asyncio.create_task(send(f"f{i:06d}", rng.choice(texts))))
            await asyncio.gather(*tasks)
            offered = time.perf_counter() - started
        deadline = time.monotonic() + 120
        while len(graph.sent) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # late duplicates would arrive meanwhile
        pids_after = cluster.worker_pids()
        memory = {str(pid): memory_mb(pid) for pid in pids_after}
    finally:
        cluster.stop()
        await runner.cleanup()
    # "lost": not answered 120 s after the last webhook was taken (on an overloaded machine
    # some are merely late); a webhook the bot never took (5 tries) counts there too.
    answered = [p for p in sent_at if graph.sent.get(p)]
    twice = [p for p in answered if max(Counter(b for _, b, _ in graph.sent[p]).values()) > 1]
    kinds = doubles(graph, killed.get("pid", 0), killed_at) if killed else {}
    latencies = [graph.sent[p][0][0] - sent_at[p] for p in answered]
    calls = Counter(len(graph.sent[p]) for p in answered)
    restarted = "starting it again" in cluster.log.read_text(errors="replace")
    return {
        "workers": workers,
        "offered_per_second": rate,
        "seconds": seconds,
        "offered_in_s": round(offered, 1),
        "messages": len(sent_at),
        "killed": killed,
        "worker_started_again": restarted,
        "webhook_posts_needing_a_retry": sum(1 for a in attempts if a > 1),
        "webhook_posts_never_taken": sum(1 for a in attempts if a == 0),
        "lost": len(sent_at) - len(answered),
        "answered_twice": len(twice),
        "answered_twice_examples": twice[:5],
        # The same reply twice to one citizen, told apart from the stand-in's records of
        # which worker sent each copy and when: the killed worker's crash window
        # (documented at-least-once) or two live workers (a bug).
        "answered_twice_in_crash_window": len(kinds.get("crash_window", [])),
        "answered_twice_by_two_live_workers": len(kinds.get("two_live_workers", [])),
        "answered_twice_unattributed": len(kinds.get("unattributed", [])),
        "answered_twice_by_two_live_workers_examples": kinds.get("two_live_workers", [])[:5],
        # How many Send API calls the stand-in could attribute to a worker process.
        "send_api_calls_attributed": sum(
            1 for copies in graph.sent.values() for _, _, sender in copies if sender
        ),
        "send_api_calls": sum(len(copies) for copies in graph.sent.values()),
        "send_api_calls_per_message": {str(k): v for k, v in sorted(calls.items())},
        **percentiles(latencies),
        **ready,
        "peak_memory_mb_per_worker": memory,
        "load_average": load_average(),
    }


async def broadcast(
    pg: PostgresServer, base: Path, workers: int, recipients: int
) -> dict[str, Any]:
    emulator = Emulator(limits=True, global_limit=TELEGRAM_LIMIT, store_timeout=24 * 3600)
    database = pg.fresh_database()
    cluster = Cluster(base / "broadcast", database, workers, telegram_url=emulator.url)
    seed(database, recipients)
    cluster.start()
    stopped_early = ""
    try:
        await cluster.wait_until_ready()
        started = time.monotonic()
        announce(database)
        # Every recipient once takes recipients / 30 s at Telegram's limit; a bot sending
        # more than that (duplicates) is stopped at 1.5 times as long.
        deadline = started + recipients / TELEGRAM_LIMIT * 1.5 + 60
        while True:
            sent = await emulator.sent_messages()
            reached = len({m["chat_id"] for m in sent})
            if reached >= recipients:
                break
            if time.monotonic() > deadline:
                stopped_early = f"stopped after {time.monotonic() - started:.0f} s"
                break
            await asyncio.sleep(2)
        await asyncio.sleep(5)  # duplicates still on their way
        sent = await emulator.sent_messages()
        refused = await emulator.refused()
    finally:
        cluster.stop()
        emulator.stop()
    times = sorted(m["time"] for m in sent)
    counts = Counter(str(m["chat_id"]) for m in sent)
    span = (times[-1] - times[0]) / 1000 if len(times) > 1 else 0.0
    return {
        "workers": workers,
        "recipients": recipients,
        "messages_sent": len(sent),
        "recipients_reached": len(counts),
        "recipients_more_than_once": sum(1 for n in counts.values() if n > 1),
        "messages_per_second": round((len(times) - 1) / span, 1) if span else 0.0,
        "busiest_second": busiest_second(times),
        "too_many_requests_429": len(refused),
        "stopped_early": stopped_early,
        "load_average": load_average(),
    }


def _private_project(base: Path) -> tuple[Path, Path, Path]:
    faq, project = base / "faq", base / "rasa_project"
    shutil.copytree(ROOT / "faq", faq)
    shutil.copytree(ROOT / "rasa_project", project, ignore=shutil.ignore_patterns("models"))
    (project / "models").mkdir()
    model = project / "models" / "tanya.tar.gz"
    shutil.copy(MODEL, model)
    shutil.copy(MODEL.with_name(MODEL.name + ".json"), model.with_name(model.name + ".json"))
    return faq, project, model


def _new_entry(faq: Path) -> None:
    (faq / f"{NEW_ENTRY}.yml").write_text(
        f"""topic: {NEW_ENTRY}
title: {{id: Uji skala, en: Scale test}}
entries:
  - id: {NEW_ENTRY}
    questions:
      id:
        - {NEW_QUESTION}
        - kucing hitam di depan kantor kelurahan artinya apa
        - apa arti kucing hitam lewat di kelurahan
        - kucing hitam menyeberang jalan di depan kantor kelurahan
        - ada kucing hitam di kelurahan, pertanda buruk ga
      en:
        - a black cat crossed in front of the village office, what does it mean
        - black cat at the kelurahan office meaning
    answer:
      id: Kucing hitam tidak pertanda apa-apa. Layanan kelurahan tetap buka.
      en: A black cat means nothing. The village office stays open.
    source: Uji kinerja
    updated: 2026-12-07
""",
        encoding="utf-8",
    )


async def retrain(pg: PostgresServer, base: Path, workers: int) -> dict[str, Any]:
    workdir = base / "retrain"
    workdir.mkdir()
    faq, project, model = _private_project(workdir)
    cluster = Cluster(
        workdir, pg.fresh_database(), workers, faq_dir=faq, project_dir=project, model=model
    )
    cluster.tanya(
        "officials",
        "add",
        "bench",
        "--role",
        "admin",
        "--password-stdin",
        stdin=f"{PASSWORD}\n".encode(),
    )
    cluster.start()
    try:
        await cluster.wait_until_ready()
        _new_entry(faq)
        before = model.stat().st_mtime
        # Like a browser on localhost: the desk's Secure cookies over plain HTTP.
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[cluster.url])
        # One connection: the desk's pages and forms on one worker, as a browser's keep-alive.
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(
            base_url=cluster.url, cookie_jar=jar, connector=connector
        ) as desk:
            page = await (await desk.get("/desk/login")).text()
            csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            await desk.post(
                "/desk/login",
                data={"csrf": csrf, "name": "bench", "password": PASSWORD, "next": ""},
            )
            page = await (await desk.get("/desk/training")).text()
            csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            response = await desk.post("/desk/training", data={"csrf": csrf}, allow_redirects=False)
            if response.status != 303:
                raise RuntimeError(f"the desk refused the retraining: {response.status}")
            async with desk.get("/healthz") as r:  # the same connection: the same worker
                trained_on = int((await r.json())["pid"])
        deadline = time.monotonic() + 900
        while model.stat().st_mtime == before:
            if time.monotonic() > deadline:
                raise RuntimeError("the retraining did not write a model in 15 minutes")
            await asyncio.sleep(0.5)
        written = time.monotonic()
        print(f"  model written after retraining on worker {trained_on}", flush=True)
        new: dict[int, float] = {}
        seen: set[int] = set()
        wait_until = written + 120
        while len(new) < workers and time.monotonic() < wait_until:
            # One connection per look: /healthz says which worker, /api/ask on the same
            # connection what that worker answers.
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1), timeout=aiohttp.ClientTimeout(total=30)
            ) as session:
                async with session.get(f"{cluster.url}/healthz") as r:
                    pid = int((await r.json())["pid"])
                async with session.post(f"{cluster.url}/api/ask", json={"text": NEW_QUESTION}) as r:
                    decision = await r.json()
            seen.add(pid)
            if decision.get("faq_id") == NEW_ENTRY:
                new.setdefault(pid, time.monotonic() - written)
            await asyncio.sleep(0.1)
    finally:
        cluster.stop()
    return {
        "workers": workers,
        "retrained_on_worker": trained_on,
        "workers_seen": len(seen),
        "workers_answering_with_the_new_model": len(new),
        "seconds_after_the_model_was_written": {str(k): round(v, 1) for k, v in new.items()},
        "all_within_s": round(max(new.values()), 1) if len(new) == workers else None,
        "watched_for_s": 120,
        "load_average": load_average(),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    binaries = server_binaries()
    if binaries is None:
        raise SystemExit("PostgreSQL's server is not installed (scripts/test-deps.sh)")
    skip = {p.strip() for p in args.skip.split(",") if p.strip()}
    texts = questions()
    pg = PostgresServer(binaries, durable=True)
    pg.start()
    results: dict[str, Any] = {"command": " ".join(sys.argv), "cores": os.cpu_count()}
    # Another failover rate than the target's is kept beside it (a machine too small for
    # 100/s still shows whether a kill loses or doubles answers).
    failover_key = "failover" if args.rate == 100 else f"failover_{args.rate:g}_per_s"
    try:
        with tempfile.TemporaryDirectory(prefix="tanya-scale-") as directory:
            base = Path(directory)
            parts = {
                "throughput": lambda: throughput(
                    pg, base, args.throughput_seconds, texts, args.throughput_rounds
                ),
                failover_key: lambda: failover(
                    pg, base, args.workers, args.rate, args.seconds, texts
                ),
                "broadcast": lambda: broadcast(pg, base, args.workers, args.recipients),
                "retrain": lambda: retrain(pg, base, args.workers),
            }
            for name, run in parts.items():
                if name.split("_")[0] in skip:
                    continue
                print(f"{name}: {args.workers} workers where several", flush=True)
                try:
                    results[name] = await run()
                except Exception as exc:  # the other parts' figures are kept
                    results[name] = {"failed": f"{type(exc).__name__}: {exc}"}
                print(f"  {results[name]}", flush=True)
                save(args.out, results)  # each part as soon as it is measured
    finally:
        pg.stop()
    return results


def save(out: Path, results: dict[str, Any]) -> None:
    previous = json.loads(out.read_text()) if out.is_file() else {}
    out.write_text(json.dumps(previous | results, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--throughput-seconds", type=float, default=20)
    parser.add_argument(
        "--throughput-rounds", type=int, default=1, help="each engine this many times, turns"
    )
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--skip", default="", help=f"parts to skip, of {', '.join(PARTS)}")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not MODEL.is_file():
        raise SystemExit(f"no trained model at {MODEL}: run `tanya train` first")
    results = asyncio.run(main_async(args))
    print(json.dumps(results, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
