"""Simulated load: the bot's own cost per interview, with the `claude` CLI replaced.

Runs the real bot (`python -m slackbot`, one or `--replicas` processes) against the fake
Slack of tests/fakes enforcing Slack's real rate limits, with every Claude session on
the scripted stand-in of benchmarks/standin.py (NEWSPEC_CLAUDE_TRANSPORT): no process
per interview, so what is measured is the bot. Each interview: /newspec in a channel of
its own, `--turns` answers each followed (after `--think` seconds) by a reply, then the
spec written with the Write tool and both files uploaded. Interviews start at
`--start-rate` a second. Prints, per interview and per turn:

- the bot's CPU seconds (user + system, from /proc) and its peak RSS (VmHWM);
- Slack calls by method and the 429s the fake answered;
- database round trips per turn: on PostgreSQL the statements the server ran for the
  bot's database (pg_stat_statements `calls`, BEGIN and COMMIT included) and its
  committed transactions (pg_stat_database); on SQLite not counted (no server to ask,
  and the bot has no counter for it);
- latencies: a reply -> the whole answer visible; /newspec -> both files uploaded;
- with `--kill-after S`, replica 0 is killed (SIGKILL) S seconds in: the leases the
  others took over (`newspec_lease_takeovers_total` from each survivor's /metrics), and
  whether any thread showed an answer or a file twice.

    .venv/bin/python benchmarks/simulate.py [--interviews 100] [--engine sqlite|postgres] [--replicas 1]
        [--kill-after SECONDS]

Not a test: it asserts nothing. The stand-in runs inside the bot's process, so its own
small cost (building the frames the CLI would send) is counted as the bot's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.load import ms, percentile, slack_limits  # noqa: E402
from benchmarks.sessions import wait_for  # noqa: E402
from benchmarks.standin import Script  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.postgres import SUPERUSER, PostgresServer  # noqa: E402

ASKS = "What next?"  # how each of the stand-in's answers ends
SCAN = 0.2  # seconds between looks at the fake Slack's messages
QUIET = {"apps.connections.open", "auth.test"}  # calls not made for interviews
_LOCK = "SELECT pg_advisory_xact_lock($1)"  # sent with its transaction's BEGIN (postgres_engine)


@dataclass
class Threads:
    """What each interview's thread shows, from one scan of the fake Slack for all of them."""

    slack: FakeSlack
    roots: dict[str, str] = field(default_factory=dict)  # channel -> root ts
    answers: Counter[str] = field(default_factory=Counter)  # root ts -> answers finished
    uploads: Counter[str] = field(default_factory=Counter)  # root ts -> files uploaded
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def watch(self) -> None:
        bot = self.slack.bot_user_id
        while True:
            answers: Counter[str] = Counter()
            for m in self.slack.messages:
                if m.user != bot:
                    continue
                if m.thread_ts is None:
                    self.roots.setdefault(m.channel, m.ts)
                elif m.stream_state != "streaming":
                    answers[m.thread_ts] += m.visible_text.count(ASKS)
            self.answers = answers
            self.uploads = Counter(u.thread_ts for u in self.slack.uploads if u.thread_ts)
            async with self.changed:
                self.changed.notify_all()
            await asyncio.sleep(SCAN)

    async def until(self, ready: Any, timeout: float) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(ready), timeout)


@dataclass
class Interview:
    name: str
    channel: str
    turns_done: int = 0
    reply_to_answer: list[float] = field(default_factory=list)
    to_uploaded: float | None = None
    error: str | None = None


async def interview(threads: Threads, slack: FakeSlack, n: int, script: Script, think: float,
                    timeout: float) -> Interview:
    it = Interview(f"sim{n}", f"CSIM{n}")
    started = time.monotonic()
    try:
        await slack.send_slash_command(it.name, user_id="U1", channel_id=it.channel, timeout=timeout)
        await threads.until(lambda: it.channel in threads.roots, timeout)
        root = threads.roots[it.channel]
        await threads.until(lambda: threads.answers[root] >= 1, timeout)
        it.turns_done = 1
        for turn in range(1, script.turns + 1):
            await asyncio.sleep(think)
            sent = time.monotonic()
            await slack.send_message(it.channel, "U1", f"Reply {turn} for {it.name}.", thread_ts=root,
                                     timeout=timeout)
            if turn < script.turns:
                await threads.until(lambda t=turn: threads.answers[root] >= t + 1, timeout)
                it.reply_to_answer.append(time.monotonic() - sent)
            else:
                await threads.until(lambda: threads.uploads[root] >= 2, timeout)
            it.turns_done += 1
        it.to_uploaded = time.monotonic() - started
    except Exception as exc:  # reported, not raised: the run's figures still count
        it.error = f"{type(exc).__name__} after {it.turns_done} turns"
    return it


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


