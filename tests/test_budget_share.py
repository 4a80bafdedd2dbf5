"""One Slack budget for the workspace, split among the bot's replicas (issue 24, item 4):
a scheduler given a share of each workspace-wide budget keeps to it, a share that drops
mid-window is honoured at once, and two bots on one workspace, each keeping to half,
get no 429s from a Slack that enforces its limits."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.web.async_client import AsyncWebClient

from slackbot.app import Bot
from slackbot.config import Settings
from slackbot.slack.scheduler import Priority, RateLimits, SlackScheduler
from tests.conftest import FAST_LIMITS, bot_env
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack
from tests.test_scheduler import slack_limits

WINDOW = 0.5  # seconds the unit tests' budgets are counted over


def offline_scheduler(limits: RateLimits, share: float = 1.0) -> SlackScheduler:
    client = AsyncWebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/api/")
    return SlackScheduler(client, limits, share=lambda: share)


def timed(times: list[float]):
    """Jobs that note when Slack would have received them."""

    async def thunk() -> None:
        times.append(time.monotonic())

    return thunk


def most_in_a_window(times: list[float], window: float) -> int:
    """The most calls any `window` seconds held."""
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


async def test_a_half_share_releases_at_most_half_of_a_methods_budget_per_window():
    scheduler = offline_scheduler(RateLimits(per_minute={"m": 10}, window=WINDOW), share=0.5)
    times: list[float] = []
    await asyncio.wait_for(
        asyncio.gather(*(scheduler.run("m", timed(times), fair_key=f"t{n}") for n in range(16))), 20
    )
    await scheduler.close()
    assert len(times) == 16
    assert most_in_a_window(times, WINDOW) <= 5


async def test_a_half_share_stretches_a_channels_post_interval():
    """A channel's one post a second is the whole workspace's: two replicas posting in one
    channel must each keep twice the interval."""
    interval = 0.1
    scheduler = offline_scheduler(RateLimits(channel_post_interval=interval), share=0.5)
    times: list[float] = []
    await asyncio.wait_for(asyncio.gather(*(
        scheduler.run("chat.postMessage", timed(times), fair_key=f"t{n}", channel="C1") for n in range(6)
    )), 10)
    await scheduler.close()
    assert min(b - a for a, b in itertools.pairwise(times)) >= 2 * interval


async def test_a_share_that_drops_mid_window_counts_the_calls_already_made():
    """A replica joins: the share falls from the whole to a quarter (2 calls of 8 a window).
    Four calls made this window already use more than that, so the next waits until all
    but one of them have left the window."""
    share = [1.0]
    client = AsyncWebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/api/")
    scheduler = SlackScheduler(client, RateLimits(per_minute={"m": 8}, window=WINDOW), share=lambda: share[0])
    times: list[float] = []
    await asyncio.gather(*(scheduler.run("m", timed(times), fair_key=f"t{n}") for n in range(4)))
    share[0] = 0.25
    await asyncio.wait_for(
        asyncio.gather(*(scheduler.run("m", timed(times), fair_key=f"u{n}") for n in range(4))), 20
    )
    await scheduler.close()
    assert times[4] >= times[2] + WINDOW  # the fifth waited for the third to leave the window
    assert most_in_a_window(times[4:], WINDOW) <= 2
    assert most_in_a_window(times[2:], WINDOW) <= 2


@pytest.mark.parametrize("share", [0.0, -0.5, 1.5, float("nan")])
def test_a_share_outside_zero_to_one_is_refused(share):
    with pytest.raises(ValueError):
        offline_scheduler(RateLimits()).set_share(share)


# -- two bots, one workspace ----------------------------------------------------

PER_BOT = 25  # interviews each bot runs at once
SHARE = 0.5
GREETING = "Hello {name}! " + "Let me think about what we are building together. " * 12


def bot(slack: FakeSlack, tmp_path: Path, share: float) -> Bot:
    settings = Settings.from_env(bot_env(slack, tmp_path))
    return Bot(settings, min_interval=0.05, rate_limits=FAST_LIMITS, budget_share=share)


async def stream_greetings(slack: FakeSlack, model: fa.FakeAnthropic, bots: list[Bot]) -> None:
    """Start the bots on one workspace (their own state, one Slack app), then PER_BOT
    interviews on each whose greetings stream; return once every greeting shows whole."""
    for started in bots:
        connections = slack.connections_opened
        await started.start_socket_mode()
        await slack.wait_for(lambda c=connections: slack.connections_opened > c, what="socket mode connection")
    names = [f"shop{n}" for n in range(len(bots) * PER_BOT)]
    for n, name in enumerate(names):
        # Envelopes go to the connections in turn: a, b, a, ...
        project = bots[n % len(bots)].settings.generations_dir / name
        model.script(str(project), [fa.text(GREETING.format(name=name), chunk_size=12, delay=0.01)])
        # Each in a channel of its own, as a team's interviews spread over its channels: the
        # workspace's budgets per method are what the bots share (one channel: see README).
        await slack.send_slash_command(name, user_id=f"U{100 + n}", channel_id=channel(name))
    for name in names:
        await slack.wait_for(
            lambda name=name: GREETING.format(name=name).strip() in thread_text(slack, name),
            timeout=60, what=f"{name}'s greeting whole",
        )
    # Every stream stopped and nothing left to send: all the calls the turns made are counted.
    await slack.wait_for(
        lambda: all(m.stream_state != "streaming" for m in slack.messages)
        and not any(b.scheduler.queued(priority=Priority.REFRESH) for b in bots),
        what="every stream stopped, no Slack write queued",
    )


def budget_share_gauge(started: Bot) -> float:
    (family,) = [f for f in text_string_to_metric_families(started.metrics.render().decode())
                 if f.name == "newspec_slack_budget_share"]
    return float(family.samples[0].value)


def channel(name: str) -> str:
    return f"C{name.upper()}"


def thread_text(slack: FakeSlack, name: str) -> str:
    root = next((m for m in slack.messages if m.channel == channel(name) and f"*{name}*" in m.text), None)
    return "" if root is None else slack.thread_text(channel(name), root.ts)


async def test_two_bots_each_on_half_the_budget_get_no_429s(model: fa.FakeAnthropic, tmp_path: Path):
    async with FakeSlack(rate_limits=slack_limits(), several_connections=True) as slack:
        bots = [bot(slack, tmp_path / name, SHARE) for name in ("a", "b")]
        try:
            await stream_greetings(slack, model, bots)
            refused = [c.method for c in slack.rate_limited]
            assert refused == [], f"{len(refused)} 429s: {refused}"
            assert [b.scheduler.rate_limited for b in bots] == [0, 0]
            for started in bots:  # each bot ran its half of the interviews
                assert len([p for p in started.settings.generations_dir.iterdir() if p.is_dir()]) == PER_BOT
            # A third replica joins: what an operator's Prometheus reads follows.
            bots[0].set_budget_share(lambda: 1 / 3)
            assert budget_share_gauge(bots[0]) == pytest.approx(1 / 3)
            assert budget_share_gauge(bots[1]) == SHARE
        finally:
            await asyncio.gather(*(b.stop(grace=0) for b in bots))
