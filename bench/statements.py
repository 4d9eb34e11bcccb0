"""What one answered message costs PostgreSQL: statements, transactions and commits.

    .venv/bin/python bench/statements.py [--seconds 15] [--synchronous-commit-off]
        [--py-spy OUT.raw]

One worker on a throw-away PostgreSQL (with pg_stat_statements loaded) under
bench/scale.py's closed loop (200 simulated Messenger citizens, signed webhooks); after a
5 s warm-up the statistics are reset, and at the end each statement's calls per answered
message are printed, with the database's commits (``pg_stat_database.xact_commit``, every
autocommitted statement counting as one) per message, and the CPU milliseconds per
message of the worker and of each kind of PostgreSQL process (the worker's connections,
the WAL writer, autovacuum, ...: where the server's share goes). ``--py-spy`` also records the
worker meanwhile (py-spy from PyPI; ``-f raw``: collapsed stacks), to see where its event
loop waits. Issue 17's measurement for "PostgreSQL per core within 25 % of SQLite".
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scale import (  # noqa: E402
    Cluster,
    Replies,
    children,
    closed_loop,
    cpu_seconds,
    load_average,
    questions,
    server_pid,
    start_graph,
)
from tests.postgres import PostgresServer, server_binaries  # noqa: E402

COMMITS = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
TOP = (
    "SELECT calls, round((total_exec_time * 1000 / calls)::numeric), "
    "left(regexp_replace(query, '\\s+', ' ', 'g'), 100) FROM pg_stat_statements "
    "WHERE query NOT LIKE '%pg_stat%' ORDER BY calls DESC LIMIT 40"
)


def server_cpu(pg: PostgresServer) -> dict[str, float]:
    """CPU seconds so far per kind of server process: the postmaster (with the processes
    that ended), and each child by its title without the client's address ("postgres:
    walwriter", "postgres: tanya test_1 127.0.0.1(5432) idle" -> "tanya test_1")."""
    postmaster = server_pid(pg)
    spent = {"postmaster and ended processes": cpu_seconds(postmaster)}
    for pid in children(postmaster):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        kind = " ".join(title.removeprefix("postgres: ").split()[:2])
        child = cpu_seconds(pid)
        spent[kind] = spent.get(kind, 0.0) + child
        spent["postmaster and ended processes"] -= child
    return spent


def restart_with_statements(pg: PostgresServer) -> None:
    pg.admin("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    # With a log file: else the new server keeps pg_ctl's output pipe open.
    log = str(pg.folder / "server.log")
    pg._run(str(pg.binaries / "pg_ctl"), "-D", str(pg.data), "-l", log, "-w", "restart")


async def measure(pg: PostgresServer, args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    replies = Replies()
    runner, graph_url = await start_graph(replies.messages)
    try:
        with tempfile.TemporaryDirectory(prefix="tanya-statements-") as directory:
            storage = pg.fresh_database()
            if args.synchronous_commit_off:
                pg.admin(f"ALTER DATABASE {storage.rsplit('/', 1)[1]} SET synchronous_commit = off")
            cluster = Cluster(Path(directory), storage, 1, graph_url)
            cluster.tanya("migrate")
            cluster.start()
            try:
                await cluster.wait_until_ready()
                texts = questions()
                await closed_loop(cluster, replies, texts, 5)
                with psycopg.connect(storage, autocommit=True) as conn:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                    conn.execute("SELECT pg_stat_statements_reset()")
                    before = conn.execute(COMMITS).fetchone()
                worker = cluster.worker_pids()[0]
                cpu_before = server_cpu(pg) | {"worker": cpu_seconds(worker)}
                spy = None
                if args.py_spy:
                    command = [shutil.which("py-spy") or str(ROOT / ".venv/bin/py-spy"), "record"]
                    command += ["-p", str(cluster.worker_pids()[0]), "-d", str(int(args.seconds))]
                    command += ["-r", "50", "-f", "raw", "-o", str(args.py_spy), "--nonblocking"]
                    spy = subprocess.Popen(
                        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                    )
                figures = await closed_loop(cluster, replies, texts, args.seconds)
                cpu_after = server_cpu(pg) | {"worker": cpu_seconds(worker)}
                if spy is not None:
                    spy.wait()
                with psycopg.connect(storage, autocommit=True) as conn:
                    after = conn.execute(COMMITS).fetchone()
                    top = conn.execute(TOP).fetchall()  # type: ignore[arg-type]
            finally:
                cluster.stop()
    finally:
        await runner.cleanup()
    answered = figures["answered"]
    assert before is not None and after is not None
    return figures | {
        "load_average": load_average(),
        "commits_per_message": round((after[0] - before[0]) / answered, 2),
        "statements_per_message": round(sum(calls for calls, _, _ in top) / answered, 2),
        "per_message": [(round(calls / answered, 2), us, query) for calls, us, query in top],
        "cpu_ms_per_message": {
            kind: round((spent - cpu_before.get(kind, 0.0)) * 1000 / answered, 2)
            for kind, spent in cpu_after.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--synchronous-commit-off", action="store_true")
    parser.add_argument("--py-spy", type=Path, default=None, help="record the worker here")
    args = parser.parse_args()
    binaries = server_binaries()
    if binaries is None:
        raise SystemExit("PostgreSQL's server is not installed (scripts/test-deps.sh)")
    pg = PostgresServer(binaries, durable=True)
    pg.start()
    try:
        restart_with_statements(pg)
        result = asyncio.run(measure(pg, args))
    finally:
        pg.stop()
    print("calls/message  µs each (server execution)  statement")
    for calls, us, query in result.pop("per_message"):
        print(f"{calls:6.2f}  {us:6}  {query}")
    print(result)


if __name__ == "__main__":
    main()