class Database:
    """The bot's PostgreSQL database, on a server that counts statements per database."""

    def __init__(self) -> None:
        self.server = PostgresServer()
        self.url = ""

    async def start(self) -> None:
        server = self.server
        server.start()
        admin = await asyncpg.connect(server.url())
        await admin.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        await admin.close()
        # The log file again: without one the server would write to (and hold open) our pipe.
        server._run(str(server.programs / "pg_ctl"), "-D", str(server.folder / "data"), "-l",
                    str(server.folder / "server.log"), "-w", "-m", "fast", "restart")
        self.url = server.fresh_database()
        # Counted from the server's own database, which sees every database's statements.
        admin = await asyncpg.connect(server.url())
        await admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await admin.close()

    async def counts(self) -> tuple[int, int, int]:
        """(statements run, round trips, transactions committed) in the bot's database so far.
        Some queries hold several statements, one round trip: a write transaction's BEGIN
        and its lock; asyncpg's default reset of a connection given back to its pool (CLOSE
        ALL; pg_advisory_unlock_all(); RESET ALL; UNLISTEN *), which the store no longer runs."""
        name = self.url.rsplit("/", 1)[1]
        connection = await asyncpg.connect(self.server.url())
        try:
            statements = await connection.fetchval(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                "WHERE d.datname = $1 AND s.userid = (SELECT oid FROM pg_roles WHERE rolname = $2)", name, SUPERUSER)
            resets, locks = [await connection.fetchval(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                "WHERE d.datname = $1 AND s.query = $2", name, query) for query in ("UNLISTEN *", _LOCK)]
            commits = await connection.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = $1", name)
        finally:
            await connection.close()
        return int(statements), int(statements) - 3 * int(resets) - int(locks), int(commits)

    async def top_statements(self, count: int = 8) -> None:
        """The statements the bot ran most often, for where its round trips go."""
        connection = await asyncpg.connect(self.server.url())
        try:
            rows = await connection.fetch(
                "SELECT calls, query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                "WHERE d.datname = $1 ORDER BY calls DESC LIMIT $2", self.url.rsplit("/", 1)[1], count)
        finally:
            await connection.close()
        print("  most frequent statements:")
        for row in rows:
            print(f"  {row['calls']:8d}  {' '.join(row['query'].split())[:110]}")

    def stop(self) -> None:
        self.server.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Replica:
    process: asyncio.subprocess.Process
    metrics_port: int
    cpu_at_kill: float | None = None  # CPU seconds when it was killed (its /proc is gone after)

    def cpu(self) -> float:
        return self.cpu_at_kill if self.cpu_at_kill is not None else cpu_seconds(self.process.pid)

    async def metric(self, name: str) -> float | None:
        """A metric's value summed over its labels, from the replica's /metrics; None if dead."""
        if self.cpu_at_kill is not None:
            return None
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{self.metrics_port}/metrics") as got:
            text = await got.text()
        return sum(sample.value for family in text_string_to_metric_families(text)
                   for sample in family.samples if sample.name == name)


def bot_env(
    slack: FakeSlack, tmp: Path, replica: int, args: argparse.Namespace, database: str | None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NEWSPEC_"))}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        SLACK_BOT_TOKEN="xoxb-sim", SLACK_APP_TOKEN="xapp-sim", SLACK_API_URL=slack.api_url,
        GENERATIONS_DIR=str(tmp / "generations"), NEWSPEC_STATE_DIR=str(tmp / f"state{replica}"),
        NEWSPEC_MAX_LIVE_SESSIONS=str(args.interviews + 10), NEWSPEC_STARTS_PER_HOUR=str(args.interviews + 10),
        NEWSPEC_MESSAGES_PER_MINUTE="100000", NEWSPEC_CLAUDE_TRANSPORT="benchmarks.standin:make_transport",
        NEWSPEC_STANDIN_TURNS=str(args.turns), NEWSPEC_STANDIN_TOKENS=str(args.tokens),
        NEWSPEC_STANDIN_RATE=str(args.rate), LOG_LEVEL=args.log_level,
    )
    if database:
        env["NEWSPEC_DATABASE_URL"] = database
    return env


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="newspec-sim-"))
    (tmp / "generations").mkdir()
    script = Script(args.turns, args.tokens, args.rate)
    database = Database() if args.engine == "postgres" else None
    if database:
        await database.start()
    try:
        async with FakeSlack(rate_limits=slack_limits(), several_connections=args.replicas > 1) as slack:
            bots = []
            for k in range(args.replicas):
                port = free_port()
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "slackbot", "--metrics-port", str(port), cwd=REPO,
                    env=bot_env(slack, tmp, k, args, database.url if database else None))
                bots.append(Replica(process, port))
            try:
                await measure(args, slack, bots, database, script)
            finally:
                for bot in bots:
                    if bot.process.returncode is None:
                        bot.process.terminate()
                        await bot.process.wait()
    finally:
        if database:
            database.stop()


