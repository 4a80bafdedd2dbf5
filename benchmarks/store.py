"""The state store's cost per turn on each engine, and how far one database goes.

One interview turn, as the store sees it, is the reply path and the turn's end: a reply
accepted (dedupe keys, the row), read back with the thread's pending replies, carried
(marked sent), the turn's spend added, the interview updated, and the carried replies
removed. This runs that sequence for W writers at once (each its own thread), on SQLite
and on PostgreSQL (a real server started as tests/postgres.py does), with 1 and with 4
stores sharing the PostgreSQL database (as replicas would), and prints per engine:
turns a second, the turn's latency p50/p99, and its store calls and round trips.

    .venv/bin/python benchmarks/store.py [--turns 200] [--writers 1,10,50]

Not a test: it asserts nothing and prints figures. Every write transaction on
PostgreSQL holds one advisory lock (postgres_engine.WRITE_LOCK), as SQLite has one
writer per file: the figures show what that costs and where it saturates.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slackbot.store import InterviewRecord, PostgresStore, SqliteStore, StateStore
from tests.postgres import PostgresServer

# Store calls one turn makes here (accept, pending, carry, spend, update, remove).
CALLS_PER_TURN = 6


async def one_turn(store: StateStore, channel: str, thread_ts: str, n: int) -> float:
    started = time.perf_counter()
    reply = await store.accept_reply(channel, thread_ts, "U1", f"answer {n}", f"{n}.5", f"Ev-{channel}-{n}")
    assert reply is not None
    pending = await store.pending_replies(channel, thread_ts)
    await store.carry([r.id for r in pending], "")
    await store.add_spend(channel, thread_ts, "U1", "2026-12-04", 0.01)
    await store.update_interview(channel, thread_ts, model_turns=n)
    await store.remove_replies([r.id for r in pending])
    return time.perf_counter() - started


async def run(stores: list[StateStore], writers: int, turns: int, tag: str) -> list[float]:
    for k in range(writers):
        await stores[k % len(stores)].add_interview(InterviewRecord(f"C{tag}{k}", "1.0", f"p{tag}{k}", "U1"))

    async def writer(k: int) -> list[float]:
        store = stores[k % len(stores)]
        return [await one_turn(store, f"C{tag}{k}", "1.0", n) for n in range(turns // writers or 1)]

    began = time.perf_counter()
    latencies = [t for ts in await asyncio.gather(*(writer(k) for k in range(writers))) for t in ts]
    elapsed = time.perf_counter() - began
    p = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    print(
        f"  {writers:>3} writers: {len(latencies) / elapsed:7.0f} turns/s   "
        f"turn p50 {p[49] * 1000:6.1f} ms  p99 {p[98] * 1000:6.1f} ms   "
        f"({CALLS_PER_TURN} store calls a turn)"
    )
    return latencies


async def main(turns: int, sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        print("SQLite (one process):")
        store = SqliteStore(Path(folder) / "state.db")
        await store.open()
        for writers in sizes:
            await run([store], writers, turns, f"s{writers}-")
        await store.close()
    server = PostgresServer(durable=True)  # commits reach the disk, as SQLite's do here
    server.start()
    try:
        for replicas in (1, 4):
            url = server.fresh_database()
            print(f"PostgreSQL ({replicas} store{'s' if replicas > 1 else ''} on one database, as replicas):")
            stores: list[StateStore] = [PostgresStore(url) for _ in range(replicas)]
            for each in stores:
                await each.open()
            before = await commits(url)
            for writers in sizes:
                await run(stores, writers, turns, f"p{replicas}-{writers}-")
            total = sum(turns // w * w for w in sizes)
            print(f"  database transactions per turn: {(await commits(url) - before) / total:.1f}")
            for each in stores:
                await each.close()
    finally:
        server.stop()


async def commits(url: str) -> int:
    """Transactions the server committed in this database (pg_stat_database)."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        return int(await connection.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ))
    finally:
        await connection.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200, help="turns per size")
    parser.add_argument("--writers", default="1,10,50", help="writers at once, comma-separated")
    args = parser.parse_args()
    asyncio.run(main(args.turns, [int(w) for w in args.writers.split(",")]))
