"""Native streams as real Slack treats them (issue #12): a stream refused in one thread
leaves the others streaming, a retried stream call never shows a word twice, a stream
that fails part-way is stopped and its text finished, and streaming is turned off for
the whole workspace only when Slack says the app can't stream at all."""

from __future__ import annotations

import pytest

from tests.fakes import anthropic as fa

# Long enough to arrive in several pieces (each piece a write), short enough for one message.
ANSWER = " ".join(f"word{i}" for i in range(60)) + " END"


def streamed_answer() -> fa.Turn:
    return fa.text(ANSWER, chunk_size=24, delay=0.03)


async def settled(h, channel: str, thread_ts: str, text: str = "END"):
    return await h.settled(channel, thread_ts, text)


async def refreshes_used_up(h, root_ts: str) -> None:
    """What is left of the chat.update budget goes to another refresh (as if another
    thread took it): the next update would wait for the budget to refill."""
    scheduler = h.bot.interviews.scheduler
    root = h.slack.message("C1", root_ts)
    while scheduler.estimated_wait("chat.update") == 0:
        await scheduler.update(channel="C1", ts=root_ts, text=root.text, blocks=root.blocks)


def answer_updates(h, root_ts: str) -> list:
    """chat.update calls on the thread's messages (the root's show where the interview stands)."""
    return [c for c in h.slack.calls_to("chat.update") if c.args.get("ts") != root_ts]


def shown(messages) -> str:
    return "".join(m.visible_text for m in messages)


@pytest.mark.parametrize(
    ("error", "status"),
    [("not_in_channel", None), ("is_archived", None), ("missing_recipient_user_id", None),
     ("internal_error", None), ("ratelimited", 200)],
)
async def test_a_stream_refused_in_one_thread_leaves_the_others_streaming(start_bot, error, status):
    h = await start_bot()
    h.model.script(str(h.project("broken")), [fa.text("Answer in the broken channel.")])
    h.model.script(str(h.project("fine")), [streamed_answer(), fa.text("Still streaming.")])
    if status is None:
        h.slack.fail_streams_in("C2", error, methods=["chat.startStream"])
    else:  # Slack's HTTP 200 form of a rate limit
        h.slack.fail_next("chat.startStream", error, status=status)

    broken_ts = await h.start_interview("broken", channel="C2")
    (message,) = await settled(h, "C2", broken_ts, "broken channel.")
    assert message.visible_text == "Answer in the broken channel."  # shown all the same, once

    fine_ts = await h.start_interview("fine", channel="C1")
    (message,) = await settled(h, "C1", fine_ts)
    assert message.streamed and message.text == ANSWER
    await h.slack.send_message("C1", "U1", "go on", thread_ts=fine_ts)
    *_, message = await settled(h, "C1", fine_ts, "Still streaming.")
    assert message.streamed and message.text == "Still streaming."
    assert "Slack refused" not in h.slack.thread_text("C1", fine_ts)


@pytest.mark.parametrize("method", ["chat.startStream", "chat.appendStream"])
@pytest.mark.parametrize("status", [429, 200], ids=["http-429", "http-200"])
async def test_a_rate_limited_stream_call_shows_no_word_twice(start_bot, method, status):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [streamed_answer()])
    h.slack.fail_next(method, "ratelimited", status=status)
    root_ts = await h.start_interview("shop")
    (message,) = await settled(h, "C1", root_ts)
    assert [c.ok for c in h.slack.calls_to(method)][:2] == [False, True]  # refused, then retried
    assert message.streamed and message.stream_state == "stopped"
    assert message.text == ANSWER and message.visible_text == ANSWER
    assert "Slack refused" not in h.slack.thread_text("C1", root_ts)


async def test_a_rate_limited_stop_is_retried_until_the_stream_is_closed(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [streamed_answer()])
    h.slack.fail_next("chat.stopStream", "ratelimited")  # HTTP 429, Retry-After: 1
    h.slack.fail_next("chat.stopStream", "ratelimited", status=200)  # then Slack's HTTP 200 form
    root_ts = await h.start_interview("shop")
    (message,) = await settled(h, "C1", root_ts)
    assert [c.ok for c in h.slack.calls_to("chat.stopStream")] == [False, False, True]
    assert message.stream_state == "stopped" and message.text == ANSWER and message.visible_text == ANSWER


def fail_first_append(h, then: str) -> None:
    """The first chat.appendStream finds its stream ended by Slack (`then`), as when a
    stream expires or its user presses stop while Claude is still writing."""
    killed: list[str] = []

    def kill(args: dict) -> bool:
        if not killed:
            killed.append(args["ts"])
            h.slack.kill_stream(args["ts"], then)
        return False  # the append itself goes on, and finds the stream ended

    h.slack.fail_when("chat.appendStream", "unused", kill)


async def test_a_stream_slack_ended_part_way_is_finished_on_the_same_message(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [streamed_answer()])
    fail_first_append(h, "message_not_in_streaming_state")
    root_ts = await h.start_interview("shop")
    (message,) = await settled(h, "C1", root_ts)
    assert message.visible_text == ANSWER  # every word, once
    assert answer_updates(h, root_ts) and not h.slack.calls_to("chat.stopStream")  # nothing to stop
    assert "Slack refused" not in h.slack.thread_text("C1", root_ts)