async def kill_later(bot: Replica, after: float) -> None:
    """kill -9 a replica mid-run: the others must take its threads over."""
    await asyncio.sleep(after)
    bot.cpu_at_kill = cpu_seconds(bot.process.pid)
    bot.process.send_signal(signal.SIGKILL)
    print(f"killed replica 0 (SIGKILL) {after:.0f} s into the run", flush=True)


async def measure(args: argparse.Namespace, slack: FakeSlack, bots: list[Replica],
                  database: Database | None, script: Script) -> None:
    """Run the interviews once every bot is connected; print what they cost."""
    await wait_for(lambda: slack.connections_opened >= args.replicas, timeout=60)
    await asyncio.sleep(1)
    before = [b.cpu() for b in bots]
    idle_rss = [rss_mib(b.process.pid) for b in bots]
    killer = asyncio.create_task(kill_later(bots[0], args.kill_after)) if args.kill_after is not None else None
    db_before = await database.counts() if database else None
    threads = Threads(slack)
    watcher = asyncio.create_task(threads.watch())
    started = time.monotonic()
    tasks = []
    for n in range(args.interviews):
        tasks.append(asyncio.create_task(interview(threads, slack, n, script, args.think, args.timeout)))
        await asyncio.sleep(1 / args.start_rate)
    done = await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    if killer is not None:
        killer.cancel()
    cpu = [b.cpu() - was for b, was in zip(bots, before, strict=True)]
    peak = [peak_rss_mib(b.process.pid) if b.cpu_at_kill is None else float("nan") for b in bots]
    db_after = await database.counts() if database else None
    await asyncio.sleep(2 * SCAN)  # the watcher's last look, for doubles
    watcher.cancel()
    report(args, done, elapsed, cpu, idle_rss, peak, slack, db_before, db_after)
    await report_replicas(args, bots, threads, done)
    if database:
        await database.top_statements()


