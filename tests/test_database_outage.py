"""PostgreSQL unreachable for a while: people are told their message wasn't saved and
what happens next, and Slack's retry, once the database is back, is answered once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import held
from tests.fakes import anthropic as fa
from tests.fakes.slack import AckTimeout
from tests.postgres import PostgresServer
from tests.test_turn_costs import waiting


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of this test's own, to stop and start (the shared one serves other tests)."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


async def test_a_reply_sent_while_the_database_is_down_is_answered_once_slack_retries_it(
    own_server: PostgresServer, start_bot, tmp_path: Path
):
    seen: list[fa.ModelRequest] = []

    def answer(request: fa.ModelRequest) -> fa.Turn:
        seen.append(request)
        return fa.text("Bread, noted.")

    h = await start_bot(env={"NEWSPEC_DATABASE_URL": own_server.fresh_database()})
    h.model.script(str(h.project("shop")), [fa.text("What do you sell?"), answer])
    root_ts = await h.start_interview("shop")
    await h.settled("C1", root_ts, "What do you sell?")
    # The greeting's turn recorded first: else its last writes may meet the outage, and
    # that turn (not the reply) fails (asyncpg's InternalClientError, "went wrong").
    await waiting(h, root_ts)

    own_server.halt()
    with pytest.raises(AckTimeout):  # not acked: Slack keeps the event and sends it again
        await h.slack.send_message("C1", "U1", "We sell bread", thread_ts=root_ts, event_id="Ev1", ts="1800.1")
    told = await h.slack.wait_for(
        lambda: [e for e in h.slack.ephemerals(user="U1") if "couldn't save your message" in e.text],
        what="the author told their message wasn't saved",
    )
    assert "Slack will send it to me again" in told[0].text
    # Slack's own retry while the database is still down is not acked either, and the
    # author is not told twice.
    with pytest.raises(AckTimeout):
        await h.slack.send_message(
            "C1", "U1", "We sell bread", thread_ts=root_ts, event_id="Ev1", ts="1800.1",
            retry_attempt=1, retry_reason="timeout",
        )
    assert len([e for e in h.slack.ephemerals(user="U1") if "couldn't save" in e.text]) == 1
    assert "went wrong" not in h.slack.thread_text("C1", root_ts)

    own_server.resume()
    await h.slack.send_message(
        "C1", "U1", "We sell bread", thread_ts=root_ts, event_id="Ev1", ts="1800.1",
        retry_attempt=2, retry_reason="timeout",
    )
    await h.wait_for_text("C1", root_ts, "Bread, noted.", timeout=30)
    (request,) = seen
    assert json.dumps(request.messages).count("We sell bread") == 1
    assert h.slack.thread_text("C1", root_ts).count("Bread, noted.") == 1


async def test_a_turn_that_loses_the_database_says_so_and_the_next_reply_carries_on(
    own_server: PostgresServer, start_bot, tmp_path: Path
):
    started, release = asyncio.Event(), asyncio.Event()
    seen: list[fa.ModelRequest] = []

    def answer(request: fa.ModelRequest) -> fa.Turn:
        seen.append(request)
        return fa.text("Bread and cakes, got it.")

    h = await start_bot(env={"NEWSPEC_DATABASE_URL": own_server.fresh_database()})
    h.model.script(
        str(h.project("shop")),
        [fa.text("What do you sell?"), held(started, release, "Bread, noted."), answer],
    )
    root_ts = await h.start_interview("shop")
    await h.settled("C1", root_ts, "What do you sell?")
    await h.slack.send_message("C1", "U1", "We sell bread", thread_ts=root_ts)
    await asyncio.wait_for(started.wait(), 15)
    own_server.halt()  # while Claude answers
    release.set()
    await h.wait_for_text("C1", root_ts, "lost my connection to my database", timeout=30)
    assert "went wrong" not in h.slack.thread_text("C1", root_ts)

    own_server.resume()
    await h.slack.send_message("C1", "U1", "Cakes too", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Bread and cakes, got it.", timeout=30)
    history = json.dumps(seen[-1].messages)
    assert history.count("We sell bread") == 1 and history.count("Cakes too") == 1
