"""Peer comparison: djkelleher/slack-claude-code on our fakes, with load.py's workload.

Issue #12 item 9. Runs the peer bot (its own code, installed in its own venv, real
`claude` CLIs via its claude-agent-sdk) against the same loopback fakes as
benchmarks/load.py: the same answers (load.py's TOKENS tokens, one per chunk, at
~50 tokens/s), the same EnforcedLimits, 1, 10 and 50 interviews at once, each in
its own channel. Prints load.py's per-size table (ack p50/p99, Slack writes per
answered turn, whole answer visible p50/p99) so the two bots can be put side by
side, plus what differs in how the peer works.

    .venv/bin/python benchmarks/peer.py [--sizes 1,10,50] [--peer-python /tmp/peer-venv/bin/python]

Setting up the peer (kept outside this repo; none of its code is copied here):

    # a checkout of djkelleher/slack-claude-code (PEER_COMMIT) in /tmp/peer-src, then:
    python3.11 -m venv /tmp/peer-venv && /tmp/peer-venv/bin/pip install /tmp/peer-src

How the peer is driven (what it supports, nothing patched in its code):
- Socket Mode; it is triggered by a plain channel message (its `message` listener),
  not a slash command. A top-level message is a per-channel session, answered at the
  top level of the channel.
- Its Slack client gets the fake's URL through benchmarks/peer_launcher.py, a
  harness-side shim (it has no base-URL setting).
- Its `claude` reaches the fake model through ANTHROPIC_BASE_URL (tests/fakes'
  cli_env). It runs the CLI with permission mode bypassPermissions, which the CLI
  refuses as root unless IS_SANDBOX=1: set here.
- Each channel gets its own working directory first, with the peer's `/cd`: the
  peer runs one execution at a time per non-git directory (WorkspaceLeaseError), so
  with its one default directory all interviews but one fail. Those /cd replies come
  before the round starts and are not counted.
- Its CLI gets the SDK's default (empty) system prompt, so no working directory
  or name to route on: every main request goes to one script key present in that
  prompt, and each step answers for the interview named in the user's message.
- Ack probe: the peer has no command that answers in its ack; `/pwd` acks first
  and then posts in CPROBE (not counted as a write). So it probes every PROBE_INTERVAL
  (load.py: every 50 ms): within chat.postMessage's 1 a second per channel, where
  faster probes would make the peer log a 429 traceback for most of them.

Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.load import (
    TOKENS,
    answer_for,
    first_text_time,
    ms,
    percentile,
    print_size_rows,
    slack_limits,
    slack_writes,
    token_width,
    whole_answer_visible,
)
from benchmarks.sessions import tree_rss_mib, wait_for
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack

PEER = "djkelleher/slack-claude-code"
PEER_COMMIT = "1434d2a0c314e65f0cbbc6e87cc38000cc7cd903"  # the one measured (2026-03-27, package code-sigmas 0.3.2)
LAUNCHER = Path(__file__).resolve().parent / "peer_launcher.py"
DEFAULT_PEER_PYTHON = "/tmp/peer-venv/bin/python"
# In the system prompt of every main request the peer's CLI sends (the SDK's default prompt).
ROUTE_KEY = "Claude Agent SDK"
PROMPT = "peer-benchmark {name}: greet me"
NAME_IN_PROMPT = re.compile(r"peer-benchmark (s\d+n\d+):")
IDLE_SECONDS = 30  # load.py's IDLE_MINUTES
PROBE_INTERVAL = 1.1  # seconds between /pwd probes
GIVE_UP = 60.0  # seconds with neither the model nor the peer doing anything: the round's missing answers are lost
ROUND_LIMIT = 900.0  # seconds: a round ends here in any case


def answer_step(req: fa.ModelRequest) -> fa.Turn:
    """load.py's answer for the interview named in the user's message."""
    match = NAME_IN_PROMPT.search(req.last_user_text)
    name = match.group(1) if match else "unknown"
    return fa.text(answer_for(name), chunk_size=token_width(name), delay=0.02)


def peer_versions(peer_python: str) -> str:
    """What the peer's venv holds (the peer's package is `code-sigmas`)."""
    out = subprocess.run([peer_python, "-m", "pip", "show", "code-sigmas", "claude-agent-sdk", "slack-bolt"],
                         capture_output=True, text=True).stdout
    fields = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith(("Name:", "Version:"))]
    return ", ".join(f"{name} {version}" for name, version in zip(fields[::2], fields[1::2], strict=False))


async def run(sizes: list[int], peer_python: str) -> None:
    logging.getLogger(fa.__name__).setLevel(logging.ERROR)  # the peer's older CLI probes HEAD / each start
    tmp = Path(tempfile.mkdtemp(prefix="newspec-peer-"))
    (tmp / "work").mkdir()
    log_path = tmp / "peer.log"
    for var in fa.PROXY_VARS:
        os.environ.pop(var, None)
    async with fa.FakeAnthropic() as model, FakeSlack(rate_limits=slack_limits()) as slack:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NEWSPEC_", "VIRTUAL_ENV"))}
        env.update(fa.cli_env(model.base_url, tmp))
        env.update(
            PEER_SLACK_API_URL=slack.api_url,  # read by peer_launcher.py
            SLACK_BOT_TOKEN="xoxb-peer", SLACK_APP_TOKEN="xapp-peer",
            SLACK_SIGNING_SECRET="unused-in-socket-mode",  # the peer refuses to start without one
            DATABASE_PATH=str(tmp / "peer" / "code-sigmas.db"), DEFAULT_WORKING_DIR=str(tmp / "work"),
            CLAUDE_SDK_IDLE_TIMEOUT_SECONDS=str(IDLE_SECONDS),
            IS_SANDBOX="1",  # lets the CLI run bypassPermissions (the peer's default) as root
        )
        with open(log_path, "wb") as log:  # the peer logs at INFO to stderr
            bot = await asyncio.create_subprocess_exec(
                peer_python, "-P", str(LAUNCHER), env=env, cwd=tmp, stdout=log, stderr=log
            )
        try:
            await wait_for(lambda: slack.connections_opened > 0, timeout=60)
        except TimeoutError:
            bot.terminate()
            sys.exit(f"the peer did not connect; see {log_path}")
        await asyncio.sleep(1)
        rows = []
        lost: dict[int, int] = {}
        answered: dict[int, int] = {}  # interviews the model answered (the peer ran the turn)
        first_words: list[float] = []  # message -> first words visible
        first_token: list[float] = []  # message -> the model's first token
        words_lag: list[float] = []  # the model's first token -> visible
        per_method: Counter[str] = Counter()
        rss = [("0 sessions", *tree_rss_mib(bot.pid))]
        all_channels: set[str] = set()

        for size in sizes:
            names = [f"s{size}n{n}" for n in range(size)]
            channels = {f"C{size}X{n}" for n in range(size)}
            all_channels |= channels
            model.script(ROUTE_KEY, [answer_step] * size)
            for n, name in enumerate(names):  # a working directory per channel (see the docstring)
                (tmp / "work" / name).mkdir()
                await slack.send_slash_command(name, command="/cd", channel_id=f"C{size}X{n}")
            await wait_for(lambda channels=channels: channels <= {
                m.channel for m in slack.messages if m.text.startswith("Working directory updated")})
            await asyncio.sleep(1.1)  # chat.postMessage: 1 a second per channel
            round_started = time.time()
            last_tokens = {f"{name}_{TOKENS - 1:04d}" for name in names}
            seen: set[str] = set()
            scanned = 0

            def done(last_tokens=last_tokens, seen=seen) -> bool:
                nonlocal scanned
                calls = slack.calls
                for call in calls[scanned:]:
                    if call.ok:
                        text = str(call.args)
                        seen.update(t for t in last_tokens - seen if t in text)
                scanned = len(calls)
                return seen == last_tokens

            def quiet_since(channels=channels, round_started=round_started) -> float:
                """When the model or the peer (in these channels) last did anything."""
                model_at = model.emitted[-1][2] if model.emitted else 0.0
                slack_at = max((c.ts_received for c in slack.calls if c.args.get("channel") in channels), default=0.0)
                return max(model_at, slack_at, round_started)

            started: dict[str, float] = {}
            for n, name in enumerate(names):
                started[name] = time.time()
                await slack.send_message(f"C{size}X{n}", "U1", PROMPT.format(name=name))
            acks: list[float] = []
            peak = tree_rss_mib(bot.pid)
            while not done():
                delivery = await slack.send_slash_command("", command="/pwd", channel_id="CPROBE")
                acks.append(delivery.latency)
                peak = max(peak, tree_rss_mib(bot.pid))
                now = time.time()
                if now - quiet_since() > GIVE_UP or now - round_started > ROUND_LIMIT:
                    break  # some answers will not show: counted as lost below
                await asyncio.sleep(PROBE_INTERVAL)
            await asyncio.sleep(3)  # let the turn's last writes (final update) land before counting
            rss.append((f"peak with {size} interviews", *peak))
            writes = [c for c in slack_writes(slack, channels) if c.ts_received >= round_started]
            per_method.update(c.method for c in writes)
            whole = whole_answer_visible(model, slack, names)
            lost[size] = size - len(whole)
            answered[size] = sum(any(text.startswith(f"{name}_0000") for _, text, _ in model.emitted)
                                 for name in names)
            for name in names:
                token = f"{name}_0000"
                emitted_at = [at for _, text, at in model.emitted if text.startswith(token)]
                if not emitted_at:
                    continue
                emitted = min(emitted_at)
                first_token.append(emitted - started[name])
                if any(c.ok and token in str(c.args) for c in slack.calls):
                    shown = first_text_time(slack, token)
                    first_words.append(shown - started[name])
                    words_lag.append(shown - emitted)
            rows.append((size, percentile(acks, 50), percentile(acks, 99), len(acks), len(writes) / size,
                         percentile(whole, 50) if whole else float("nan"),
                         percentile(whole, 99) if whole else float("nan")))

        bot.terminate()
        await bot.wait()
        limited = Counter("probe" if c.args.get("channel") == "CPROBE" else c.method for c in slack.rate_limited)
        failed = Counter(
            (c.method, c.response.get("error")) for c in slack.calls
            if not c.ok and c.args.get("channel") in all_channels
        )

    turns = sum(sizes)
    print(f"peer: {PEER} (measured at {PEER_COMMIT[:10]}; installed: {peer_versions(peer_python)})")
    print(f"peer's log: {log_path}")
    print(f"machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}; "
          f"answers of {TOKENS} tokens at ~50 tokens/s")
    print(f"\nper size: slash-command (/pwd, every {PROBE_INTERVAL} s) ack latency while N interviews stream; "
          "Slack writes per turn;")
    print_size_rows(rows)
    for size in sizes:
        if lost[size]:
            print(f"  N={size}: {lost[size]} answer(s) never visible (left out above); "
                  f"the model answered {answered[size]} of {size}")
    print(f"\nmessage -> first words of the answer visible: p50 {ms(percentile(first_words, 50))}, "
          f"p99 {ms(percentile(first_words, 99))} (n={len(first_words)})")
    print(f"message -> model's first token:              p50 {ms(percentile(first_token, 50))}, "
          f"p99 {ms(percentile(first_token, 99))} (n={len(first_token)}; claude CLI start and the fake model)")
    print(f"model's first token -> visible in Slack:     p50 {ms(percentile(words_lag, 50))}, "
          f"p99 {ms(percentile(words_lag, 99))} (n={len(words_lag)}; the peer shows no partial answer)")
    print(f"\nSlack writes per answered turn in the interview channels ({turns} turns):")
    for method, count in sorted(per_method.items()):
        print(f"  {method:<34} {count / turns:6.2f}")
    print(f"429 responses: {sum(limited.values())} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(limited.items())) or 'none'}; probe = /pwd replies)")
    if failed:
        print("failed calls in the interview channels: "
              + ", ".join(f"{m} {e} x{n}" for (m, e), n in sorted(failed.items())))
    print("\nbot + children RSS")
    for label, mib, processes in rss:
        print(f"  {label:<22} {mib:8,.0f} MiB  ({processes} processes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50")
    parser.add_argument("--peer-python", default=DEFAULT_PEER_PYTHON,
                        help="python of the venv the peer is installed in")
    args = parser.parse_args()
    asyncio.run(run([int(s) for s in args.sizes.split(",")], args.peer_python))


if __name__ == "__main__":
    main()
