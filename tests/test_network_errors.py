"""A Slack that can't be reached (connection refused, reset, timed out) is a Slack
error like any other: a turn is still shown to its end as far as possible, notes
are logged instead of raised, and nothing escapes into the worker."""

from __future__ import annotations

import socket

from slack_sdk.web.async_client import AsyncWebClient

from slackbot.events import TextDelta, TextDone, TurnDone
from slackbot.slack.relay import Recipient, StreamingSupport, ThreadRelay
from slackbot.slack.scheduler import RateLimits, SlackScheduler


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens here once the probe closes


async def test_an_unreachable_slack_never_raises_out_of_a_turn(caplog):
    client = AsyncWebClient(token="xoxb-test", base_url=f"http://127.0.0.1:{closed_port()}/api/", timeout=2)
    scheduler = SlackScheduler(client, RateLimits().faster(20))
    relay = ThreadRelay(scheduler, "C1", "1700000000.000100", streaming=StreamingSupport(), min_interval=0.01)

    async def events():
        yield TextDelta("Hello, ")
        yield TextDelta("anyone there?")
        yield TextDone("Hello, anyone there?")
        yield TurnDone("s")

    await relay.render(events(), Recipient("U1", "T1"))  # returns: no ClientError escapes
    assert await relay.note("still nobody") is None
    await scheduler.close()
    assert any("Slack refused" in r.getMessage() or "could not post" in r.getMessage() for r in caplog.records)
