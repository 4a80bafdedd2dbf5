"""Slack's one message a second per channel counts every call that adds a message (a post,
a stream's start, a shared upload's completion), and a 429 for one channel does not hold
up the others (issue 20, item 7). The fake enforces the channel's pace for all of them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from slackbot.events import TextDelta, TextDone, TurnDone
from slackbot.slack.relay import Recipient, StreamingSupport, ThreadRelay
from slackbot.slack.relay.completion import upload_completion
from slackbot.slack.scheduler import RateLimits, SlackScheduler
from tests.fakes.slack import ApiCall, EnforcedLimits, FakeSlack

PACE = 0.2  # seconds between two new messages in one channel, as the fake enforces it
THREAD = "1700000003.000001"


def paced(slack: FakeSlack, interval: float = PACE * 1.05) -> SlackScheduler:
    client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
    return SlackScheduler(client, RateLimits(channel_post_interval=interval))


def posted(slack: FakeSlack) -> list[str]:
    """The texts of the messages Slack accepted, in the order it received them."""
    return [str(c.args.get("text")) for c in slack.calls if c.method == "chat.postMessage" and c.ok]


def refused(slack: FakeSlack, channel: str) -> ApiCall | None:
    return next((c for c in slack.calls if c.args.get("channel") == channel and not c.ok), None)


async def answer(relay: ThreadRelay, text: str) -> None:
    async def events():
        yield TextDelta(text)
        yield TextDone(text)
        yield TurnDone("s")

    await relay.render(events(), Recipient("U1", "T1"))


async def test_a_stream_started_right_after_a_post_waits_for_the_channels_pace():
    async with FakeSlack(rate_limits=EnforcedLimits({}, channel_interval=PACE)) as slack:
        scheduler = paced(slack)
        relay = ThreadRelay(scheduler, "C1", THREAD, streaming=StreamingSupport(native=True), min_interval=0.01)
        await scheduler.post(channel="C1", thread_ts=THREAD, text="A note just before the answer")
        await asyncio.wait_for(answer(relay, "The answer, streamed."), 10)
        await scheduler.close()

        assert [c.method for c in slack.rate_limited] == []
        assert scheduler.rate_limited == 0
        assert [c.ok for c in slack.calls_to("chat.startStream")] == [True]
        assert "The answer, streamed." in slack.thread_text("C1", THREAD)


async def test_a_spec_upload_right_after_a_post_waits_for_the_channels_pace(tmp_path: Path):
    spec = tmp_path / "bakery" / "SPEC.md"
    spec.parent.mkdir()
    spec.write_text("# Bakery\n")
    async with FakeSlack(rate_limits=EnforcedLimits({}, channel_interval=PACE)) as slack:
        scheduler = paced(slack)
        relay = ThreadRelay(scheduler, "C1", THREAD, streaming=StreamingSupport(native=False))
        await scheduler.post(channel="C1", thread_ts=THREAD, text="Checking the spec…")
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*bakery* — ready to build"}}]
        assert await asyncio.wait_for(upload_completion(relay, (spec,), blocks), 10) is None
        await scheduler.close()

        assert [c.method for c in slack.rate_limited] == []
        assert [(u.filename, u.channel) for u in slack.uploads] == [("SPEC.md", "C1")]


async def test_a_429_for_one_channel_does_not_hold_up_posts_to_another():
    """Slack holds channel A to a slower pace than the bot keeps (its burst is spent): A's
    second post is refused with Retry-After 2; a post to B goes meanwhile, before A's retry."""
    async with FakeSlack(rate_limits=EnforcedLimits({}, channel_interval=2.0)) as slack:
        scheduler = paced(slack, interval=0.01)
        await scheduler.post(channel="CA", text="a1")
        second = asyncio.create_task(scheduler.post(channel="CA", text="a2"))
        await slack.wait_for(lambda: slack.rate_limited, what="A's 429")
        await asyncio.wait_for(scheduler.post(channel="CB", text="b1"), 10)
        await asyncio.wait_for(second, 10)
        await scheduler.close()

        assert posted(slack) == ["a1", "b1", "a2"]
        assert [c.args["channel"] for c in slack.rate_limited] == ["CA"]
        assert scheduler.rate_limited == 1


async def test_429s_for_two_channels_at_once_pause_the_method_for_every_channel():
    """Two channels refused within one Retry-After: that is the workspace's limit for the
    method, not a channel's, so a post to a third channel waits out the pause too."""
    async with FakeSlack() as slack:
        scheduler = paced(slack, interval=0.01)
        for channel in ("CA", "CB"):
            slack.fail_when("chat.postMessage", "ratelimited", lambda args, c=channel: args["channel"] == c)
        first = asyncio.create_task(scheduler.post(channel="CA", text="a1"))
        await slack.wait_for(lambda: refused(slack, "CA"), what="A's 429")
        second = asyncio.create_task(scheduler.post(channel="CB", text="b1"))
        limited_b = await slack.wait_for(lambda: refused(slack, "CB"), what="B's 429")
        await asyncio.wait_for(asyncio.gather(first, second, scheduler.post(channel="CC", text="c1")), 10)
        await scheduler.close()

        (c1,) = [c for c in slack.calls if c.args.get("channel") == "CC"]
        assert c1.ts_received >= limited_b.ts_received + 1.0  # B's Retry-After, for every channel
        assert sorted(posted(slack)) == ["a1", "b1", "c1"]


async def test_new_messages_of_different_methods_take_a_channel_in_the_order_they_came():
    """Posts and a stream start share one channel's pace: the start queued before two posts
    goes before them, not after every post queued for the channel."""
    scheduler = SlackScheduler(
        AsyncWebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/api/"),
        RateLimits(channel_post_interval=0.01),
    )
    order: list[str] = []
    held = asyncio.Event()

    def job(name: str, wait: asyncio.Event | None = None):
        async def thunk() -> str:
            order.append(name)
            if wait is not None:
                await wait.wait()
            return name
        return thunk

    def new_message(method: str, name: str, wait: asyncio.Event | None = None) -> asyncio.Task[str]:
        return asyncio.create_task(scheduler.run(method, job(name, wait), fair_key=name, channel="C1"))

    calls = [new_message("chat.postMessage", "post-1", held)]
    while not order:  # post-1 holds the channel
        await asyncio.sleep(0.005)
    calls.append(new_message("chat.startStream", "start"))
    await asyncio.sleep(0.01)
    calls += [new_message("chat.postMessage", f"post-{n}") for n in (2, 3)]
    await asyncio.sleep(0.01)
    held.set()
    await asyncio.wait_for(asyncio.gather(*calls), 5)
    await scheduler.close()
    assert order == ["post-1", "start", "post-2", "post-3"]
