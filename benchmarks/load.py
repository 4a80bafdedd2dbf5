"""Load: many interviews streaming at once, within Slack's rate limits.

Runs the real bot (`python -m slackbot`, real `claude` CLIs) against the loopback
fakes in tests/fakes, with the fake Slack enforcing Slack's documented rate tiers
(per minute, per workspace; one new message a second per channel) and
the fake model streaming about 50 tokens a second per thread. Prints:

- per size (1, 10, 50 interviews streaming): slash-command ack latency p50/p99,
  Slack writes per answered turn, and "whole answer visible" (the answer's last
  token in Slack, after the model emitted it) p50/p99;
- per size, for the readers of a thread who are not a stream's recipient (they see
  only its first words until it is stopped): the share of answers streamed, stop lag
  (last words written -> chat.stopStream answered), how long others saw only the first
  words (start -> stop answered), and "whole for everyone" (the last token visible to
  every reader, after the model emitted it) p50/p99;
- per size, the writes per answered turn by kind (posts, updates, deletes, stream
  calls), how many turns deleted a message, and "settled" (the thread's last write,
  after the model's last token: a status line's removal, a stream's stop) p50/p99;
- time from /newspec to the first message in the thread, and to the first words;
- relay lag, model token emitted -> the text visible in Slack, p50/p99;
- Slack calls per answered turn by method, the most chat.update calls any one
  message got in a second, and the number of 429s;
- RSS of the bot plus its children at 0, 50 live and 50 evicted sessions.

    .venv/bin/python benchmarks/load.py [--sizes 1,10,50] [--replicas 2] [--database postgres]

`--replicas N` runs N bot processes on one PostgreSQL database (a real server started
as tests/postgres.py does, durable: fsync on), each with a state folder of its own and
a Socket Mode connection of its own (the fake hands envelopes to them in turn), sharing
the generations folder and Slack's budget; `--database postgres` runs one on it. RSS is
the sum over the replicas.

Not a test: it asserts nothing. Each interview gets its own channel (the
per-channel post limit would otherwise dominate, see the scheduler tests).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.sessions import tree_rss_mib, wait_for
from slackbot.slack.scheduler import DEFAULT_PER_MINUTE
from tests.fakes import anthropic as fa
from tests.fakes.slack import ApiCall, EnforcedLimits, FakeSlack
from tests.postgres import PostgresServer

TOKENS = 150  # per answer; ~3 s at 50 tokens/s
OTHER = "U2"  # a reader of every thread who is not the recipient of its streams (U1 starts them)
IDLE_MINUTES = 0.5
SETTLE = 5.0  # seconds given to a size's background writes before they are counted
# The kinds of Slack write a turn makes, by method.
WRITE_KINDS = {
    "posts": ("chat.postMessage",),
    "updates": ("chat.update",),
    "deletes": ("chat.delete",),
    "streams": ("chat.startStream", "chat.appendStream", "chat.stopStream"),
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def ms(value: float) -> str:
    return f"{value * 1000:,.0f} ms"


def answer_for(name: str) -> str:
    # Fixed-width tokens ("s10n3_0007 "), one per streamed chunk, so each can be traced.
    return "".join(f"{name}_{i:04d} " for i in range(TOKENS))


def token_width(name: str) -> int:
    return len(f"{name}_0000 ")


def slack_limits() -> EnforcedLimits:
    per_window = {m: n for m, n in DEFAULT_PER_MINUTE.items() if m != "files.upload"}
    return EnforcedLimits(per_window, window=60.0, channel_interval=1.0)


def replicas_rss(bots: list[asyncio.subprocess.Process]) -> tuple[float, int]:
    sizes = [tree_rss_mib(bot.pid) for bot in bots]
    return sum(mib for mib, _ in sizes), sum(count for _, count in sizes)


async def run(sizes: list[int], replicas: int, database: str) -> None:
    server = None
    if replicas > 1 or database == "postgres":
        server = PostgresServer(durable=True)
        server.start()
    try:
        await measure(sizes, replicas, server.fresh_database() if server else None)
    finally:
        if server is not None:
            server.stop()


async def measure(sizes: list[int], replicas: int, database_url: str | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="newspec-load-"))
    for var in fa.PROXY_VARS:
        os.environ.pop(var, None)
    fake_slack = FakeSlack(rate_limits=slack_limits(), several_connections=replicas > 1)
    async with fa.FakeAnthropic() as model, fake_slack as slack:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NEWSPEC_"))}
        env.update(fa.cli_env(model.base_url, tmp))
        env.update(
            SLACK_BOT_TOKEN="xoxb-load", SLACK_APP_TOKEN="xapp-load", SLACK_API_URL=slack.api_url,
            GENERATIONS_DIR=str(tmp / "generations"), NEWSPEC_STATE_DIR=str(tmp / "state"),
            NEWSPEC_MAX_LIVE_SESSIONS=str(max(sizes) + 10), NEWSPEC_IDLE_MINUTES=str(IDLE_MINUTES),
            NEWSPEC_STARTS_PER_HOUR=str(sum(sizes)),  # every interview is started by U1
            LOG_LEVEL="WARNING",
        )
        if os.environ.get("LOAD_CLI_NICE"):
            env["NEWSPEC_CLI_NICE"] = os.environ["LOAD_CLI_NICE"]
        if database_url:
            env["NEWSPEC_DATABASE_URL"] = database_url
            (tmp / "generations").mkdir()
        bots = []
        for n in range(replicas):  # one after another: each waits for the others to count it
            own = {**env, "NEWSPEC_STATE_DIR": str(tmp / f"state{n}")} if replicas > 1 else env
            bots.append(await asyncio.create_subprocess_exec(sys.executable, "-m", "slackbot", env=own))
            await wait_for(lambda n=n: slack.connections_opened > n, timeout=60)
        await asyncio.sleep(1)
        rss = [("0 sessions", *replicas_rss(bots))]
        rows = []
        harness: list[tuple[int, float, float, float]] = []  # per size: this process's loop lag
        reader_rows: list[tuple[int, float, list[float], list[float], list[float]]] = []
        kinds: list[tuple[int, dict[str, float], int, float, float]] = []
        all_names: list[str] = []
        phases: list[tuple[int, list[tuple[str, list[float]]]]] = []  # per size: acks by phase
        first_message: list[float] = []
        first_words: list[float] = []
        first_token: list[float] = []  # the model's first token (CLI start + model), for comparison

        for size in sizes:
            names = [f"s{size}n{n}" for n in range(size)]
            all_names += names
            for name in names:
                steps = [fa.text(answer_for(name), chunk_size=token_width(name), delay=0.02)]
                model.script(str(tmp / "generations" / name), steps)
            started: dict[str, float] = {}
            for n, name in enumerate(names):
                started[name] = time.time()
                await slack.send_slash_command(name, channel_id=f"C{size}X{n}")
            # While they stream, probe how fast commands are acked, and how late this process's
            # own loop runs (the fakes live here: their lag is in every ack measured).
            acks: list[float] = []
            probe_times: list[float] = []  # when each probe was sent (wall clock)
            lag = LoopLag()
            sampling = asyncio.create_task(lag.sample())
            live_measured = size != max(sizes)
            model_done = lambda names=names: all(  # noqa: E731
                any(text.startswith(f"{name}_{TOKENS - 1:04d}") for _, text, _ in model.emitted) for name in names
            )
            done = lambda names=names, size=size: all(  # noqa: E731  (as a reader the stream isn't for sees it)
                answer_for(name) in slack.thread_text(f"C{size}X{n}", root_of(slack, name) or "-", viewer=OTHER)
                for n, name in enumerate(names)
            )
            # Whether all are done is a scan of every message: looked at once a second, not
            # after each probe (20 scans a second took CPU the bots compete for).
            looked = time.monotonic()
            while time.monotonic() - looked < 1.0 or not done():
                if time.monotonic() - looked >= 1.0:
                    looked = time.monotonic()
                    if not live_measured and model_done():  # every session has a live CLI now
                        rss.append((f"{size} sessions live", *replicas_rss(bots)))
                        live_measured = True
                probe_times.append(time.time())
                delivery = await slack.send_slash_command("help", channel_id="CPROBE")
                acks.append(delivery.latency)
                await asyncio.sleep(0.05)
            sampling.cancel()
            size_first_tokens = []
            for name in names:
                first_message.append(first_call_time(slack, root_of(slack, name)) - started[name])
                first_words.append(first_text_time(slack, f"{name}_0000") - started[name])
                size_first_tokens.append(min(at for _, text, at in model.emitted if text.startswith(f"{name}_0000")))
                first_token.append(size_first_tokens[-1] - started[name])
            channels = {f"C{size}X{n}" for n in range(size)}
            writes = len(slack_writes(slack, channels))
            whole = whole_answer_visible(model, slack, names)
            await asyncio.sleep(SETTLE)  # background writes (a stream's stop, a status line's removal) land
            settled = thread_settled(model, slack, names, size)
            kinds.append((size, writes_by_kind(slack, channels, size), deleting_turns(slack, channels),
                          percentile(settled, 50), percentile(settled, 99)))
            rows.append((size, percentile(acks, 50), percentile(acks, 99), len(acks), writes / size,
                         percentile(whole, 50), percentile(whole, 99)))
            harness.append((size, percentile(lag.late, 50), percentile(lag.late, 99), max(lag.late)))
            reader_rows.append((size, *readers_view(model, slack, names, size)))
            phases.append((size, ack_phases(probe_times, acks, min(started.values()), max(size_first_tokens))))

        # Idle sessions close their CLI after NEWSPEC_IDLE_MINUTES.
        try:
            await wait_for(lambda: replicas_rss(bots)[1] == replicas, timeout=IDLE_MINUTES * 60 + 90)
        except TimeoutError:
            pass
        rss.append((f"{max(sizes)} sessions evicted", *replicas_rss(bots)))
        for bot in bots:
            bot.terminate()
            await bot.wait()

        lags = relay_lags(model, slack)
        per_method = Counter(c.method for c in slack.calls if c.method.startswith(("chat.", "files.")))
        turns = len(all_names)
        update_rate = max_updates_per_second(slack)

    python = sys.version.split()[0]
    print(f"machine: {os.cpu_count()} cores; Python {python}; answers of {TOKENS} tokens at ~50 tokens/s")
    store = "SQLite" if database_url is None else "PostgreSQL (durable, on this machine)"
    print(f"{replicas} bot process{'es' if replicas > 1 else ''} on {store}")
    print("\nper size: slash-command ack latency while N interviews stream; Slack writes per turn;")
    print_size_rows(rows)
    print("this process's own loop lag meanwhile (the fakes' share of each ack), p50 / p99 / max:")
    for size, p50, p99, most in harness:
        print(f"{size:>4} {ms(p50):>11} {ms(p99):>11} {ms(most):>11}")
    print_ack_phases(phases)
    print_reader_rows(reader_rows)
    print_kind_rows(kinds)
    print(f"\n/newspec -> first message in the thread: p50 {ms(percentile(first_message, 50))}, "
          f"p99 {ms(percentile(first_message, 99))}, max {ms(max(first_message))}")
    print(f"/newspec -> first words of the answer:   p50 {ms(percentile(first_words, 50))}, "
          f"p99 {ms(percentile(first_words, 99))}, max {ms(max(first_words))}")
    print(f"/newspec -> model's first token:         p50 {ms(percentile(first_token, 50))}, "
          f"p99 {ms(percentile(first_token, 99))} (claude CLI start and the fake model)")
    print(f"relay lag, token emitted -> visible:     p50 {ms(percentile(lags, 50))}, "
          f"p99 {ms(percentile(lags, 99))} (n={len(lags)})")
    print(f"\nSlack calls per answered turn ({turns} turns):")
    for method, count in sorted(per_method.items()):
        print(f"  {method:<34} {count / turns:6.2f}")
    print(f"most chat.update calls on one message in any 1 s: {update_rate}")
    print(f"429 responses: {len(slack.rate_limited)}")
    print("\nbot + children RSS")
    for label, mib, processes in rss:
        print(f"  {label:<22} {mib:8,.0f} MiB  ({processes} processes)")


class LoopLag:
    """How late this process's event loop wakes a task that sleeps a short tick."""

    TICK = 0.01

    def __init__(self) -> None:
        self.late: list[float] = [0.0]

    async def sample(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(self.TICK)
            self.late.append(max(0.0, time.perf_counter() - asked - self.TICK))


def print_size_rows(rows: list[tuple[int, float, float, int, float, float, float]]) -> None:
    """The per-size table: (N, ack p50, ack p99, ack samples, writes per turn, whole p50, whole p99)."""
    print("whole answer visible = the answer's last token in Slack, after the model emitted it")
    heads = ("ack p50", "ack p99", "samples", "writes/turn", "whole p50", "whole p99")
    print(f"{'N':>4} " + " ".join(f"{head:>11}" for head in heads))
    for size, p50, p99, count, per_turn, whole50, whole99 in rows:
        cells = (ms(p50), ms(p99), str(count), f"{per_turn:.1f}", ms(whole50), ms(whole99))
        print(f"{size:>4} " + " ".join(f"{cell:>11}" for cell in cells))


def ack_phases(
    sent: list[float], acks: list[float], start: float, last_first_token: float
) -> list[tuple[str, list[float]]]:
    """The probes' acks split by what the machine was doing: CLIs still starting (before
    the last interview's first token) or every answer streaming."""
    starting = [ack for at, ack in zip(sent, acks, strict=True) if at < last_first_token]
    streaming = [ack for at, ack in zip(sent, acks, strict=True) if at >= last_first_token]
    slowest = sorted(zip(acks, sent, strict=True), reverse=True)[:8]
    print("slowest acks (ms @ s after the first /newspec):",
          ", ".join(f"{ack * 1000:.0f} @ {at - start:.1f}" for ack, at in slowest))
    return [(f"CLIs starting (first {last_first_token - start:.0f} s)", starting), ("answers streaming", streaming)]


def print_ack_phases(phases: list[tuple[int, list[tuple[str, list[float]]]]]) -> None:
    print("\nack latency by phase: p50 / p99 / max (probes)")
    for size, parts in phases:
        for label, acks in parts:
            if acks:
                print(f"{size:>4} {label:<34} {ms(percentile(acks, 50)):>8} {ms(percentile(acks, 99)):>9} "
                      f"{ms(max(acks)):>9} ({len(acks)})")


def print_reader_rows(rows: list[tuple[int, float, list[float], list[float], list[float]]]) -> None:
    """Per size: (N, share streamed, stop lags, first-words-only spans, whole-for-everyone lags)."""
    print("\nper size, as a reader the stream is not for sees it (only its first words until it is stopped):")
    heads = ("streamed", "stop p50", "stop p99", "first-only p50", "first-only p99", "everyone p50", "everyone p99")
    print(f"{'N':>4} " + " ".join(f"{head:>14}" for head in heads))
    for size, share, stops, hidden, everyone in rows:
        cells = [f"{share:.0%}"]
        for values in (stops, hidden, everyone):
            cells += [ms(percentile(values, q)) if values else "-" for q in (50, 99)]
        print(f"{size:>4} " + " ".join(f"{cell:>14}" for cell in cells))


def readers_view(
    model: fa.FakeAnthropic, slack: FakeSlack, names: list[str], size: int
) -> tuple[float, list[float], list[float], list[float]]:
    """For one size's answers: the share streamed; per stream, stop lag (its last words
    written -> chat.stopStream answered) and how long others saw only its first words
    (start -> stop answered); per answer, its last token visible to every reader, after
    the model emitted it (a stream's: when it was stopped). The fake answers at once, so a
    call's arrival is when it was answered."""
    channels = {f"C{size}X{n}" for n in range(size)}
    ok = [c for c in slack.calls if c.ok and c.args.get("channel") in channels]
    starts = {str(c.response["ts"]): c for c in ok if c.method == "chat.startStream"}
    stops = {str(c.args["ts"]): c for c in ok if c.method == "chat.stopStream"}
    stop_lags, first_only = [], []
    for ts, start in starts.items():
        if ts in stops:
            writes = [c.ts_received for c in ok if c.method == "chat.appendStream" and c.args.get("ts") == ts]
            stop_lags.append(stops[ts].ts_received - max([start.ts_received, *writes]))
            first_only.append(stops[ts].ts_received - start.ts_received)
    everyone, streamed = [], 0
    for name in names:
        token = f"{name}_{TOKENS - 1:04d}"
        carrying = [c for c in ok if token in str(c.args)]
        if not carrying:
            continue
        first = min(carrying, key=lambda c: c.ts_received)
        ts = str(first.response.get("ts") if first.method == "chat.startStream" else first.args.get("ts"))
        visible = stops[ts].ts_received if first.method.endswith("Stream") and ts in stops else first.ts_received
        streamed += first.method.endswith("Stream")
        emitted = max(at for _, text, at in model.emitted if text.startswith(token))
        everyone.append(visible - emitted)
    return streamed / max(1, len(names)), stop_lags, first_only, everyone


def print_kind_rows(rows: list[tuple[int, dict[str, float], int, float, float]]) -> None:
    """Per size: writes per answered turn by kind (the root post included), the turns that
    deleted a message, and when the thread's last write landed after the model's last token."""
    print("\nwrites per answered turn by kind (the root post included); settled = the thread's last write")
    heads = (*WRITE_KINDS, "turns w/ del", "settled p50", "settled p99")
    print(f"{'N':>4} " + " ".join(f"{head:>12}" for head in heads))
    for size, per_kind, deleting, settled50, settled99 in rows:
        cells = (*(f"{per_kind[kind]:.2f}" for kind in WRITE_KINDS), f"{deleting} of {size}", ms(settled50),
                 ms(settled99))
        print(f"{size:>4} " + " ".join(f"{cell:>12}" for cell in cells))


def writes_by_kind(slack: FakeSlack, channels: set[str], turns: int) -> dict[str, float]:
    methods = Counter(c.method for c in slack_writes(slack, channels))
    return {kind: sum(methods[m] for m in names) / turns for kind, names in WRITE_KINDS.items()}


def deleting_turns(slack: FakeSlack, channels: set[str]) -> int:
    """How many of these turns (one per channel) deleted a message."""
    return len({c.args.get("channel") for c in slack_writes(slack, channels) if c.method == "chat.delete"})


def thread_settled(model: fa.FakeAnthropic, slack: FakeSlack, names: list[str], size: int) -> list[float]:
    """Per thread: its last successful write, minus when the model emitted the answer's last token."""
    settled = []
    for n, name in enumerate(names):
        token = f"{name}_{TOKENS - 1:04d}"
        last = max(c.ts_received for c in slack_writes(slack, {f"C{size}X{n}"}))
        settled.append(last - max(at for _, text, at in model.emitted if text.startswith(token)))
    return settled


def slack_writes(slack: FakeSlack, channels: set[str]) -> list[ApiCall]:
    """The bot's successful Slack writes (chat.*, files.*) in these channels."""
    return [
        c for c in slack.calls
        if c.ok and c.method.startswith(("chat.", "files.")) and c.args.get("channel") in channels
    ]


def whole_answer_visible(model: fa.FakeAnthropic, slack: FakeSlack, names: list[str]) -> list[float]:
    """Per answer whose last token reached Slack: when it first did, minus when the model emitted it."""
    lags = []
    for name in names:
        token = f"{name}_{TOKENS - 1:04d}"
        seen = [c.ts_received for c in slack.calls if c.ok and token in str(c.args)]
        if seen:
            lags.append(min(seen) - max(at for _, text, at in model.emitted if text.startswith(token)))
    return lags


def root_of(slack: FakeSlack, name: str) -> str | None:
    return next((m.ts for m in slack.messages if f"*{name}*" in m.text), None)


def first_call_time(slack: FakeSlack, root: str | None) -> float:
    """When the thread got its first message from the bot (a post or a stream)."""
    times = [c.ts_received for c in slack.calls if c.ok and c.method in ("chat.postMessage", "chat.startStream")
             and c.args.get("thread_ts") == root]
    return min(times)


def first_text_time(slack: FakeSlack, token: str) -> float:
    return min(c.ts_received for c in slack.calls if c.ok and token in str(c.args))


def relay_lags(model: fa.FakeAnthropic, slack: FakeSlack) -> list[float]:
    """For every token: when Slack first received text containing it, minus when the model emitted it."""
    seen: dict[str, float] = {}
    for call in slack.calls:
        if not call.ok or call.method not in ("chat.startStream", "chat.appendStream", "chat.stopStream",
                                              "chat.update", "chat.postMessage"):
            continue
        for token in str(call.args).split():
            token = token.strip("'\",:}{[]")
            if "_" in token and token not in seen:
                seen[token] = call.ts_received
    return [seen[text.strip()] - at for _, text, at in model.emitted if text.strip() in seen]


def max_updates_per_second(slack: FakeSlack) -> int:
    by_message: dict[str, list[float]] = defaultdict(list)
    for call in slack.calls_to("chat.update"):
        by_message[str(call.args.get("ts"))].append(call.ts_received)
    best = 0
    for times in by_message.values():
        times.sort()
        start = 0
        for end, t in enumerate(times):
            while t - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50")
    parser.add_argument("--replicas", type=int, default=1, help="bot processes on one PostgreSQL database")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    asyncio.run(run([int(s) for s in args.sizes.split(",")], args.replicas, args.database))


if __name__ == "__main__":
    main()