def report(args: argparse.Namespace, done: list[Interview], elapsed: float, cpu: list[float],
           idle_rss: list[float], peak: list[float], slack: FakeSlack,
           db_before: tuple[int, int, int] | None, db_after: tuple[int, int, int] | None) -> None:
    finished = [i for i in done if i.to_uploaded is not None]
    turns = sum(i.turns_done for i in done)
    calls = [c for c in slack.calls if c.method not in QUIET]
    print(f"machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}; engine {args.engine}; "
          f"{args.replicas} replica(s); claude replaced by benchmarks/standin.py")
    print(f"interviews: {len(done)} started at {args.start_rate}/s, {len(finished)} finished (both files uploaded), "
          f"{turns} turns answered; answers of {args.tokens} tokens at {args.rate:.0f} tokens/s, "
          f"{args.turns} replies each, {args.think:.0f} s think time; wall {elapsed:.0f} s")
    for reason, count in Counter(i.error for i in done if i.error).items():
        print(f"  not finished: {count} x {reason}")
    print("\nbot process(es):")
    for k, (seconds, idle, high) in enumerate(zip(cpu, idle_rss, peak, strict=True)):
        print(f"  replica {k}: CPU {seconds:.1f} s ({seconds / elapsed:.0%} of one core over the run); "
              f"RSS idle {idle:.0f} MiB, peak {high:.0f} MiB")
    total_cpu = sum(cpu)
    growth = sum(high - idle for high, idle in zip(peak, idle_rss, strict=True) if high == high)  # nan: killed
    print(f"  per interview: CPU {total_cpu / len(done) * 1000:.0f} ms, "
          f"peak RSS growth {growth / len(done) * 1024:.0f} KiB")
    print(f"  per turn:      CPU {total_cpu / max(1, turns) * 1000:.1f} ms")
    print(f"\nSlack: {len(calls)} calls ({len(calls) / max(1, turns):.1f} per turn), "
          f"429s: {len(slack.rate_limited)}")
    for method, count in sorted(Counter(c.method for c in calls).items()):
        print(f"  {method:<28} {count:6d}  {count / max(1, turns):6.2f}/turn")
    if db_before and db_after:
        statements, trips, commits = (after - was for after, was in zip(db_after, db_before, strict=True))
        print(f"\ndatabase (PostgreSQL, from pg_stat_statements and pg_stat_database; BEGIN/COMMIT included):\n"
              f"  round trips {trips} ({trips / max(1, turns):.1f} per turn, {trips / len(done):.0f} per interview; "
              f"a pool reset is one)\n  statements {statements} ({statements / max(1, turns):.1f} per turn), "
              f"transactions committed {commits} ({commits / max(1, turns):.1f} per turn)")
    else:
        print("\ndatabase (SQLite): round trips not counted (no server to ask; the bot has no counter)")
    replies = [t for i in done for t in i.reply_to_answer]
    if replies:
        print(f"\nreply -> whole answer visible: p50 {ms(percentile(replies, 50))}, p99 {ms(percentile(replies, 99))}"
              f" (streaming the answer alone takes {args.tokens / args.rate * 1000:,.0f} ms)")
    if finished:
        whole = [i.to_uploaded for i in finished if i.to_uploaded is not None]
        print(f"/newspec -> both files uploaded: p50 {percentile(whole, 50):.1f} s, p99 {percentile(whole, 99):.1f} s")


async def report_replicas(args: argparse.Namespace, bots: list[Replica], threads: Threads,
                          done: list[Interview]) -> None:
    """Leases taken over (from the survivors' /metrics) and threads that showed anything twice."""
    takeovers = [await b.metric("newspec_lease_takeovers_total") for b in bots]
    if args.replicas > 1:
        print("\nleases taken over: " + ", ".join(
            f"replica {k} {'killed' if n is None else f'{n:.0f}'}" for k, n in enumerate(takeovers)))
    roots = [threads.roots[i.channel] for i in done if i.channel in threads.roots]
    twice = [r for r in roots if threads.answers[r] > args.turns or threads.uploads[r] > 2]
    print(f"threads with an answer or a file shown twice: {len(twice)} of {len(roots)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--interviews", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--turns", type=int, default=3, help="replies before the spec is written")
    parser.add_argument("--tokens", type=int, default=150, help="tokens per answer")
    parser.add_argument("--rate", type=float, default=50.0, help="tokens a second")
    parser.add_argument("--think", type=float, default=5.0, help="seconds before each reply")
    parser.add_argument("--start-rate", type=float, default=2.0, help="interviews started a second")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds any one step may take")
    parser.add_argument("--log-level", default="WARNING", help="the bots' LOG_LEVEL (their log goes to stderr)")
    parser.add_argument("--kill-after", type=float, default=None, help="kill -9 replica 0 this many seconds in")
    args = parser.parse_args()
    if args.replicas > 1 and args.engine != "postgres":
        parser.error("replicas share a PostgreSQL database: add --engine postgres")
    if args.kill_after is not None and args.replicas < 2:
        parser.error("--kill-after needs another replica to take over: add --replicas 2 or more")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
