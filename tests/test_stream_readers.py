"""Streams as every reader sees them (issue 20, items 2 and 3). While a stream is open
only its recipient sees it grow; everyone else sees its first words until it is
stopped. Slack ends a stream about five minutes after it started, and a stream it
ended without our stop stays a broken pill until chat.update repairs it."""

from __future__ import annotations

import asyncio

from tests.fakes import anthropic as fa
from tests.test_questions import MODE

ANSWER = " ".join(f"word{i}" for i in range(60)) + " END"
# Streamed for several of the short lifetime below: ~45 pieces, 0.15 s apart.
LONG_ANSWER = " ".join(f"long{i}" for i in range(150)) + " FIN"
LIFETIME = 3.0  # seconds a stream lives, in the fake and in the bot's settings


def not_in_streaming_state(h) -> list:
    """Stream calls Slack refused because the stream was already over."""
    return [c for c in h.slack.calls if c.response.get("error") == "message_not_in_streaming_state"]


async def test_every_reader_sees_the_whole_answer_before_the_question_below_it(start_bot):
    # Slack takes a moment to answer a stop, as it does under load.
    h = await start_bot(delays={"chat.stopStream": 0.3})
    h.model.script(str(h.project("shop")), [
        fa.tool("AskUserQuestion", {"questions": [MODE]}, text_before=ANSWER, chunk_size=24, delay=0.03),
    ])
    thread: dict[str, str] = {}
    seen_by_other: list[str] = []

    def question_arrives(args: dict) -> bool:
        if "blocks" in args and MODE["question"] in str(args.get("text")):
            seen_by_other.append(h.slack.thread_text("C1", thread["ts"], viewer="U2"))
        return False  # the post goes through

    h.slack.fail_when("chat.postMessage", "unused", question_arrives)
    thread["ts"] = await h.start_interview("shop")  # U1 starts it: the stream is U1's
    await h.wait_for_text("C1", thread["ts"], MODE["question"])
    (streamed,) = [m for m in h.answers("C1", thread["ts"]) if m.streamed]
    assert streamed.text == ANSWER and streamed.stream_recipient == "U1"
    # When the buttons appeared, U2 (in the thread, not the stream's recipient) saw the whole answer.
    assert seen_by_other and ANSWER in seen_by_other[0]


async def test_a_stream_that_expires_before_its_stop_is_repaired_for_everyone(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text(ANSWER, chunk_size=24, delay=0.03)])
    stop = h.slack.hold_next("chat.stopStream")
    root_ts = await h.start_interview("shop")
    await stop.reached.wait()  # every word is written; Slack has not answered the stop yet...
    h.slack.stream_lifetime = 0  # ...and meanwhile the stream's lifetime is over
    stop.release.set()
    await h.slack.wait_for(
        lambda: ANSWER in h.slack.thread_text("C1", root_ts, viewer="U2") and not h.slack.broken_streams(),
        what="the whole answer shown to everyone, no broken stream",
    )
    assert h.slack.thread_text("C1", root_ts) == ANSWER  # once
    assert "Slack refused" not in h.slack.thread_text("C1", root_ts)


async def test_an_answer_that_outlives_a_stream_goes_on_in_a_new_stream(start_bot):
    h = await start_bot(stream_lifetime=LIFETIME, env={"NEWSPEC_STREAM_LIFETIME": str(LIFETIME)})
    h.model.script(str(h.project("shop")), [fa.text(LONG_ANSWER, chunk_size=24, delay=0.15)])
    root_ts = await h.start_interview("shop")
    messages = await h.settled("C1", root_ts, "FIN")
    assert h.slack.broken_streams() == [] and not_in_streaming_state(h) == []  # none ran past its lifetime
    assert len(messages) > 1
    assert all(m.streamed and m.stream_state == "stopped" and m.edits == 0 for m in messages)  # each stopped by us
    assert "".join(m.visible_text for m in messages) == LONG_ANSWER  # every word, once
    assert h.slack.thread_text("C1", root_ts, viewer="U2") == h.slack.thread_text("C1", root_ts)


async def test_a_stream_left_idle_past_its_lifetime_is_stopped_in_time(start_bot):
    h = await start_bot(stream_lifetime=LIFETIME, env={"NEWSPEC_STREAM_LIFETIME": str(LIFETIME)})

    async def after_a_long_search(request: fa.ModelRequest) -> fa.Turn:
        await asyncio.sleep(LIFETIME)  # nothing is written meanwhile
        return fa.text("Found it. END")

    h.model.script(str(h.project("shop")), [
        fa.tool("Glob", {"pattern": "*.md"}, text_before="Let me look around."), after_a_long_search,
    ])
    root_ts = await h.start_interview("shop")
    messages = await h.settled("C1", root_ts, "END")
    assert h.slack.broken_streams() == [] and not_in_streaming_state(h) == []
    assert all(m.streamed and m.stream_state == "stopped" and m.edits == 0 for m in messages)
    assert "".join(m.text for m in messages) == "Let me look around.\n\nFound it. END"
    assert h.slack.thread_text("C1", root_ts, viewer="U2") == h.slack.thread_text("C1", root_ts)


async def test_when_stops_are_scarce_an_answer_is_posted_for_everyone_to_see(start_bot):
    # chat.stopStream at 2 in 10 minutes for the whole workspace: once one stream is
    # stopped, the next stop would wait minutes, and with it everyone but the recipient.
    # (chat.update keeps about its usual pace.)
    limits = "chat.stopStream=2,chat.update=500"
    h = await start_bot(env={"NEWSPEC_RATE_LIMITS": limits}, limits_window=600)
    h.model.script(str(h.project("shop")), [fa.text("Hello."), fa.text(ANSWER, chunk_size=24, delay=0.03)])
    root_ts = await h.start_interview("shop")
    (first,) = await h.settled("C1", root_ts, "Hello.")
    assert first.streamed and first.stream_state == "stopped"  # a stop was still to be had

    await h.slack.send_message("C1", "U1", "go on", thread_ts=root_ts)
    *_, message = await h.settled("C1", root_ts, "END")
    assert not message.streamed and message.visible_text == ANSWER
    assert ANSWER in h.slack.thread_text("C1", root_ts, viewer="U2")


async def test_once_a_second_person_takes_part_answers_grow_for_everyone(start_bot):
    h = await start_bot()
    h.slack.add_user("U2", name="bo")
    h.slack.add_member("C1", "U2")
    reply = " ".join(f"bread{i}" for i in range(60)) + " DONE"
    h.model.script(str(h.project("shop")), [
        fa.text("What do you sell?"),
        fa.text(reply, chunk_size=24, delay=0.05),
    ])
    root_ts = await h.start_interview("shop")  # U1 starts it, alone so far: the greeting streams to U1
    (greeting,) = await h.settled("C1", root_ts, "What do you sell?")
    assert greeting.streamed
    await h.slack.send_message("C1", "U2", "We sell bread", thread_ts=root_ts)
    messages = await h.settled("C1", root_ts, "DONE")
    (answer,) = [m for m in messages if "DONE" in m.visible_text]
    # Not a stream for U2 that U1 would see only the start of: posted, and grown by updates.
    assert not answer.streamed and answer.edits >= 1
    assert reply in h.slack.thread_text("C1", root_ts, viewer="U1")
