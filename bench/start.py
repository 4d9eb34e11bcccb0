"""Start-up benchmark (issue 17): seconds from `tanya run` to /healthz answering.

    .venv/bin/python bench/start.py [--repeats 5] [--workers 1,3] [--label NAME]
        [--against CHECKOUT]

Each run starts `tanya run` with the shipped config.yml (its FAQ, model and pipeline) on a
free port and polls /healthz until it answers: the bot then answers with its model; then
it asks one question on /api/ask (seconds from the start to that answer: the first
question pays for what the start left to it, e.g. the sentence encoder's session). The
store is a SQLite file made (and migrated) once beforehand, so each run is a restart, as
in a rolling restart; with ``--workers N`` above 1, a database on a throw-away PostgreSQL
(several workers need it), where the figures are seconds to the first worker answering
and to every worker answering. Each worker's "start-up took" line (bot/start_stages.py)
gives the breakdown: seconds per stage (imports, settings, FAQ, model, store, app, ...).
One more start under ``python -X importtime`` lists the imports that cost most.

``--against CHECKOUT`` also starts the bot from another checkout of the project (e.g. a
clone of main, for before/after), alternating with this one run by run, so that both are
measured at the same load. The machine's other work moves these figures a lot: the load
average is written beside each run. Figures are printed and written to
bench/results/start.json under ``--run`` (each checkout's under its ``--label``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scale import MODEL, Cluster, load_average, memory_mb  # noqa: E402
from tests.postgres import PostgresServer, server_binaries  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "start.json"
STAGES = re.compile(r"start-up took ([\d.]+) s since the process started \((.*)\)")
STAGE = re.compile(r"([a-z][a-z ]*) ([\d.]+) s")
QUESTION = "gmn cara bikin akta kelahiran anak sy"
IMPORT_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$")


def stage_lines(text: str) -> list[dict[str, Any]]:
    """Every "start-up took" line in a log: the total and each stage's seconds."""
    found = []
    for match in STAGES.finditer(text):
        stages = {name: float(seconds) for name, seconds in STAGE.findall(match.group(2))}
        found.append({"total_s": float(match.group(1)), "stages_s": stages})
    return found


def code_env(checkout: Path) -> dict[str, str]:
    """The environment that makes `python -m bot` run ``checkout``'s code (its folder ahead
    of the editable install on the import path)."""
    return {**os.environ, "PYTHONPATH": str(checkout)}


async def one_start(base: Path, storage: str, workers: int, checkout: Path) -> dict[str, Any]:
    cluster = Cluster(base, storage, workers)
    cluster.env |= code_env(checkout)
    before = cluster.log.stat().st_size if cluster.log.exists() else 0
    load = load_average()
    cluster.start()
    try:
        ready = await cluster.wait_until_ready()
        ready["first_answer_s"] = round(await first_answer(cluster), 1)
        # The worker writes its line as it starts serving: give it a moment to be flushed.
        deadline = time.monotonic() + 5
        lines: list[dict[str, Any]] = []
        while time.monotonic() < deadline and len(lines) < workers:
            lines = stage_lines(cluster.log.read_text(errors="replace")[before:])
            await asyncio.sleep(0.1)
        memory = [memory_mb(pid, "VmRSS") for pid in cluster.worker_pids()]
    finally:
        cluster.stop()
    return ready | {"workers": lines, "rss_mb_at_ready": memory, "load_average": load}


async def first_answer(cluster: Cluster) -> float:
    """Seconds from the start until a question sent once /healthz answers is answered
    (the first one pays for whatever the start left to the first message)."""
    url = f"{cluster.url}/api/ask"
    async with aiohttp.ClientSession() as session, session.post(url, json={"text": QUESTION}) as r:
        r.raise_for_status()
        assert (await r.json())["faq_id"], "the bot did not answer with its model"
    return time.monotonic() - cluster.started


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    first = [run["first_ready_s"] for run in runs]
    every = [run["all_ready_s"] for run in runs]
    answered = [run["first_answer_s"] for run in runs]
    stages: dict[str, list[float]] = {}
    for run in runs:
        for worker in run["workers"]:
            for name, seconds in worker["stages_s"].items():
                stages.setdefault(name, []).append(seconds)
    return {
        "first_ready_s": {"median": statistics.median(first), "max": max(first)},
        "all_ready_s": {"median": statistics.median(every), "max": max(every)},
        "first_answer_s": {"median": statistics.median(answered), "max": max(answered)},
        "stages_median_s": {name: round(statistics.median(s), 2) for name, s in stages.items()},
        "rss_mb_at_ready_median": statistics.median(
            mb for run in runs for mb in run["rss_mb_at_ready"]
        ),
        "load_average": [run["load_average"][0] for run in runs],
    }


