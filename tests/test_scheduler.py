"""The workspace-wide Slack scheduler: order, fairness, coalescing, and many
interviews streaming at once within Slack's rate limits (enforced by the fake)."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from slackbot.events import TextDelta, TextDone, TurnDone
from slackbot.slack.relay import Recipient, StreamingSupport, ThreadRelay
from slackbot.slack.scheduler import DEFAULT_PER_MINUTE, Priority, RateLimits, SchedulerClosed, SlackScheduler
from tests.conftest import is_status_line
from tests.fakes.slack import EnforcedLimits, FakeSlack

SPEED = 20  # Slack's per-minute budgets, counted over 3 s instead of 60 s


def slack_limits() -> EnforcedLimits:
    """Slack's documented tiers, as the fake enforces them (files_upload_v2 makes two calls)."""
    per_window = {m: n for m, n in DEFAULT_PER_MINUTE.items() if m != "files.upload"}
    per_window |= {"files.getUploadURLExternal": 100, "files.completeUploadExternal": 100}
    return EnforcedLimits(per_window, window=60 / SPEED, channel_interval=1 / SPEED)


def offline_scheduler(limits: RateLimits) -> SlackScheduler:
    return SlackScheduler(AsyncWebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/api/"), limits)


def recorder(order: list[str]):
    """Jobs that note their name in `order` when Slack would have received them."""

    def job(name: str):
        async def thunk() -> str:
            order.append(name)
            return name
        return thunk

    return job


async def test_firsts_go_before_refreshes_and_threads_take_turns():
    scheduler = offline_scheduler(RateLimits(per_minute={"m": 1}, window=0.2))
    order: list[str] = []

    job = recorder(order)

    first = asyncio.create_task(scheduler.run("m", job("opening"), fair_key="t0"))
    await asyncio.sleep(0.01)  # the budget (one call per 0.2 s) is now spent
    waiting = [
        asyncio.create_task(scheduler.run("m", job(f"a-refresh-{n}"), fair_key="a", priority=Priority.REFRESH))
        for n in range(3)
    ]
    waiting.append(asyncio.create_task(scheduler.run("m", job("b-refresh"), fair_key="b", priority=Priority.REFRESH)))
    waiting.append(asyncio.create_task(scheduler.run("m", job("c-first"), fair_key="c", priority=Priority.FIRST)))
    await asyncio.gather(first, *waiting)
    await scheduler.close()
    # The first words of c jump the queue; then a and b alternate instead of a going three times.
    assert order == ["opening", "c-first", "a-refresh-0", "b-refresh", "a-refresh-1", "a-refresh-2"]


async def test_refreshes_leave_room_for_what_people_wait_to_see():
    """Refreshes of text already shown stop short of the budget's last calls, so an answer's
    last words (or a question) that come later go at once, not after the budget refills."""
    limits = RateLimits(per_minute={"m": 40}, window=600)  # bursts of 8, then one call a 16 s
    scheduler = offline_scheduler(limits)
    order: list[str] = []

    job = recorder(order)

    refreshes = [
        asyncio.create_task(scheduler.run("m", job(f"refresh-{n}"), fair_key=f"t{n}", priority=Priority.REFRESH))
        for n in range(10)
    ]
    while len(order) < 6:  # the refreshes the burst allows them
        await asyncio.sleep(0.005)
    last_words = scheduler.run("m", job("last-words"), fair_key="t0", priority=Priority.FIRST)
    assert await asyncio.wait_for(last_words, 5) == "last-words"
    assert order.index("last-words") == 6  # the 7th call, ahead of the refreshes still queued
    for task in refreshes:
        task.cancel()
    await scheduler.close()


async def test_refreshes_queued_behind_a_spent_budget_become_one_call_with_the_latest_text():
    """Twenty refreshes of one message while the budget is spent reach Slack as one
    call carrying the newest text; a refresh made once that call is under way gets
    a call of its own (joining it would lose the newer text)."""
    scheduler = offline_scheduler(RateLimits(per_minute={"m": 1}, window=0.3))
    message = {"text": "v0"}
    sent: list[str] = []
    release, in_flight, finish = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def other_call() -> None:  # takes the window's one call, and holds it
        await release.wait()

    async def refresh() -> str:  # like the relay's: reads the text when it runs
        text = message["text"]
        sent.append(text)
        in_flight.set()
        await finish.wait()
        return text

    def queue_refresh() -> asyncio.Task[str]:
        return asyncio.create_task(
            scheduler.run("m", refresh, fair_key="x", priority=Priority.REFRESH, coalesce_key="msg")
        )

    holder = asyncio.create_task(scheduler.run("m", other_call, fair_key="y"))
    refreshes = []
    for n in range(1, 21):
        message["text"] = f"v{n}"
        refreshes.append(queue_refresh())
        await asyncio.sleep(0)  # let it queue while the text is v{n}
    release.set()
    await in_flight.wait()
    message["text"] = "v21"
    late = queue_refresh()
    await asyncio.sleep(0)  # queued while the coalesced call is still running
    finish.set()
    assert await asyncio.wait_for(asyncio.gather(*refreshes), 5) == ["v20"] * 20
    assert await asyncio.wait_for(late, 5) == "v21"
    await holder
    await scheduler.close()
    assert sent == ["v20", "v21"]


async def stream(relay: ThreadRelay, pieces: list[str], delay: float):
    async def events():
        for piece in pieces:
            await asyncio.sleep(delay)
            yield TextDelta(piece)
        yield TextDone("".join(pieces))
        yield TurnDone("s")

    await relay.render(events(), Recipient("U1", "T1"))


@pytest.mark.parametrize("native", [True, False], ids=["native-streams", "post-and-update"])
async def test_fifty_interviews_streaming_in_one_channel_get_no_429s(native):
    async with FakeSlack(rate_limits=slack_limits(), streaming=native) as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        scheduler = SlackScheduler(client, RateLimits().faster(SPEED))
        streaming = StreamingSupport(native=native)
        answers = {
            f"1700000001.{n:06d}": [f"Thread {n} says: "] + [f"word{n}-{i} " for i in range(40)] + ["**end**"]
            for n in range(50)
        }
        relays = [
            ThreadRelay(scheduler, "C1", ts, streaming=streaming, min_interval=1 / SPEED)
            for ts in answers
        ]
        await asyncio.wait_for(
            asyncio.gather(*(stream(r, answers[r.thread_ts], 0.02) for r in relays)), timeout=120
        )
        await scheduler.close()

        assert slack.rate_limited == [] and scheduler.rate_limited == 0
        for ts, pieces in answers.items():
            visible = [m for m in slack.thread("C1", ts) if not is_status_line(m)]
            assert [m.text for m in visible] == ["".join(pieces)], ts
        if not native:  # updates were batched (relay interval, scheduler coalescing): far fewer than deltas
            assert len(slack.calls_to("chat.update")) < 50 * 41 / 4
        # Each message was written at most once per interval, as Slack received them; only a
        # stream's last words go out at once (appends have no per-message pace to keep).
        writes: dict[str, list[float]] = {}
        for call in slack.calls:
            if call.ok and call.method in ("chat.update", "chat.appendStream"):
                writes.setdefault(str(call.args["ts"]), []).append(call.ts_received)
        paced = {ts: times[:-1] if native else times for ts, times in writes.items()}
        gaps = [b - a for times in paced.values() for a, b in itertools.pairwise(times)]
        assert min(gaps, default=1 / SPEED) >= 1 / SPEED
        assert gaps or not native  # posted answers may each get just their last update, at 50 at once


async def test_retry_after_pauses_the_whole_method():
    async with FakeSlack(streaming=False) as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        scheduler = SlackScheduler(client, RateLimits().faster(SPEED))
        slack.fail_next("chat.update", "ratelimited")  # 429 with Retry-After: 1
        streaming = StreamingSupport(native=False)
        relays = [
            ThreadRelay(scheduler, "C1", f"1700000002.00000{n}", streaming=streaming, min_interval=0.01)
            for n in range(3)
        ]
        pieces = [f"part{i} " for i in range(30)]
        await asyncio.gather(*(stream(r, pieces, 0.01) for r in relays))
        await scheduler.close()
        updates = slack.calls_to("chat.update")
        limited = next(c for c in updates if not c.ok)
        after = [c for c in updates if c.ts_received > limited.ts_received]
        assert after and min(c.ts_received for c in after) >= limited.ts_received + 1.0  # Retry-After
        assert scheduler.rate_limited == 1
        for relay in relays:
            (message,) = [m for m in slack.thread("C1", relay.thread_ts) if not is_status_line(m)]
            assert message.text == "".join(pieces)


async def test_posted_answers_keep_a_last_update_each_when_the_budget_never_refills():
    """Six answers posted and updated at once against a chat.update budget of 8 that does
    not refill within the test: refreshes stop while the budget still holds one last
    update for every answer still growing, so each ends complete, none waits for a refill."""
    async with FakeSlack(streaming=False) as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        per_minute = {**DEFAULT_PER_MINUTE, "chat.update": 40}
        limits = RateLimits(per_minute=per_minute, window=600, channel_post_interval=0.01)
        scheduler = SlackScheduler(client, limits)
        streaming = StreamingSupport(native=False)
        answers = {f"1700000002.{n:06d}": [f"Answer {n}: "] + [f"w{n}-{i} " for i in range(20)] for n in range(6)}
        relays = [ThreadRelay(scheduler, "C1", ts, streaming=streaming, min_interval=0.01) for ts in answers]
        await asyncio.wait_for(asyncio.gather(*(stream(r, answers[r.thread_ts], 0.01) for r in relays)), timeout=10)
        await scheduler.close()
        for ts, pieces in answers.items():
            (message,) = slack.thread("C1", ts)
            assert message.text == "".join(pieces) and not is_status_line(message), ts
        assert len(slack.calls_to("chat.update")) <= 8


async def test_close_does_not_wait_for_a_budget_when_it_lands_as_the_dispatcher_wakes():
    # One call a minute: the second waits in the dispatcher's timed sleep. A wake at the
    # very moment close() cancels it makes Python 3.11's wait_for swallow the cancel; the
    # bot's shutdown must not then wait out the minute.
    scheduler = offline_scheduler(RateLimits(per_minute={"m": 1}, window=60))
    order: list[str] = []
    job = recorder(order)
    await scheduler.run("m", job("first"), fair_key="t")
    waiting = asyncio.ensure_future(scheduler.run("m", job("second"), fair_key="t"))
    await asyncio.sleep(0.05)  # the dispatcher sleeps until the budget allows the second
    scheduler._wake.set()  # something wakes it ...
    await asyncio.wait_for(scheduler.close(), 5)  # ... as close() cancels it
    assert order == ["first"]
    with pytest.raises(SchedulerClosed):
        await waiting
