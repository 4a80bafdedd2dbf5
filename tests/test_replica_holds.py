"""Replicas on one PostgreSQL database, in this process: a reply held while its author's
name or its files are fetched belongs to the replica that received it. Another replica
starting leaves it alone; when its replica stops, a live one fetches it again. And a
replica whose LISTEN connection drops reconnects, and wakes what it missed meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from slackbot.app import Bot
from slackbot.config import Settings
from slackbot.store import PostgresStore
from tests.conftest import Harness, bot_env, people_said
from tests.fakes import anthropic as fa
from tests.postgres import PostgresServer
from tests.test_downloads_at_shutdown import send_while_downloading, turns_with

TIMEOUT = "2"  # seconds a replica stays live without a beat: quick takeovers


@asynccontextmanager
async def second_replica(h: Harness, tmp_path: Path, url: str) -> AsyncIterator[Bot]:
    """Another bot process on the same database and Slack, with a state folder of its own."""
    bot = Bot(Settings.from_env(bot_env(
        h.slack, tmp_path, NEWSPEC_DATABASE_URL=url, NEWSPEC_REPLICA_TIMEOUT=TIMEOUT,
        NEWSPEC_STATE_DIR=str(tmp_path / "state2"),
    )))
    await bot.start_socket_mode()
    try:
        yield bot
    finally:
        await bot.stop(grace=0)


async def first_replica(start_bot: Callable[..., Awaitable[Harness]], url: str) -> Harness:
    return await start_bot(
        env={"NEWSPEC_DATABASE_URL": url, "NEWSPEC_REPLICA_TIMEOUT": TIMEOUT}, several_connections=True
    )


async def test_a_replica_starting_leaves_a_reply_another_live_replica_holds_alone(
    start_bot, tmp_path: Path, postgres_server: PostgresServer
):
    """Its author's name still being looked up, the reply waits for it: the new replica
    (which wakes the thread's owner for the replies it finds waiting) doesn't send it on."""
    url = postgres_server.fresh_database()
    h = await first_replica(start_bot, url)

    def bread(request: fa.ModelRequest) -> fa.Turn:
        assert people_said(request) == "Bea: We sell bread"
        return fa.text("Bread, noted.")

    h.model.script(str(h.project("shop")), [fa.text("What do you sell?"), bread])
    root_ts = await h.start_interview("shop")
    await h.settled("C1", root_ts, "What do you sell?")
    h.slack.add_user("U2", name="bea", real_name="Bea Baker", display_name="Bea")
    name = h.slack.hold_next("users.info", lambda args: args.get("user") == "U2")
    await h.slack.send_message("C1", "U2", "We sell bread", thread_ts=root_ts)
    await asyncio.wait_for(name.reached.wait(), 10)

    async with second_replica(h, tmp_path, url):
        store = PostgresStore(url)
        await store.open()
        try:
            (reply,) = [r for r in await store.pending_replies("C1", root_ts) if r.ts != root_ts]
            assert not reply.ready  # still held: it belongs to the live replica fetching its author
            name.release.set()
            await h.wait_for_text("C1", root_ts, "Bread, noted.", timeout=30)
        finally:
            await store.close()
    assert len(turns_with(h, "We sell bread")) == 1


async def test_a_file_a_stopped_replica_was_fetching_is_fetched_by_a_live_one(
    start_bot, tmp_path: Path, postgres_server: PostgresServer
):
    url = postgres_server.fresh_database()
    h = await first_replica(start_bot, url)
    h.model.script(str(h.project("shop")), [fa.text("Go ahead."), fa.text("Noted.")])
    root_ts = await h.start_interview("shop")
    await h.settled("C1", root_ts, "Go ahead.")
    recipe, download = await send_while_downloading(h, root_ts)

    async with second_replica(h, tmp_path, url):
        await h.stop(grace=0)  # the replica fetching the file stops; the other one stays live
        await h.wait_for_text("C1", root_ts, "Noted.", timeout=30)
        (said,) = turns_with(h, "see the recipe")
        assert "THE LAST STEP: bake at 220 degrees" in said
        download.release.set()
        await h.slack.wait_for(lambda: h.slack.downloads_served.count(recipe["id"]) == 2, what="both downloads")


async def test_wake_ups_missed_while_the_listen_connection_was_down_are_answered(
    start_bot, postgres_server: PostgresServer
):
    """The owner's LISTEN connection is cut, and can't come back at once: the reply another
    replica stores and wakes it for meanwhile is answered once it has reconnected."""
    url = postgres_server.fresh_database()
    h = await start_bot(env={"NEWSPEC_DATABASE_URL": url, "NEWSPEC_REPLICA_TIMEOUT": TIMEOUT})
    h.model.script(str(h.project("shop")), [fa.text("What do you sell?"), fa.text("Bread, noted.")])
    root_ts = await h.start_interview("shop")
    await h.settled("C1", root_ts, "What do you sell?")
    database = url.rsplit("/", 1)[1]
    other = await asyncpg.connect(postgres_server.url())  # the other replica, as far as the owner can tell
    store = PostgresStore(url)
    await store.open()
    try:
        await other.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        cut = await other.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'",
            database,
        )
        assert [row[0] for row in cut] == [True]
        await store.accept_reply("C1", root_ts, "U1", "We sell bread", "1800000000.000100", "Ev7", author="Ann")
        await store.wake_owner("C1", root_ts)  # nobody listens: lost
        await asyncio.sleep(1)  # the owner tries to reconnect meanwhile
        await other.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        await h.wait_for_text("C1", root_ts, "Bread, noted.", timeout=30)
        (said,) = turns_with(h, "We sell bread")
        assert "Ann: We sell bread" in said
    finally:
        await other.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        await other.close()
        await store.close()