def costly_imports(checkout: Path, base: Path, top: int = 15) -> list[dict[str, Any]]:
    """The top-level imports of one `tanya run` until ready (and the modules they pull in),
    by their cumulative seconds, from ``python -X importtime``."""
    cluster = Cluster(base, str(base / "tanya.db"), 1)
    cluster.env |= code_env(checkout) | {"PYTHONPROFILEIMPORTTIME": "1"}
    cluster.start()
    try:
        asyncio.run(cluster.wait_until_ready())
    finally:
        cluster.stop()
    found: list[dict[str, Any]] = []
    for line in cluster.log.read_text(errors="replace").splitlines():
        match = IMPORT_LINE.match(line)
        if match and not match.group(2).startswith(" "):  # imported by our code, not nested
            found.append({"module": match.group(2), "s": round(int(match.group(1)) / 1e6, 2)})
    found.sort(key=lambda entry: -entry["s"])
    return found[:top]


def measure(
    checkouts: dict[str, Path], workers: int, repeats: int, base: Path, pg: PostgresServer | None
) -> dict[str, Any]:
    stores = {}
    for name, checkout in checkouts.items():
        storage = pg.fresh_database() if pg else str(base / name / f"{workers}" / "tanya.db")
        cluster = Cluster(base / name / f"{workers}", storage, workers)
        cluster.env |= code_env(checkout)
        cluster.tanya("migrate")  # each run is a restart on a store already there
        stores[name] = storage
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in checkouts}
    for repeat in range(repeats):
        for name, checkout in checkouts.items():
            run = asyncio.run(
                one_start(base / name / f"{workers}", stores[name], workers, checkout)
            )
            runs[name].append(run)
            print(
                f"  {name}, {workers} worker(s), run {repeat + 1}: first {run['first_ready_s']} s,"
                f" all {run['all_ready_s']} s, load {run['load_average'][0]}",
                flush=True,
            )
    return {name: summary(r) | {"runs": r} for name, r in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", default="1,3", help="worker counts, comma-separated")
    parser.add_argument("--label", default="this", help="this checkout's name in the results")
    parser.add_argument("--against", type=Path, default=None, help="another checkout to time")
    parser.add_argument("--against-label", default="against")
    parser.add_argument("--run", default="latest", help="this run's key in the results file")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not MODEL.is_file():
        raise SystemExit(f"no trained model at {MODEL}: run `tanya train` first")
    checkouts = {args.label: ROOT}
    if args.against:
        checkouts[args.against_label] = args.against.resolve()
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    results: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "cores": os.cpu_count(),
        "load_average_at_start": load_average(),
        "commits": {name: _commit(path) for name, path in checkouts.items()},
    }
    pg = None
    with tempfile.TemporaryDirectory(prefix="tanya-start-") as directory:
        base = Path(directory)
        try:
            for workers in counts:
                if workers > 1 and pg is None:
                    binaries = server_binaries()
                    if binaries is None:
                        raise SystemExit("PostgreSQL's server is not installed (test-deps.sh)")
                    pg = PostgresServer(binaries, durable=True)
                    pg.start()
                print(f"{workers} worker(s), {args.repeats} starts each", flush=True)
                results[f"workers_{workers}"] = measure(
                    checkouts, workers, args.repeats, base, pg if workers > 1 else None
                )
            results["imports"] = {
                name: costly_imports(path, base / f"imports-{name}")
                for name, path in checkouts.items()
            }
        finally:
            if pg is not None:
                pg.stop()
    results["load_average_at_end"] = load_average()
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    previous[args.run] = results
    args.out.write_text(json.dumps(previous, indent=2) + "\n", encoding="utf-8")
    brief = {key: value for key, value in results.items() if key.startswith("workers_")}
    for per_count in brief.values():
        for figures in per_count.values():
            figures.pop("runs", None)
    print(json.dumps(brief | {"imports": results["imports"]}, indent=2))
    print(f"written to {args.out}")


def _commit(checkout: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


if __name__ == "__main__":
    main()
