"""One home for an interview's state: a park, a restart or a shutdown between any two
steps loses, doubles or strands nothing a person typed or clicked. Each test is a
sequence people really produce, through the real CLI and both fakes."""

from __future__ import annotations

import asyncio
import json

import pytest

from slackbot.store import Status
from tests.fakes import anthropic as fa
from tests.fakes.slack import Message
from tests.test_faults import claude_processes
from tests.test_questions import FEATURES, MODE, ask, click, elements, question_message
from tests.test_thread_status import queued_shown

OPENING = "has just started a spec interview"


def history(request: fa.ModelRequest) -> str:
    """Everything the model was given in a request: the conversation so far and the new turn."""
    return json.dumps(request.messages)


def seen_by(seen: list[fa.ModelRequest], then: str) -> fa.Step:
    """A model step that keeps the request and answers `then`."""

    def step(request: fa.ModelRequest) -> fa.Turn:
        seen.append(request)
        return fa.text(then)

    return step


def later(gate: asyncio.Event, turn: fa.Turn) -> fa.Step:
    """A model step that answers `turn` once the test opens `gate` (Claude is busy until then)."""

    async def step(request: fa.ModelRequest) -> fa.Turn:
        await gate.wait()
        return turn

    return step


async def two_part_question(h, seen: list[fa.ModelRequest]) -> tuple[str, Message, Message]:
    """An interview whose Claude asks a question in two parts (then answers "Both noted.");
    returns the thread and the two parts' messages as first posted."""
    h.model.script(str(h.project("shop")), [ask(MODE, FEATURES), seen_by(seen, "Both noted.")])
    root_ts = await h.start_interview("shop")
    mode = await question_message(h, root_ts, "Quick or detailed interview?")
    features = await question_message(h, root_ts, "Which features matter most?")
    return root_ts, mode, features


def is_question(text: str):
    return lambda args: text in str(args.get("text", "")) and "blocks" in args


