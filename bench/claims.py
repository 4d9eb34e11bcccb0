"""What sharing the outbox costs: replies drained per second by 1 and by 3 workers, on
SQLite and on PostgreSQL, in one run.

    .venv/bin/python bench/claims.py                  # 3,000 replies to 300 citizens
    .venv/bin/python bench/claims.py --replies 6000 --workers 1,2,3

Each worker is a thread with its own event loop, `Store` (its own connection or pool) and
`Dispatcher`, as a process would have; the channel answers at once, so what is measured
is the store's side of a send (next_for, the claim, finish) and the dispatcher's. The
replies are queued first (interleaved over the citizens, as a busy bot queues them), then
the workers start and the clock runs until the last one is recorded as sent. Checked on
every run: each reply sent once, in order per citizen. PostgreSQL is a throw-away cluster
on loopback (tests/postgres.py: no fsync, so commits cost what SQLite's NORMAL sync costs
here: no disk flush). Threads share one interpreter: 3 workers here show the contention
in the database, not 3 processes' CPU. Figures are printed and written to
bench/results/claims.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.dispatch import Dispatcher  # noqa: E402
from bot.core.messages import Delivery, DeliveryState, Reply, replies_to_json  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.postgres import PostgresServer, server_binaries  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "claims.json"


class InstantChannel:
    reply_window: timedelta | None = None

    def __init__(self, sent: list[tuple[str, str]]) -> None:
        self.sent = sent

    async def send(
        self, citizen: str, replies: list[Reply], skip: int = 0, **_: object
    ) -> Delivery:
        await asyncio.sleep(0)
        self.sent.extend((citizen, r.text) for r in replies[skip:])
        return Delivery(DeliveryState.SENT, parts=len(replies) - skip)

    async def deliver_official(
        self,
        citizen: str,
        replies: list[Reply],
        last_inbound: object,
        skip: int = 0,
        **_: object,
    ) -> Delivery:
        return await self.send(citizen, replies, skip)


def queue(url: str, replies: int, citizens: int) -> dict[str, list[str]]:
    store = Store.open(url)
    expected: dict[str, list[str]] = {}
    for n in range(replies):
        citizen = store.citizen("bench", f"c{n % citizens}")
        saved = store.save_incoming(citizen.id, f"m{n}", "text", "tanya")
        text = f"jawaban {n}"
        store.queue_reply(saved.id, citizen.id, text, None, replies_to_json([Reply(text)]))
        expected.setdefault(f"c{n % citizens}", []).append(text)
    store.close()
    return expected


def drain(url: str, workers: int, total: int) -> tuple[float, list[tuple[str, str]]]:
    sent: list[tuple[str, str]] = []
    ready = threading.Barrier(workers + 1)

    def work() -> None:
        store = Store.open(url)

        async def run() -> None:
            dispatcher = Dispatcher(
                store, {"bench": InstantChannel(sent)}, sweep_every=1.0, alone=False
            )
            ready.wait()
            dispatcher.start()
            while len(sent) < total:
                await asyncio.sleep(0.01)
            await dispatcher.stop()

        asyncio.run(run())
        store.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", type=int, default=3000)
    parser.add_argument("--citizens", type=int, default=300)
    parser.add_argument("--workers", default="1,3")
    args = parser.parse_args()
    binaries = server_binaries()
    if binaries is None:
        sys.exit("PostgreSQL's server binaries are missing: run scripts/test-deps.sh")
    server = PostgresServer(binaries)
    server.start()
    runs = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for workers in (int(w) for w in args.workers.split(",")):
                for engine in ("sqlite", "postgresql"):
                    url = (
                        str(Path(scratch) / f"claims-{workers}.db")
                        if engine == "sqlite"
                        else server.fresh_database()
                    )
                    expected = queue(url, args.replies, args.citizens)
                    seconds, sent = drain(url, workers, args.replies)
                    got: dict[str, list[str]] = {}
                    for citizen, text in sent:
                        got.setdefault(citizen, []).append(text)
                    run = {
                        "engine": engine,
                        "workers": workers,
                        "replies": args.replies,
                        "seconds": round(seconds, 2),
                        "replies_per_second": round(args.replies / seconds, 1),
                        "each_once_in_order": got == expected,
                    }
                    print(json.dumps(run), flush=True)
                    runs.append(run)
    finally:
        server.stop()
    result = {"load_average": list(os.getloadavg()), "runs": runs}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
