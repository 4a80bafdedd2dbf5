"""The thread as a team experiences it: names, owner-only, status line, stop, cancel."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import Callable

import pytest

from slackbot.slack.blocks import STOP_ACTION
from slackbot.slack.relay.turn import STATUS_DELAY
from slackbot.store import Status
from tests.conftest import held, is_status_line, people_said
from tests.fakes import anthropic as fa
from tests.test_completion import completed, usage_of
from tests.test_interview_flow import write_both
from tests.test_stop_button import click_stop


async def test_several_people_answer_and_claude_sees_who_said_what(start_bot):
    h = await start_bot()
    h.slack.add_user("U1", name="ana", display_name="Ana")
    h.slack.add_user("U2", name="ben", display_name="Ben")
    h.model.script(str(h.project("shop")), [fa.text("Who are you?"), fa.text("Hi Ana, hi Ben.")])
    root_ts = await h.start_interview("shop", user="U1")
    await h.wait_for_text("C1", root_ts, "Who are you?")
    await h.slack.send_message("C1", "U1", "I run the bakery", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Hi Ana, hi Ben.")
    await h.slack.send_message("C1", "U2", "I do the deliveries", thread_ts=root_ts)
    await h.slack.wait_for(lambda: len(h.model.requests) == 3 or h.model.unscripted)
    said = [people_said(r) for r in h.model.requests[1:]]
    assert said == ["Ana: I run the bakery", "Ben: I do the deliveries"]


async def test_owner_only_mode_passes_on_only_the_starter(start_bot):
    h = await start_bot(env={"NEWSPEC_THREAD_OWNER_ONLY": "1"})
    h.slack.add_user("U1", name="ana", display_name="Ana")
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Thanks, Ana.")])
    root_ts = await h.start_interview("shop", user="U1")
    await h.wait_for_text("C1", root_ts, "Hello!")
    await h.slack.send_message("C1", "U2", "me too!", thread_ts=root_ts)
    note = await h.slack.wait_for(lambda: next(iter(h.slack.ephemerals(user="U2")), None))
    assert "Only <@U1>" in note.text and "not passed on" in note.text
    await h.slack.send_message("C1", "U1", "answer from Ana", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Thanks, Ana.")
    assert [people_said(r) for r in h.model.requests[1:]] == ["Ana: answer from Ana"]


def status_said(h, since: int = 0) -> list[str]:
    """What the live status line said, in order, in Slack calls from index `since` on: the
    context line under a posted message that Claude is still writing."""
    said: list[str] = []
    for call in h.slack.calls[since:]:
        if call.ok and call.method in ("chat.postMessage", "chat.update"):
            for block in call.args.get("blocks") or []:
                text = block["elements"][0].get("text", "") if block.get("type") == "context" else ""
                if text.startswith(":hourglass_flowing_sand: _"):
                    line = text.removeprefix(":hourglass_flowing_sand: _").removesuffix("…_")
                    if not said or said[-1] != line:
                        said.append(line)
    return said


def tasks_shown(h, since: int = 0) -> list[tuple[str, str]]:
    """(title, status) of every task card sent in stream calls from index `since` on."""
    return [
        (chunk["title"], chunk["status"])
        for call in h.slack.calls[since:]
        if call.ok and call.method.endswith("Stream")
        for chunk in call.args.get("chunks") or []
        if chunk.get("type") == "task_update"
    ]


async def turn_ended(h, root_ts: str, started: float) -> float:
    """Wait for the turn whose answer already shows to end (its status is saved after the
    turn, once its messages are finished); return how long it took at most since `started`."""

    async def saved() -> bool:
        return (await h.bot.store.get_interview("C1", root_ts)).status != Status.INTERVIEWING

    await h.slack.wait_for(saved, what="the turn to end")
    took = time.monotonic() - started
    assert not any(is_status_line(m) for m in h.slack.thread("C1", root_ts))  # no Stop left behind
    return took


def slow_file_writing_script(h, project, since: dict[str, int], seen: Callable[[str], bool]):
    """Greeting, a quick answer, then a turn that thinks for a while and writes both files,
    each step waiting until Slack shows the activity before (so none is folded away)."""
    spec_step, prompt_step, done_step = write_both(project)
    pause = 2 * h.bot.interviews.min_interval  # a message is written at most once per interval

    async def once_shown(text: str, then: fa.Turn) -> fa.Turn:
        await h.slack.wait_for(lambda: seen(text), what=f"activity {text!r}")
        await asyncio.sleep(pause)
        return then

    async def slow_start(request: fa.ModelRequest) -> fa.Turn:
        # Nothing yet after STATUS_DELAY: the thread's status says Claude is thinking.
        await h.slack.wait_for(lambda: "is thinking…" in h.slack.statuses.values(), what="the thinking status")
        await asyncio.sleep(pause)
        return spec_step

    async def after_the_spec(request: fa.ModelRequest) -> fa.Turn:
        return await once_shown("Writing app_spec.txt", prompt_step)

    return [fa.text("Ready?"), fa.text("Quick answer."), slow_start, after_the_spec, done_step]


async def quick_turns_show_no_activity(h, tasks_or_lines: Callable[[int], list]) -> str:
    """Plain answers show no activity if the turn really ended within STATUS_DELAY (measured
    from before the message was sent); a slower one (the CLI starting, a busy machine) may
    say "Thinking" and nothing else. Returns the thread."""
    root_ts = ""
    for message, answer in [(None, "Ready?"), ("quick question", "Quick answer.")]:
        before, started = len(h.slack.calls), time.monotonic()
        if message is None:
            root_ts = await h.start_interview("shop")
        else:
            await h.slack.send_message("C1", "U1", message, thread_ts=root_ts)
        await h.wait_for_text("C1", root_ts, answer)
        took, said = await turn_ended(h, root_ts, started), tasks_or_lines(before)
        if took < STATUS_DELAY:
            assert said == [], f"a {took:.2f} s turn showed {said}"
        else:
            assert {str(x) for x in said} <= {"Thinking", str(("Thinking", "in_progress")),
                                              str(("Thinking", "complete"))}
    return root_ts


async def the_file_writing_turn(h, root_ts: str, since: dict[str, int]) -> None:
    """The team says yes; the slow turn writes both files and ends."""
    since["tools"] = len(h.slack.calls)
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)
    await h.slack.wait_for(lambda: len(h.slack.uploads) == 2 or h.model.step_errors, timeout=30)
    h.model.verify()
    await turn_ended(h, root_ts, time.monotonic())


async def test_what_claude_does_shows_as_task_cards_in_its_streamed_answer(start_bot):
    h = await start_bot()
    project = h.project("shop")
    since = {"tools": 0}
    h.model.script(str(project), slow_file_writing_script(
        h, project, since, lambda text: any(title == text for title, _ in tasks_shown(h, since["tools"]))
    ))
    root_ts = await quick_turns_show_no_activity(h, lambda before: tasks_shown(h, before))

    await the_file_writing_turn(h, root_ts, since)
    assert tasks_shown(h, since["tools"]) == [  # thinking was the thread's status, not a card
        ("Writing app_spec.txt", "in_progress"), ("Writing app_spec.txt", "complete"),
        ("Writing initializer_prompt.md", "in_progress"), ("Writing initializer_prompt.md", "complete"),
    ]
    # All of it in the answer itself: no status line of its own was posted, edited or deleted.
    turn_calls = h.slack.calls[since["tools"]:]
    assert not [c for c in turn_calls if STOP_ACTION in json.dumps(c.args)]
    assert not [c for c in turn_calls if c.method == "chat.delete"]
    answer = next(m for m in h.answers("C1", root_ts) if "Great, writing the spec now." in m.text)
    assert answer.streamed and [t["title"] for t in answer.tasks.values()] == [
        "Writing app_spec.txt", "Writing initializer_prompt.md"
    ]
    assert "The spec is ready" in h.slack.thread_text("C1", root_ts)
    assert {t["status"] for t in answer.tasks.values()} == {"complete"}


async def test_without_streams_the_status_line_rides_on_the_answer_and_goes_away(start_bot):
    h = await start_bot(streaming=False)
    project = h.project("shop")
    since = {"tools": 0}
    h.model.script(str(project), slow_file_writing_script(
        h, project, since, lambda text: text in status_said(h, since["tools"])
    ))
    root_ts = await quick_turns_show_no_activity(h, lambda before: status_said(h, before))

    await the_file_writing_turn(h, root_ts, since)
    assert status_said(h, since["tools"]) == ["Writing app_spec.txt", "Writing initializer_prompt.md"]
    # The status line is part of the answer's message: posted with it, gone with the turn.
    answer = next(m for m in h.answers("C1", root_ts) if "Great, writing the spec now." in m.text)
    (posted,) = [c for c in h.slack.calls_to("chat.postMessage") if c.ok and c.response["ts"] == answer.ts]
    assert posted.args["text"].startswith("Great, writing") and STOP_ACTION in json.dumps(posted.args["blocks"])
    assert not is_status_line(answer)
    assert not [c for c in h.slack.calls[since["tools"]:] if c.method == "chat.delete"]


def long_answer_then(h, after: str) -> None:
    long_answer = " ".join(f"word{i}" for i in range(400))
    h.model.script(str(h.project("shop")), [fa.text(long_answer, chunk_size=8, delay=0.02), fa.text(after)])


async def stopped_and_goes_on(h, root_ts: str) -> None:
    await h.wait_for_text("C1", root_ts, "Stopped. Reply here when you're ready to go on.")
    assert "word399" not in h.slack.thread_text("C1", root_ts)
    assert "interrupted" not in h.slack.thread_text("C1", root_ts).lower()  # no CLI-internal text
    await h.slack.send_message("C1", "U1", "go on", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Carrying on.")


async def test_stop_button_under_a_posted_answer_interrupts_it(start_bot):
    h = await start_bot(streaming=False)
    long_answer_then(h, "Carrying on.")
    root_ts = await h.start_interview("shop")
    await h.slack.wait_for(lambda: "word20" in h.slack.thread_text("C1", root_ts))
    answer = next(m for m in h.slack.thread("C1", root_ts) if is_status_line(m))  # Stop under the text
    await click_stop(h, answer)
    await stopped_and_goes_on(h, root_ts)


async def test_stopping_the_stream_in_slack_stops_claude(start_bot):
    h = await start_bot()
    long_answer_then(h, "Carrying on.")
    root_ts = await h.start_interview("shop")
    await h.slack.wait_for(lambda: "word20" in h.slack.thread_text("C1", root_ts))
    (answer,) = [m for m in h.slack.thread("C1", root_ts) if m.streamed]
    h.slack.kill_stream(answer.ts, error="stopped_by_user")  # the person pressed stop on the stream
    await stopped_and_goes_on(h, root_ts)
    assert h.slack.message("C1", answer.ts).edits == 0  # left as they stopped it
    assert len([m for m in h.slack.thread("C1", root_ts) if "word" in m.text]) == 1  # nothing went on below


async def test_typing_stop_interrupts_and_is_not_sent_to_claude(start_bot):
    h = await start_bot()
    started, release = asyncio.Event(), asyncio.Event()
    h.model.script(str(h.project("shop")), [held(started, release, "too late")])
    root_ts = await h.start_interview("shop")
    await asyncio.wait_for(started.wait(), 15)
    await h.slack.send_message("C1", "U1", "Stop", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Stopped.")
    release.set()
    assert all("Stop" not in r.last_user_text for r in h.model.requests)
    assert "too late" not in h.slack.thread_text("C1", root_ts)


async def test_cancel_ends_the_interview_and_keeps_the_files(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [fa.text("Hello! What is it?")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What is it?")
    await h.slack.send_action("newspec_cancel", user_id="U2", channel_id="C1", message_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "<@U2> cancelled this interview. Files are kept in")
    root = await h.slack.wait_for(lambda: (m := h.slack.message("C1", root_ts)) and "Cancelled" in m.text and m)
    assert "Cancel interview" not in root.visible_text
    assert project.is_dir()

    await h.slack.send_message("C1", "U1", "are you there?", thread_ts=root_ts)
    note = await h.slack.wait_for(  # told privately, so a retried event can't repeat it in the thread
        lambda: next((e for e in h.slack.ephemerals(user="U1") if "This interview was cancelled" in e.text), None)
    )
    assert "`/newspec shop`" in note.text
    assert len(h.model.requests) == 1  # nothing more reached Claude


async def cli_total(h, root_ts: str) -> float:
    """The conversation's cost as the CLI last reported it (ResultMessage.total_cost_usd: a
    running total, kept across resume), as the bot recorded it; no price table needed."""
    return (await h.bot.store.get_interview("C1", root_ts)).session_cost_usd


async def test_summary_card_after_the_files(start_bot):
    h = await start_bot()
    project = h.project("shop")
    # A wordy greeting, so its cost shows plainly in the interview's total if counted twice.
    h.model.script(str(project), [fa.text("Ready? " + "Tell me about the shop. " * 100), *write_both(project)])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Ready?")
    await turn_ended(h, root_ts, time.monotonic())
    greeting = await cli_total(h, root_ts)
    assert greeting >= 0.0002  # else a double count could hide in float noise
    await h.restart()  # the rest of the interview resumes the conversation in a new CLI process
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)
    card = await completed(h, root_ts)  # the files' message
    lines = card.visible_text.splitlines()
    fields = {key: value for key, value in itertools.pairwise(lines) if key.startswith("*") and key.endswith("*")}
    usage = usage_of(card).split(" · ")
    tokens_in, tokens_out = h.model.billed()
    assert lines[0].startswith("*shop* — 8 features, ready to build")
    assert fields["*Stack*"] == (
        "React 18 with Vite and TypeScript · Node.js 20 with Express and TypeScript · "
        "SQLite via better-sqlite3, file at ./data/todo.db"
    )
    assert fields["*Features*"] == "8"
    assert usage[1] == f"{len(h.model.requests)} model turns"
    assert usage[2:4] == [f"{tokens_in:,} tokens in", f"{tokens_out:,} out"]
    # Every charge counted once, whatever the turns and the resume: the CLI's last running
    # total (plus the greeting's, had the resumed CLI started its total afresh).
    total = await cli_total(h, root_ts)
    charged = total if total >= greeting else greeting + total
    assert (await h.bot.store.get_interview("C1", root_ts)).cost_usd == pytest.approx(charged, abs=1e-9)
    assert charged >= 0.01 and usage[4] == f"${charged:.2f}"  # to the cent, as people read it
    assert usage[0] == "Saved in `shop/prompts/`"


# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def content_of(request: fa.ModelRequest) -> list[dict]:
    content = request.last_user_message["content"]
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


async def test_image_and_text_attachments_reach_claude(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Show me."), fa.text("Nice sketch.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Show me.")
    sketch = h.slack.add_file(PNG, "sketch.png", mimetype="image/png")
    notes = h.slack.add_file("# Notes\n- orders\n- delivery\n", "notes.md", mimetype="text/markdown")
    await h.slack.send_message("C1", "U1", "", thread_ts=root_ts, files=[sketch, notes])  # files only
    await h.wait_for_text("C1", root_ts, "Nice sketch.")
    blocks = content_of(h.model.requests[-1])
    (image,) = [b for b in blocks if b["type"] == "image"]
    assert image["source"] == {"type": "base64", "media_type": "image/png", "data": base64.b64encode(PNG).decode()}
    text = " ".join(b.get("text", "") for b in blocks if b["type"] == "text")
    assert "sketch.png" in text and "Attached file `notes.md`" in text and "- delivery" in text


async def test_unsupported_and_oversized_files_get_a_note(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Go ahead."), fa.text("Noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Go ahead.")
    pdf = h.slack.add_file(b"%PDF-1.4", "brief.pdf", mimetype="application/pdf")
    big = h.slack.add_file("x" * (300 * 1024), "huge.txt", mimetype="text/plain")
    await h.slack.send_message("C1", "U1", "see attached", thread_ts=root_ts, files=[pdf, big])
    await h.wait_for_text("C1", root_ts, "Noted.")
    thread = h.slack.thread_text("C1", root_ts)
    assert "`brief.pdf`: I can only pass on images" in thread and "`huge.txt`: too large" in thread
    said = people_said(h.model.requests[-1])
    assert said.startswith("u1: see attached") and "brief.pdf" in said and "x" * 100 not in said
