"""The scheduler every Slack write goes through never stops, never strands a caller,
and does not cut calls off when the bot shuts down (issue 11, items 1 and 2)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from slackbot.slack.scheduler import RateLimits, SchedulerClosed, SlackScheduler
from tests.fakes.slack import FakeSlack

FAST = RateLimits().faster(20)


@pytest.mark.parametrize(
    "limits",
    [
        {"per_minute": {"chat.update": 0}},
        {"per_minute": {"chat.update": -5}},
        {"per_minute": {"chat.update": math.nan}},
        {"per_minute": {"chat.update": 1.5}},
        {"default_per_minute": 0},
        {"window": 0},
        {"window": math.inf},
        {"channel_post_interval": math.nan},
    ],
    ids=repr,
)
def test_budgets_that_would_stop_every_write_are_refused(limits):
    with pytest.raises(ValueError):
        RateLimits(**limits)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


def scheduler_for(slack: FakeSlack, limits: RateLimits = FAST) -> SlackScheduler:
    return SlackScheduler(AsyncWebClient(token="xoxb-test", base_url=slack.api_url), limits)


@pytest.mark.parametrize(
    "failure", [RuntimeError("boom"), asyncio.CancelledError()], ids=["error", "call-cancelled-itself"]
)
async def test_a_failing_write_fails_only_its_caller(slack, failure):
    scheduler = scheduler_for(slack)

    async def broken() -> None:
        raise failure

    with pytest.raises(RuntimeError):
        await asyncio.wait_for(scheduler.run("chat.postMessage", broken, fair_key="t1", channel="C1"), 5)
    sent = await asyncio.wait_for(scheduler.post(channel="C1", text="still writing"), 5)
    assert sent["ok"] and [m.text for m in slack.messages] == ["still writing"]
    await scheduler.close()


async def test_a_write_it_cannot_schedule_does_not_stop_the_others(slack):
    scheduler = scheduler_for(slack)

    async def never_sent() -> None:
        raise AssertionError("a malformed job must not be sent")

    # A channel that is not a string breaks the per-channel bookkeeping of this one job.
    bad = asyncio.create_task(
        scheduler.run("chat.postMessage", never_sent, fair_key="t1", channel=["C1"])  # type: ignore[arg-type]
    )
    good = asyncio.create_task(scheduler.post(channel="C2", thread_ts="t2", text="another thread"))
    with pytest.raises(TypeError):
        await asyncio.wait_for(bad, 5)
    assert (await asyncio.wait_for(good, 5))["ok"]
    assert (await asyncio.wait_for(scheduler.post(channel="C3", text="later"), 5))["ok"]
    assert [m.text for m in slack.messages] == ["another thread", "later"]
    await scheduler.close()


@pytest.mark.parametrize("retry_after", ["soon", "inf"])
async def test_an_unreadable_retry_after_still_retries_the_call(retry_after):
    """A 429 whose Retry-After is not a sensible number pauses briefly, then the call goes through."""
    answers = [
        web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": retry_after}),
        web.json_response({"ok": True, "channel": "C1", "ts": "1.2"}),
    ]

    async def api(request: web.Request) -> web.Response:
        return answers.pop(0)

    app = web.Application()
    app.router.add_post("/api/{method}", api)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    scheduler = SlackScheduler(AsyncWebClient(token="xoxb-test", base_url=f"http://127.0.0.1:{port}/api/"))
    try:
        response = await asyncio.wait_for(scheduler.update(channel="C1", ts="1.2", text="edited"), 10)
        assert response["ok"] and scheduler.rate_limited == 1 and answers == []
    finally:
        await scheduler.close()
        await runner.cleanup()


async def test_close_lets_calls_in_flight_land_and_fails_queued_ones():
    async with FakeSlack(delays={"chat.postMessage": 0.5}) as slack:
        scheduler = scheduler_for(slack, RateLimits())  # one post per second per channel
        sending = asyncio.create_task(scheduler.post(channel="C1", text="in flight"))
        queued = asyncio.create_task(scheduler.post(channel="C1", text="queued"))
        await slack.wait_for(lambda: slack.calls_to("chat.postMessage"), what="the first post sent")
        await scheduler.close()
        # The call Slack already had finished and was recorded before close returned.
        assert sending.done() and sending.result()["ok"]
        assert [m.text for m in slack.messages] == ["in flight"]
        with pytest.raises(SchedulerClosed):
            await asyncio.wait_for(queued, 5)
        with pytest.raises(SchedulerClosed):
            await scheduler.post(channel="C1", text="after close")
