"""Working and waiting without litter (issue 22, item 3): "thinking" and "queued" show as the
thread's status (assistant.threads.setStatus), not as lines posted and deleted or a "Thinking"
card left in the answer; where Slack refuses the status, the lines come back. A question's
lead-in text is in the question's own card. A turn whose thread another replica took over
leaves its status and its message to that one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from slack_sdk.web.async_client import AsyncWebClient

from slackbot.events import SessionEvent, TextDelta
from slackbot.slack.relay.support import Recipient, StreamingSupport
from slackbot.slack.relay.thread import ThreadRelay
from slackbot.slack.scheduler import SlackScheduler
from tests.conftest import FAST_LIMITS, held
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack
from tests.test_questions import MODE, answer_result, ask, click, elements, question_message

THREAD = "1700000001.000100"


async def queued_shown(h, ts: str, status: str = "is queued") -> None:
    """Wait until thread `ts` shows that it waits for Claude (the thread's status)."""
    await h.slack.wait_for(lambda: status in h.slack.thread_status("C1", ts), what=f"{status!r} in {ts}")


def status_seen(h, ts: str) -> list[str]:
    return h.slack.status_history.get(("C1", ts), [])


def once_status(h, where: dict[str, str], word: str, then: fa.Turn):
    """A model step that waits until the thread's status says `word`, then answers `then`."""

    async def step(request: fa.ModelRequest) -> fa.Turn:
        await h.slack.wait_for(
            lambda: "ts" in where and word in h.slack.thread_status("C1", where["ts"]), what=f"status {word!r}"
        )
        return then

    return step


def deleted_in(h, ts: str) -> list:
    thread = {m.ts for m in h.slack.messages if m.thread_ts == ts}
    return [c for c in h.slack.calls_to("chat.delete") if c.args.get("ts") in thread or c.args.get("ts") == ts]


async def test_a_plain_interview_shows_working_and_waiting_as_status_and_deletes_nothing(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_LIVE_SESSIONS": "1"})
    started, release = asyncio.Event(), asyncio.Event()
    h.model.script(str(h.project("shop")), [held(started, release, "Hello shop.")])
    blog: dict[str, str] = {}
    step, seen = answer_result("Quick it is. What is the blog about?")
    h.model.script(str(h.project("blog")), [
        once_status(h, blog, "thinking", ask(MODE)), step,
        once_status(h, blog, "thinking", fa.text("Recipes, noted.")),
    ])
    await h.start_interview("shop")
    await asyncio.wait_for(started.wait(), 15)
    blog["ts"] = blog_ts = await h.start_interview("blog")  # blog waits for shop's process
    await h.slack.wait_for(lambda: "next" in h.slack.thread_status("C1", blog_ts), what="the queued status")
    release.set()
    question = await question_message(h, blog_ts, "Quick or detailed interview?")
    await click(h, question, "Quick")
    await h.settled("C1", blog_ts, "What is the blog about?")
    assert seen
    await h.slack.send_message("C1", "U1", "Recipes", thread_ts=blog_ts)
    await h.settled("C1", blog_ts, "Recipes, noted.")
    await h.slack.wait_for(lambda: h.slack.thread_status("C1", blog_ts) == "", what="the status cleared")

    text = h.slack.thread_text("C1", blog_ts)
    assert "Thinking" not in text and "Queued" not in text
    assert deleted_in(h, blog_ts) == []  # nothing came and went
    said = status_seen(h, blog_ts)
    # The lead-in is in the question's card: no message of its own above it.
    assert "One choice first." in str(question.blocks[0])
    assert not [m for m in h.answers("C1", blog_ts) if "One choice first." in m.text and not elements(m)]
    answered = h.slack.message("C1", question.ts)
    assert "One choice first." in str(answered.blocks) and "Quick" in answered.visible_text  # kept once answered
    assert any("next in line" in s for s in said), said  # the queue position
    assert sum(s == "is thinking…" for s in said) >= 2, said  # each turn's thinking


async def test_where_slack_refuses_the_status_the_thinking_line_and_queued_note_show(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_LIVE_SESSIONS": "1"})
    h.slack.status_refusals["C1"] = "method_not_supported_for_channel_type"
    started, release = asyncio.Event(), asyncio.Event()
    h.model.script(str(h.project("shop")), [held(started, release, "Hello shop.")])
    h.model.script(str(h.project("blog")), [fa.text("Hello blog.")])
    await h.start_interview("shop")
    await asyncio.wait_for(started.wait(), 15)
    blog_ts = await h.start_interview("blog")
    await h.wait_for_text("C1", blog_ts, "Queued")  # the note, as before
    release.set()
    await h.settled("C1", blog_ts, "Hello blog.")
    assert h.slack.status_history.get(("C1", blog_ts), []) == []


async def test_a_long_wait_renews_the_status_before_slack_takes_it_down():
    async with FakeSlack() as slack:
        slack.status_lifetime = 3.0  # Slack's two minutes, shortened
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        scheduler = SlackScheduler(client, FAST_LIMITS)
        relay = ThreadRelay(scheduler, "C1", THREAD, streaming=StreamingSupport(native=False), status_refresh=0.2)
        await relay.show_queued(2)
        await slack.wait_for(lambda: len(slack.status_history.get(("C1", THREAD), [])) >= 4, what="renewals")
        assert "" not in slack.status_history[("C1", THREAD)]  # never gone while it waited
        assert "2 interviews ahead" in slack.thread_status("C1", THREAD)
        await relay.take_down_queued()
        await scheduler.close()
        assert slack.thread_status("C1", THREAD) == ""
        assert slack.messages == []  # said without a message


async def test_without_streams_a_lead_in_and_its_question_are_one_message(start_bot):
    h = await start_bot(streaming=False)
    h.model.script(str(h.project("shop")), [ask(MODE)])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    await h.slack.wait_for(lambda: h.slack.thread_status("C1", root_ts) == "", what="the status cleared")
    assert "One choice first." in str(question.blocks[0])
    assert [m.ts for m in h.answers("C1", root_ts)] == [question.ts]  # the lead-in's message is the card
    assert deleted_in(h, root_ts) == []


async def test_while_claude_thinks_the_status_says_typing_stop_stops_it(start_bot):
    """Without a message there is no Stop button yet: the status says what works instead."""
    h = await start_bot()
    started, release = asyncio.Event(), asyncio.Event()
    h.model.script(str(h.project("shop")), [held(started, release, "Here I am.")])
    root_ts = await h.start_interview("shop")
    await asyncio.wait_for(started.wait(), 15)
    await h.slack.wait_for(lambda: "thinking" in h.slack.thread_status("C1", root_ts), what="thinking")
    assert any("stop" in m for m in h.slack.status_loading[("C1", root_ts)])
    await h.slack.send_message("C1", "U1", "stop", thread_ts=root_ts)  # and typing it does
    await h.wait_for_text("C1", root_ts, "Stopped.")
    release.set()


async def test_a_turn_taken_over_meanwhile_writes_nothing_more_as_it_ends():
    """Fencing: a replica back from a stall finds the thread another's and cuts its turn
    off. The turn's end then writes nothing (no last words, no stop of its stream, no
    status taken down: they are the new owner's to show), as after a kill, and its
    message no longer counts among the growing ones of the workspace's streams."""
    async with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        scheduler = SlackScheduler(client, FAST_LIMITS)
        root = (await client.chat_postMessage(channel="C1", text="Spec interview"))["ts"]
        streaming = StreamingSupport()
        relay = ThreadRelay(scheduler, "C1", root, streaming=streaming)
        lost = False
        relay.lost = lambda: lost
        forever = asyncio.Event()

        async def events() -> AsyncIterator[SessionEvent]:
            yield TextDelta("Bread, noted")
            await forever.wait()

        turn = asyncio.create_task(relay.render(events(), Recipient("U1", "T1")))
        await slack.wait_for(lambda: "Bread" in slack.thread_text("C1", root), what="the answer streaming")
        await relay.status.show("is thinking…")
        written = len(slack.calls)
        lost = True  # the stand-down (interview/fencing.py) cancels the turn
        turn.cancel()
        await asyncio.gather(turn, return_exceptions=True)
        await asyncio.sleep(0.3)  # what a flush or a stop in the background would have sent
        assert [str(c) for c in slack.calls[written:]] == []
        assert (streaming.growing_posts, streaming.owing_stops) == (0, 0)
        await scheduler.close()
