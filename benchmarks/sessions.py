"""Memory of idle interviews and the cost of resuming one.

Runs the real bot (`python -m slackbot`) against the loopback fakes in tests/fakes
and prints: RSS of the bot plus its `claude` children with 0, 10 and 100
interview threads (live and after idle eviction), and the latency from a reply
to the first streamed text for a live and for an evicted (resumed) session.

    .venv/bin/python benchmarks/sessions.py [--threads 100] [--samples 10]

Not a test: it asserts nothing and prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack

IDLE_MINUTES = 0.05  # 3 s, so eviction happens within the run


def tree_rss_mib(root: int) -> tuple[float, int]:
    """RSS of `root` and all its descendants, and how many processes that is."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, count, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        rss = next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), "0")
        total += int(rss)
        count += 1
        todo.extend(children.get(pid, []))
    return total / 1024, count


async def wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(0.01)


async def run(threads: int, samples: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="newspec-bench-"))
    for var in fa.PROXY_VARS:
        os.environ.pop(var, None)
    async with fa.FakeAnthropic() as model, FakeSlack() as slack:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NEWSPEC_"))}
        env.update(fa.cli_env(model.base_url, tmp))
        env.update(
            SLACK_BOT_TOKEN="xoxb-bench",
            SLACK_APP_TOKEN="xapp-bench",
            SLACK_API_URL=slack.api_url,
            GENERATIONS_DIR=str(tmp / "generations"),
            NEWSPEC_STATE_DIR=str(tmp / "state"),
            NEWSPEC_IDLE_MINUTES=str(IDLE_MINUTES),
            NEWSPEC_MAX_LIVE_SESSIONS="10",
            NEWSPEC_STARTS_PER_HOUR="1000",  # every thread is started by the same person
            NEWSPEC_MESSAGES_PER_MINUTE="1000",
            LOG_LEVEL="WARNING",
        )
        bot = await asyncio.create_subprocess_exec(sys.executable, "-m", "slackbot", env=env)
        await wait_for(lambda: slack.connections_opened > 0)
        await asyncio.sleep(1)
        rows: list[tuple[str, float, int]] = [("0 threads", *tree_rss_mib(bot.pid))]

        roots: list[str] = []

        async def open_threads(count: int) -> None:
            for _ in range(count):
                name = f"app{len(roots)}"
                # Greeting, then one answer per sample reply.
                model.script(str(tmp / "generations" / name), [fa.text("Hi!")] + [fa.text("ok")] * (2 * samples))
                await slack.send_slash_command(name)
                await wait_for(lambda name=name: any(f"*{name}*" in m.text for m in slack.messages))
                root = next(m.ts for m in slack.messages if f"*{name}*" in m.text)
                roots.append(root)
            greeted = lambda ts: any(m.text == "Hi!" for m in slack.thread("C1", ts))  # noqa: E731
            await wait_for(lambda: all(greeted(ts) for ts in roots), timeout=600)

        await open_threads(10)
        rows.append(("10 threads, live", *tree_rss_mib(bot.pid)))
        await asyncio.sleep(IDLE_MINUTES * 60 + 3)
        rows.append(("10 threads, idle (evicted)", *tree_rss_mib(bot.pid)))

        def answers(root: str) -> int:
            return sum(m.text == "ok" for m in slack.thread("C1", root))

        async def reply_latency(root: str) -> float:
            before = answers(root)
            started = time.monotonic()
            await slack.send_message("C1", "U1", "next", thread_ts=root)
            await wait_for(lambda: answers(root) > before)
            return time.monotonic() - started

        resumed, live = [], []
        for root in roots[:samples]:  # each was evicted; answer once (resume), then again (live)
            resumed.append(await reply_latency(root))
            live.append(await reply_latency(root))

        await open_threads(threads - 10)
        await asyncio.sleep(IDLE_MINUTES * 60 + 3)
        rows.append((f"{threads} threads, idle (evicted)", *tree_rss_mib(bot.pid)))

        bot.terminate()
        await bot.wait()

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"{'state':<30} {'RSS MiB':>9} {'processes':>10}")
    for label, rss, count in rows:
        print(f"{label:<30} {rss:>9.0f} {count:>10}")
    print()
    print(f"reply -> answer visible, live session    : p50 {statistics.median(live) * 1000:.0f} ms "
          f"(max {max(live) * 1000:.0f} ms, n={len(live)})")
    print(f"reply -> answer visible, resumed session : p50 {statistics.median(resumed) * 1000:.0f} ms "
          f"(max {max(resumed) * 1000:.0f} ms, n={len(resumed)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=100)
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(run(max(args.threads, 10), args.samples))


if __name__ == "__main__":
    main()