async def test_a_question_asked_while_another_thread_waits_for_a_slot_is_shown(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_LIVE_SESSIONS": "1"})
    go, seen = asyncio.Event(), []
    h.model.script(str(h.project("shop")), [later(go, ask(MODE)), seen_by(seen, "Detailed it is.")])
    h.model.script(str(h.project("blog")), [fa.text("Hello blog!")])
    shop_ts = await h.start_interview("shop")
    await h.model.wait_for_requests(1, key=str(h.project("shop")))
    blog_ts = await h.start_interview("blog")
    await queued_shown(h, blog_ts)  # blog waits for shop's process
    go.set()  # shop's Claude asks: blog may have the process once people can see the question

    question = await question_message(h, shop_ts, "Quick or detailed interview?")
    await h.wait_for_text("C1", blog_ts, "Hello blog!")
    assert elements(h.slack.message("C1", question.ts)), "the question shows with its buttons"
    await click(h, question, "Detailed")
    await h.wait_for_text("C1", shop_ts, "Detailed it is.")
    assert "Detailed" in history(seen[0])
    assert "Queued" not in h.slack.thread_text("C1", blog_ts)


async def test_parking_sends_claude_nothing_twice(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_LIVE_SESSIONS": "1"})
    seen: list[fa.ModelRequest] = []
    h.model.script(str(h.project("shop")), [ask(MODE), seen_by(seen, "Detailed, noted.")])
    h.model.script(str(h.project("blog")), [fa.text("Hello blog!")])
    shop_ts = await h.start_interview("shop")  # Claude's very first turn asks
    question = await question_message(h, shop_ts, "Quick or detailed interview?")
    blog_ts = await h.start_interview("blog")  # parks shop: its process ends
    await h.wait_for_text("C1", blog_ts, "Hello blog!")

    await click(h, question, "Detailed")
    await h.wait_for_text("C1", shop_ts, "Detailed, noted.")
    (resumed,) = seen
    assert history(resumed).count(OPENING) == 1, "the opening prompt went to Claude once"
    assert "Detailed" in resumed.last_user_text


async def test_a_message_typed_before_a_question_shows_is_not_its_answer(start_bot):
    h = await start_bot()
    seen: list[fa.ModelRequest] = []
    h.model.script(
        str(h.project("shop")),
        # No lead-in: the question is posted (with one, it is written into the lead-in's message).
        [fa.text("Hello!"), fa.tool("AskUserQuestion", {"questions": [MODE]}), seen_by(seen, "Detailed it is."),
         seen_by(seen, "About the logo: noted.")],
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    gate = h.slack.hold_next("chat.postMessage", is_question("Quick or detailed interview?"))
    await h.slack.send_message("C1", "U1", "let's go", thread_ts=root_ts)
    await asyncio.wait_for(gate.reached.wait(), 15)  # Claude asked; Slack is slow to show it
    await h.slack.send_message("C1", "U1", "also, the logo is blue", thread_ts=root_ts)
    await h.slack.wait_for(lambda: h.slack.calls_to("users.info"), what="the reply taken in")
    await asyncio.sleep(0.3)  # time for the reply to be (wrongly) taken as an answer
    gate.release.set()

    question = await question_message(h, root_ts, "Quick or detailed interview?")
    await asyncio.sleep(0.3)
    assert elements(h.slack.message("C1", question.ts)), "the question still waits for its answer"
    await click(h, question, "Detailed")
    await h.wait_for_text("C1", root_ts, "About the logo: noted.")
    answer, message = seen
    assert "Detailed" in answer.tool_results[0].content_text
    assert "logo is blue" not in answer.tool_results[0].content_text
    assert "logo is blue" in message.last_user_text


async def test_after_a_restart_a_typed_reply_closes_the_question_and_a_late_click_changes_nothing(start_bot):
    h = await start_bot()
    seen: list[fa.ModelRequest] = []
    h.model.script(str(h.project("shop")), [ask(MODE), seen_by(seen, "Detailed, in words. Noted.")])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    await h.restart()
    await h.slack.send_message("C1", "U1", "detailed please", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Detailed, in words. Noted.")
    await h.slack.wait_for(lambda: not elements(h.slack.message("C1", question.ts)), what="buttons taken down")
    assert "detailed please" in h.slack.message("C1", question.ts).visible_text

    await click(h, question, "Quick")  # a stale copy of the buttons
    await h.slack.wait_for(lambda: any("already been answered" in e.text for e in h.slack.ephemerals(user="U1")))
    assert len(seen) == 1 and not any("Quick" in people for people in (r.last_user_text for r in seen))
    h.model.verify()


async def test_a_part_answered_before_a_restart_reaches_claude_with_the_other(start_bot):
    h = await start_bot()
    seen: list[fa.ModelRequest] = []
    root_ts, mode, features = await two_part_question(h, seen)
    await click(h, mode, "Detailed")  # while Claude waits: it needs both parts to go on
    await h.slack.wait_for(lambda: not elements(h.slack.message("C1", mode.ts)), what="part one answered")
    await h.restart()

    block = next(b for b in features.blocks if b.get("block_id", "").startswith("pick:"))
    state = {block["block_id"]: {"newspec_pick": {"type": "checkboxes", "selected_options": [
        {"text": {"type": "plain_text", "text": "Orders"}, "value": "0"}]}}}
    await click(h, features, "Submit", state=state)
    await h.wait_for_text("C1", root_ts, "Both noted.")
    (resumed,) = seen
    assert "Detailed" in resumed.last_user_text and "Orders" in resumed.last_user_text


@pytest.mark.parametrize("words", ["detailed, see my notes", ""], ids=["with words", "file alone"])
async def test_files_sent_as_an_answer_reach_claude(start_bot, words):
    h = await start_bot()
    seen: list[fa.ModelRequest] = []
    h.model.script(
        str(h.project("shop")), [ask(MODE), seen_by(seen, "Answer noted."), seen_by(seen, "Read your notes.")]
    )
    root_ts = await h.start_interview("shop")
    await question_message(h, root_ts, "Quick or detailed interview?")
    notes = h.slack.add_file("Detailed, and we need an offline mode.", "notes.txt", mimetype="text/plain")
    await h.slack.send_message("C1", "U1", words, thread_ts=root_ts, files=[notes])
    await h.wait_for_text("C1", root_ts, "Read your notes.")
    answer, files = seen
    result = answer.tool_results[0].content_text
    assert (words or "file") in result and '=""' not in result, result  # never an empty answer
    assert "Detailed, and we need an offline mode." in history(files)


async def test_typed_answers_keep_their_order(start_bot):
    h = await start_bot()
    seen: list[fa.ModelRequest] = []
    h.model.script(str(h.project("shop")), [ask(MODE), seen_by(seen, "Noted."), seen_by(seen, "Noted again.")])
    root_ts = await h.start_interview("shop")
    await question_message(h, root_ts, "Quick or detailed interview?")
    slow = h.slack.hold_next("users.info", lambda args: args.get("user") == "U1")
    await h.slack.send_message("C1", "U1", "detailed", thread_ts=root_ts)
    await asyncio.wait_for(slow.reached.wait(), 15)  # looking up U1's name takes a while ...
    await h.slack.send_message("C1", "U2", "no, quick", thread_ts=root_ts)  # ... U2 answers second
    await asyncio.sleep(0.5)
    slow.release.set()
    await h.wait_for_text("C1", root_ts, "Noted again.")
    answer, message = seen
    assert "detailed" in answer.tool_results[0].content_text, "the first reply answers the question"
    assert "no, quick" in message.last_user_text


async def test_a_reply_that_comes_while_a_budget_pause_is_announced_is_answered_once_allowed(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_COST_PER_INTERVIEW": "0.0001"})
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Back on it.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    note = h.slack.hold_next("chat.postMessage", lambda args: "paused this interview" in str(args.get("text", "")))
    await h.slack.send_message("C1", "U1", "first", thread_ts=root_ts)
    await asyncio.wait_for(note.reached.wait(), 15)  # the pause is being announced ...
    await h.slack.send_message("C1", "U1", "second", thread_ts=root_ts)  # ... as another reply comes
    await h.bot.store.set_budget("per_interview", None, "UADMIN")  # and an admin lifts the budget
    h.bot.interviews.budgets_changed()
    await asyncio.sleep(0.3)
    note.release.set()
    await h.wait_for_text("C1", root_ts, "Back on it.")
    assert "first" in h.model.requests[-1].last_user_text and "second" in h.model.requests[-1].last_user_text


async def test_an_unanswered_question_does_not_keep_its_process(start_bot):
    h = await start_bot(env={"NEWSPEC_IDLE_MINUTES": "0.02"})  # about a second
    seen: list[fa.ModelRequest] = []
    h.model.script(str(h.project("shop")), [ask(MODE), seen_by(seen, "Detailed, noted.")])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    await h.slack.wait_for(lambda: not claude_processes(), timeout=20, what="the waiting process closed")
    await click(h, question, "Detailed")
    await h.wait_for_text("C1", root_ts, "Detailed, noted.")
    assert "Detailed" in seen[0].last_user_text


async def test_other_on_one_part_then_typing_answers_that_part_alone(start_bot):
    h = await start_bot()
    seen: list[fa.ModelRequest] = []
    root_ts, mode, features = await two_part_question(h, seen)
    await click(h, features, "Other…")
    await h.slack.wait_for(lambda: h.slack.views, what="the answer form")
    await h.slack.send_message("C1", "U1", "orders and gift cards", thread_ts=root_ts)
    await h.slack.wait_for(lambda: not elements(h.slack.message("C1", features.ts)), what="part two answered")
    assert elements(h.slack.message("C1", mode.ts)), "part one still waits for its own answer"

    await click(h, mode, "Detailed")
    await h.wait_for_text("C1", root_ts, "Both noted.")
    result = seen[0].tool_results[0].content_text
    assert '"Quick or detailed interview?"="Detailed"' in result
    assert "orders and gift cards" in result and result.count("orders and gift cards") == 1


async def test_cancelling_a_queued_interview_takes_its_queued_note_down_and_frees_its_place(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_LIVE_SESSIONS": "1"})
    go = asyncio.Event()
    h.model.script(str(h.project("shop")), [later(go, fa.text("Shop, at last."))])
    shop_ts = await h.start_interview("shop")
    await h.model.wait_for_requests(1, key=str(h.project("shop")))
    note = h.slack.hold_next("assistant.threads.setStatus", lambda args: "queued" in str(args.get("status")))
    blog_ts = await h.start_interview("blog")
    await asyncio.wait_for(note.reached.wait(), 15)  # the "queued" status is on its way ...
    await h.slack.send_action("newspec_cancel", user_id="U1", channel_id="C1", message_ts=blog_ts)

    async def cancelled() -> bool:
        record = await h.bot.store.get_interview("C1", blog_ts)
        return record is not None and record.status == Status.CANCELLED

    await h.slack.wait_for(cancelled, what="the cancel taken")
    await asyncio.sleep(0.2)  # the queued turn is told to stop ...
    note.release.set()  # ... and the status lands after that
    await h.wait_for_text("C1", blog_ts, "cancelled this interview")
    await h.slack.wait_for(lambda: h.slack.thread_status("C1", blog_ts) == "", what="the status taken down")

    h.model.script(str(h.project("cafe")), [fa.text("Hello cafe!")])
    cafe_ts = await h.start_interview("cafe")  # queued behind shop in its turn
    await queued_shown(h, cafe_ts)
    go.set()
    await h.wait_for_text("C1", shop_ts, "Shop, at last.")
    await h.wait_for_text("C1", cafe_ts, "Hello cafe!")  # the freed process goes to cafe, not to blog's ghost
