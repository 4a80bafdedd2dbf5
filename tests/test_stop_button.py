"""A Stop button stops the answer it was posted under, and nothing later: a status line
left behind (a crash kept its button, or a click was in flight) must not interrupt a
turn that runs afterwards. Through the real bot, the fake Slack (posted answers, so
the status line and its Stop show) and the fake model."""

from __future__ import annotations

import asyncio
from pathlib import Path

from slackbot.slack.blocks import STOP_ACTION, markdown_blocks, status_blocks, without_status
from tests.conftest import bot_env, held, is_status_line, process_env
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack, Message
from tests.test_crash import greeted, kill_9, launch

FINISHED = "That answer has already finished."


def stop_button(message: Message) -> dict:
    """The Stop button of a status line, as Slack shows (and sends back) it."""
    return next(
        element for block in message.blocks or [] for element in block.get("elements", [])
        if element.get("action_id") == STOP_ACTION
    )


async def live_status_line(h, root_ts: str) -> Message:
    """A copy of the status line (with its Stop) under an answer Claude is still writing."""
    return await status_line_in(h.slack, root_ts)


async def status_line_in(slack: FakeSlack, root_ts: str) -> Message:
    live = await slack.wait_for(
        lambda: next((m for m in slack.thread("C1", root_ts) if is_status_line(m)), None), what="a Stop button"
    )
    return Message(live.channel, live.ts, live.text, live.thread_ts, live.user, live.bot_id, list(live.blocks or []))


async def click_stop(h, line: Message) -> None:
    await click_stop_in(h.slack, line)


async def click_stop_in(slack: FakeSlack, line: Message) -> None:
    await slack.send_action(STOP_ACTION, stop_button(line).get("value"), user_id="U1", channel_id="C1",
                            message_ts=line.ts)


def test_taking_the_status_line_off_keeps_the_rest_of_the_message():
    text = markdown_blocks("Half an answer")
    assert without_status(text + status_blocks("Writing app_spec.txt", "t1")) == text
    assert without_status(text + status_blocks(None, "t1")) == text
    assert without_status(status_blocks("Thinking", "t1")) == []  # only a status line: nothing left
    assert without_status(text) is None  # no Stop: left alone
    assert status_blocks(None, "t1")[-1]["elements"][0]["value"] == "t1"


async def test_a_stale_stop_does_not_interrupt_a_later_turn(start_bot):
    h = await start_bot(streaming=False)
    h.slack.status_refusals["C1"] = "not_allowed_token_type"  # a Stop under "Thinking", as before
    started, release = asyncio.Event(), asyncio.Event()
    long_answer = " ".join(f"word{i}" for i in range(60))
    h.model.script(str(h.project("shop")), [
        fa.text(long_answer, chunk_size=8, delay=0.02), held(started, release, "Second answer, in full."),
    ])
    root_ts = await h.start_interview("shop")
    old = await live_status_line(h, root_ts)  # as a client that never saw it go still shows it
    await h.settled("C1", root_ts, "word59")

    await h.slack.send_message("C1", "U1", "go on", thread_ts=root_ts)
    await asyncio.wait_for(started.wait(), 15)
    await live_status_line(h, root_ts)  # the new turn shows its own Stop
    await click_stop(h, old)
    await h.slack.wait_for(
        lambda: h.slack.ephemerals(user="U1") or "Stopped." in h.slack.thread_text("C1", root_ts),
        what="the stale click handled",
    )
    assert "Stopped." not in h.slack.thread_text("C1", root_ts)
    assert [e.text for e in h.slack.ephemerals(user="U1")] == [FINISHED]

    release.set()
    await h.settled("C1", root_ts, "Second answer, in full.")
    assert "Stopped." not in h.slack.thread_text("C1", root_ts)


async def test_the_stop_of_the_running_turn_still_stops_it(start_bot):
    h = await start_bot(streaming=False)
    h.slack.status_refusals["C1"] = "not_allowed_token_type"  # a Stop under "Thinking", as before
    started, release = asyncio.Event(), asyncio.Event()
    h.model.script(str(h.project("shop")), [held(started, release, "too late"), fa.text("Carrying on.")])
    root_ts = await h.start_interview("shop")
    await asyncio.wait_for(started.wait(), 15)
    await click_stop(h, await live_status_line(h, root_ts))
    await h.wait_for_text("C1", root_ts, "Stopped. Reply here when you're ready to go on.")
    release.set()
    await h.slack.send_message("C1", "U1", "go on", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Carrying on.")
    assert "too late" not in h.slack.thread_text("C1", root_ts)
    assert h.slack.ephemerals(user="U1") == []


async def test_after_a_crash_the_stop_it_left_goes_and_stops_nothing(model, tmp_path: Path):
    resumed, go_on = asyncio.Event(), asyncio.Event()
    long_answer = " ".join(f"word{i}" for i in range(60))
    async with FakeSlack(streaming=False) as slack:
        env = process_env(**bot_env(slack, tmp_path))
        model.script(str(tmp_path / "generations" / "shop"), [
            fa.text("What do you sell?"), fa.text(long_answer, chunk_size=6, delay=0.2),
            held(resumed, go_on, "Bread, got it."),
        ])
        process = await launch(slack, env)
        try:
            root_ts = await greeted(slack, "What do you sell?")
            await slack.send_message("C1", "U1", "We sell bread", thread_ts=root_ts)
            await slack.wait_for(lambda: "word3" in slack.thread_text("C1", root_ts), timeout=30)
            old = await status_line_in(slack, root_ts)
            await kill_9(process)  # mid-answer: its status line keeps its Stop

            process = await launch(slack, env)
            await asyncio.wait_for(resumed.wait(), 30)  # the turn runs again
            left = slack.message("C1", old.ts)
            assert left is not None and "word3" in left.visible_text  # what Claude wrote stays
            assert not is_status_line(left)  # the dead Stop was taken down
            await click_stop_in(slack, old)  # from a client that still shows it
            await slack.wait_for(lambda: slack.ephemerals(user="U1"), what="the stale click answered")
            assert [e.text for e in slack.ephemerals(user="U1")] == [FINISHED]
            go_on.set()
            await slack.wait_for(lambda: "Bread, got it." in slack.thread_text("C1", root_ts), timeout=30)
            assert "Stopped." not in slack.thread_text("C1", root_ts)
        finally:
            if process.returncode is None:
                await kill_9(process)
