"""Slack's one new message a second per channel, kept across replicas (issue 24, item 4).

One channel's threads may run on different replicas: each keeping its own pace, however
stretched, lets two of them post in the channel a moment apart. With more than one
replica live, a new message takes the channel in the database first (`hold_channel`),
and leaves it when Slack has answered (`release_channel`): the next, from any replica,
goes an interval after that."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from slackbot.app import Bot
from slackbot.config import Settings
from slackbot.slack.scheduler import Priority, RateLimits, SlackScheduler
from slackbot.store import PostgresStore, SqliteStore
from tests.conftest import FAST_LIMITS, bot_env
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack
from tests.postgres import PostgresServer
from tests.test_budget_share import timed
from tests.test_scheduler import slack_limits

Store = SqliteStore | PostgresStore
HOLD = 30.0  # seconds a hold lasts if its holder never releases it


async def test_a_channel_is_held_by_one_replica_until_released_then_free_an_interval_later(store: Store):
    assert await store.hold_channel("C1", "a", HOLD) == 0.0
    assert await store.hold_channel("C1", "b", HOLD) > 0  # a's message is on its way
    assert await store.hold_channel("C2", "b", HOLD) == 0.0  # other channels are not held
    await store.release_channel("C1", "a", 5.0)
    wait = await store.hold_channel("C1", "b", HOLD)
    assert 4.0 < wait <= 5.0  # the next message goes an interval after a's was answered
    await store.release_channel("C1", "a", 0.0)  # a holds it no more: changes nothing
    assert await store.hold_channel("C1", "b", HOLD) > 4.0


async def test_a_hold_its_holder_never_releases_lapses(store: Store):
    assert await store.hold_channel("C1", "a", 0.0) == 0.0  # a died holding it
    assert await store.hold_channel("C1", "b", HOLD) == 0.0
    await store.release_channel("C1", "a", 5.0)  # a, back, must not free b's hold
    assert await store.hold_channel("C1", "c", HOLD) > 5.0


# -- two bots, one channel ------------------------------------------------------

PER_BOT = 6  # interviews each bot starts in the one channel
CHANNEL = "CSHARED"
GREETING = "Hello {name}! Let me think about what we are building together."


def bot(slack: FakeSlack, tmp_path: Path, name: str, database: str) -> Bot:
    env = bot_env(slack, tmp_path / name, NEWSPEC_DATABASE_URL=database, NEWSPEC_REPLICA_TIMEOUT="1.5",
                  GENERATIONS_DIR=str(tmp_path / "generations"))
    return Bot(Settings.from_env(env), min_interval=0.05, rate_limits=FAST_LIMITS)


async def test_two_replicas_posting_in_one_channel_at_once_get_no_429s(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer
):
    database = postgres_server.fresh_database()
    async with FakeSlack(rate_limits=slack_limits(), several_connections=True) as slack:
        bots = [bot(slack, tmp_path, name, database) for name in ("a", "b")]
        try:
            for started in bots:
                connections = slack.connections_opened
                await started.start_socket_mode()
                await slack.wait_for(lambda c=connections: slack.connections_opened > c, what="connection")
            await slack.wait_for(lambda: all(b.scheduler.budget_share() == 0.5 for b in bots), what="each on half")
            names = [f"shop{n}" for n in range(2 * PER_BOT)]
            for name in names:
                model.script(str(tmp_path / "generations" / name), [fa.text(GREETING.format(name=name))])
            # Envelopes go to the connections in turn: the interviews alternate between the
            # replicas, and all of them greet in the one channel at the same time.
            await asyncio.gather(*(
                slack.send_slash_command(name, user_id=f"U{100 + n}", channel_id=CHANNEL)
                for n, name in enumerate(names)
            ))
            for name in names:
                await slack.wait_for(
                    lambda name=name: any(GREETING.format(name=name) in m.text for m in slack.messages),
                    timeout=60, what=f"{name}'s greeting",
                )
            await slack.wait_for(
                lambda: all(m.stream_state != "streaming" for m in slack.messages)
                and not any(b.scheduler.queued(priority=Priority.REFRESH) for b in bots),
                what="every stream stopped, no Slack write queued",
            )
            refused = [c.method for c in slack.rate_limited]
            assert refused == [], f"{len(refused)} 429s: {refused}"
            # Each replica ran some of the interviews (the channel was truly shared).
            owners = {await bots[0].store.owner_of(CHANNEL, m.ts) for m in slack.messages
                      if m.channel == CHANNEL and m.thread_ts is None}
            assert len(owners - {None}) == 2
        finally:
            await asyncio.gather(*(b.stop(grace=0) for b in bots))


async def test_a_database_that_fails_loses_no_message_and_the_channel_interval_is_stretched(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """Slots kept in a database that can't be reached (never opened): every message still
    goes, each replica on its own pace, the interval stretched by its share."""
    interval = 0.1
    client = AsyncWebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/api/")
    unreachable = SqliteStore(tmp_path / "never-opened.db")
    scheduler = SlackScheduler(client, RateLimits(channel_post_interval=interval), share=0.5, slots=unreachable)
    times: list[float] = []
    await asyncio.wait_for(asyncio.gather(*(
        scheduler.run("chat.postMessage", timed(times), fair_key=f"t{n}", channel="C1") for n in range(4)
    )), 10)
    await scheduler.close()
    assert len(times) == 4
    assert min(b - a for a, b in itertools.pairwise(times)) >= 2 * interval
    assert sum("cannot take a channel slot" in r.getMessage() for r in caplog.records) == 1  # once, not per message