async def test_a_stream_the_user_stopped_stays_as_they_left_it_and_claude_stops(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [streamed_answer()])
    fail_first_append(h, "stopped_by_user")
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Stopped. Reply here when you're ready to go on.")
    stopped = next(m for m in h.answers("C1", root_ts) if m.streamed)
    assert stopped.edits == 0 and "END" not in h.slack.thread_text("C1", root_ts)  # left as they stopped it
    # Nothing went on below it: the thread holds the stopped answer and the note, no more.
    assert [m.ts for m in h.answers("C1", root_ts)][:-1] == [stopped.ts]
    assert not answer_updates(h, root_ts)
    assert "Slack refused" not in h.slack.thread_text("C1", root_ts)


@pytest.mark.parametrize("error", ["internal_error", "fatal_error"])
async def test_a_stream_that_fails_part_way_is_stopped_before_it_is_edited(start_bot, error):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [streamed_answer()])
    h.slack.fail_next("chat.appendStream", error)  # the stream stays open in Slack
    root_ts = await h.start_interview("shop")
    messages = await settled(h, "C1", root_ts)  # none left streaming
    assert shown(messages) == ANSWER  # every word, once
    conflicts = [c for c in h.slack.calls_to("chat.update") if c.response.get("error") == "streaming_state_conflict"]
    assert conflicts == []  # stopped first, then edited
    assert "Slack refused" not in h.slack.thread_text("C1", root_ts)


async def test_a_failed_stream_whose_stop_is_refused_goes_on_below_and_is_closed_later(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [streamed_answer()])
    h.slack.fail_next("chat.appendStream", "internal_error")
    h.slack.fail_next("chat.stopStream", "internal_error")  # still open: it can't be edited
    root_ts = await h.start_interview("shop")
    first, rest = await settled(h, "C1", root_ts)  # the stream was closed after all
    assert first.streamed and first.edits == 0 and not rest.streamed
    assert shown([first, rest]) == ANSWER  # every word, once, across the two
    assert all(c.args["ts"] != first.ts for c in h.slack.calls_to("chat.update"))  # no edit of the open stream


async def test_a_workspace_that_cannot_stream_uses_post_and_update_then_tries_again_later(start_bot):
    h = await start_bot(fail_methods={"chat.startStream": "missing_scope"})
    now = [1000.0]
    h.bot.interviews.streaming.clock = lambda: now[0]
    h.model.script(str(h.project("shop")), [fa.text("One."), fa.text("Two."), fa.text("Three."), fa.text("Four.")])
    root_ts = await h.start_interview("shop")
    (first,) = await settled(h, "C1", root_ts, "One.")
    assert not first.streamed and first.visible_text == "One."
    assert len(h.slack.calls_to("chat.startStream")) == 1

    for word in ("Two.", "Three."):  # not asked again for every message
        await h.slack.send_message("C1", "U1", "more", thread_ts=root_ts)
        *_, message = await settled(h, "C1", root_ts, word)
        assert not message.streamed and message.visible_text == word
    assert len(h.slack.calls_to("chat.startStream")) == 1

    # Ten minutes on (the app got its scope meanwhile), streaming is tried again.
    del h.slack.fail_methods["chat.startStream"]
    now[0] += 601
    await h.slack.send_message("C1", "U1", "more", thread_ts=root_ts)
    *_, message = await settled(h, "C1", root_ts, "Four.")
    assert message.streamed and message.text == "Four."


async def test_when_refreshes_are_scarce_an_answer_is_posted_once_whole(start_bot):
    # chat.update at 2 in 10 minutes for the whole workspace: once its burst is used up,
    # the next update would wait minutes behind it.
    h = await start_bot(streaming=False, env={"NEWSPEC_RATE_LIMITS": "chat.update=2"}, limits_window=600)
    h.model.script(str(h.project("shop")), [fa.text("Hello."), streamed_answer()])
    root_ts = await h.start_interview("shop")
    await h.settled("C1", root_ts, "Hello.")
    await refreshes_used_up(h, root_ts)
    updates = len(answer_updates(h, root_ts))

    await h.slack.send_message("C1", "U1", "go on", thread_ts=root_ts)
    *_, message = await h.settled("C1", root_ts, "END")  # not held back minutes by the refresh budget
    assert message.visible_text == ANSWER and message.edits == 0  # every word, in one post
    assert len(answer_updates(h, root_ts)) == updates


async def test_when_refreshes_are_scarce_a_thinking_line_gives_way_to_the_whole_answer(start_bot):
    h = await start_bot(streaming=False, env={"NEWSPEC_RATE_LIMITS": "chat.update=2"}, limits_window=600)
    h.slack.status_refusals["C1"] = "not_allowed_token_type"  # a Stop under "Thinking", as before

    async def after_thinking(request: fa.ModelRequest) -> fa.Turn:
        await h.slack.wait_for(lambda: any("Thinking" in m.text for m in h.slack.messages), what="Thinking…")
        return streamed_answer()

    h.model.script(str(h.project("shop")), [fa.text("Hello."), after_thinking])
    root_ts = await h.start_interview("shop")
    await h.settled("C1", root_ts, "Hello.")
    await refreshes_used_up(h, root_ts)
    updates = len(answer_updates(h, root_ts))

    await h.slack.send_message("C1", "U1", "go on", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "END")
    (message,) = [m for m in h.slack.thread("C1", root_ts) if "END" in m.text]
    assert message.visible_text == ANSWER and message.edits == 0  # posted once, whole
    assert len(answer_updates(h, root_ts)) == updates  # the Thinking line was never refreshed
    # Never deleted: it says it is done once an update is free (minutes here; see test_turn_writes).
    assert not h.slack.calls_to("chat.delete")
