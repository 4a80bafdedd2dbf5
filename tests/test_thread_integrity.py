"""Nothing a person types or clicks is lost, doubled or stuck: the sequences people
really produce (two people at once, a click racing a reply, a Slack error
mid-answer, a question nobody answers, a restart in between)."""

from __future__ import annotations

import asyncio
import struct
import zlib

import pytest

from slackbot.slack.blocks import STOP_ACTION
from tests.conftest import held
from tests.fakes import anthropic as fa
from tests.test_questions import FEATURES, MODE, ask, click, elements, question_message
from tests.test_thread_status import queued_shown


def answered_with(seen: list[str], then: str):
    """A model step that records the tool result Claude got for its question."""

    def step(request: fa.ModelRequest) -> fa.Turn:
        seen.extend(r.content_text for r in request.tool_results)
        seen.append(request.last_user_text)
        return fa.text(then)

    return step


async def test_an_unanswered_question_does_not_hold_the_only_process(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_LIVE_SESSIONS": "1"})
    seen: list[str] = []
    h.model.script(str(h.project("shop")), [ask(MODE), answered_with(seen, "Detailed, after all.")])
    h.model.script(str(h.project("blog")), [fa.text("Hello blog!")])
    shop_ts = await h.start_interview("shop")
    question = await question_message(h, shop_ts, "Quick or detailed interview?")

    blog_ts = await h.start_interview("blog")  # the only process waits on people in shop
    await h.wait_for_text("C1", blog_ts, "Hello blog!")
    assert "Queued" not in h.slack.thread_text("C1", blog_ts)

    await click(h, question, "Detailed")  # the question still works, and resumes shop
    await h.wait_for_text("C1", shop_ts, "Detailed, after all.")
    assert any("Detailed" in text for text in seen)


async def test_cancel_on_a_queued_interview_ends_it_at_once(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_LIVE_SESSIONS": "1"})
    started, release = asyncio.Event(), asyncio.Event()
    h.model.script(str(h.project("shop")), [held(started, release, "Shop, at last.")])
    shop_ts = await h.start_interview("shop")
    await asyncio.wait_for(started.wait(), 15)  # Claude is busy in shop: blog must queue
    blog_ts = await h.start_interview("blog")
    await queued_shown(h, blog_ts)
    await h.slack.send_action("newspec_cancel", user_id="U1", channel_id="C1", message_ts=blog_ts)
    await h.wait_for_text("C1", blog_ts, "cancelled this interview", timeout=5)
    release.set()
    await h.wait_for_text("C1", shop_ts, "Shop, at last.")
    assert not h.model.requests_for(str(h.project("blog")))


async def test_owner_only_mode_covers_clicks_stop_and_cancel(start_bot):
    h = await start_bot(env={"NEWSPEC_THREAD_OWNER_ONLY": "1"})
    seen: list[str] = []
    h.model.script(str(h.project("shop")), [ask(MODE), answered_with(seen, "Quick it is.")])
    root_ts = await h.start_interview("shop", user="U1")
    question = await question_message(h, root_ts, "Quick or detailed interview?")

    await click(h, question, "Detailed", user="U2")
    await h.slack.send_action(STOP_ACTION, root_ts, user_id="U2", channel_id="C1", message_ts=question.ts)
    await h.slack.send_action("newspec_cancel", user_id="U2", channel_id="C1", message_ts=root_ts)
    await h.slack.wait_for(lambda: len([e for e in h.slack.ephemerals(user="U2") if "owner-only" in e.text]) == 3)
    assert elements(h.slack.message("C1", question.ts))  # still open
    assert "cancelled" not in h.slack.thread_text("C1", root_ts, include_root=True)

    await click(h, question, "Quick", user="U1")
    await h.wait_for_text("C1", root_ts, "Quick it is.")
    assert any('"Quick or detailed interview?"="Quick"' in text for text in seen)


async def test_a_question_slack_refuses_to_show_ends_the_turn_and_the_next_message_is_a_message(start_bot):
    h = await start_bot()
    seen: list[str] = []
    h.model.script(
        str(h.project("shop")),
        # No lead-in: the question is posted (with one, it is written into the lead-in's message).
        [fa.text("Hello!"), fa.tool("AskUserQuestion", {"questions": [MODE]}),
         answered_with(seen, "Let's talk it through then.")],
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    h.slack.fail_when("chat.postMessage", "invalid_blocks", lambda args: "Quick or detailed" in str(args.get("text")))
    await h.slack.send_message("C1", "U1", "let's go", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Slack refused part of my answer (invalid_blocks)")
    await h.slack.send_message("C1", "U1", "we want a shop for plants", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Let's talk it through then.")
    assert any("we want a shop for plants" in text for text in seen)  # a message, not an answer
    assert not any("we want a shop for plants" in text and "=" in text for text in seen[:-1])


async def test_a_slow_download_does_not_let_a_later_reply_overtake_it(start_bot):
    h = await start_bot()
    seen: list[str] = []
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), answered_with(seen, "Both, in order.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    picture = h.slack.add_file(_png(1200, 1200), "sketch.png", mimetype="image/png")  # downloads slowly
    first = asyncio.create_task(
        h.slack.send_message("C1", "U1", "FIRST: the sketch", thread_ts=root_ts, files=[picture])
    )
    await h.slack.wait_for(lambda: any(c.method == "users.info" for c in h.slack.calls), what="first reply")
    await h.slack.send_message("C1", "U2", "SECOND: and a remark", thread_ts=root_ts)
    await first
    await h.wait_for_text("C1", root_ts, "Both, in order.")
    said = seen[-1]
    assert said.index("FIRST") < said.index("SECOND")


async def test_two_newspec_for_one_name_at_once_open_one_thread(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hello shop!")])
    await asyncio.gather(
        h.slack.send_slash_command("shop", user_id="U1", channel_id="C1"),
        h.slack.send_slash_command("shop", user_id="U2", channel_id="C1"),
    )
    await h.slack.wait_for(
        lambda: any("already has an interview" in e.text for e in h.slack.ephemerals()), what="the refusal"
    )
    roots = [m for m in h.slack.messages if "*shop*" in m.text and not m.thread_ts]
    assert len(roots) == 1
    await h.wait_for_text("C1", roots[0].ts, "Hello shop!")


async def test_each_item_of_a_question_can_be_answered_after_a_restart(start_bot):
    h = await start_bot()
    seen: list[str] = []
    h.model.script(str(h.project("shop")), [ask(MODE, FEATURES), answered_with(seen, "Noted."),
                                            answered_with(seen, "Noted.")])
    root_ts = await h.start_interview("shop")
    mode = await question_message(h, root_ts, "Quick or detailed interview?")
    features = await question_message(h, root_ts, "Which features matter most?")
    await h.restart()
    await click(h, mode, "Detailed")
    block = next(b for b in features.blocks if b.get("block_id", "").startswith("pick:"))
    state = {block["block_id"]: {"newspec_pick": {"type": "checkboxes", "selected_options": [
        {"text": {"type": "plain_text", "text": "Orders"}, "value": "0"}]}}}
    await click(h, features, "Submit", state=state)
    # Both answers reach Claude (in one turn or two, as they come): neither is refused as stale.
    await h.slack.wait_for(lambda: "Detailed" in " ".join(seen) and "Orders" in " ".join(seen), what="answers")
    assert not [e for e in h.slack.ephemerals(user="U1") if "already been answered" in e.text]


async def test_a_question_withdrawn_by_stop_loses_its_buttons_and_ignores_late_clicks(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [ask(MODE), fa.text("Fine, tell me in words.")])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    await h.slack.send_message("C1", "U1", "stop", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Stopped.")
    await h.slack.wait_for(lambda: not elements(h.slack.message("C1", question.ts)), what="buttons removed")
    assert "No longer open" in h.slack.message("C1", question.ts).visible_text

    await click(h, question, "Quick")  # a stale copy of the buttons
    await h.slack.wait_for(lambda: any("withdrawn" in e.text for e in h.slack.ephemerals(user="U1")))
    assert not any("My answer to" in r.last_user_text for r in h.model.requests)


async def test_a_retried_long_message_is_noted_once_and_sent_once(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hi!"), fa.text("That was long.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hi!")
    long_text = "z" * 25_000
    sent = await h.slack.send_message("C1", "U1", long_text, thread_ts=root_ts, event_id="Ev1")
    await h.slack.send_message("C1", "U1", long_text, thread_ts=root_ts, event_id="Ev1", ts=sent.ts,
                               retry_attempt=1, retry_reason="timeout")
    await h.wait_for_text("C1", root_ts, "That was long.")
    notes = [e for e in h.slack.ephemerals(user="U1") if "very long" in e.text]
    assert len(notes) == 1 and len(h.model.requests) == 2


def _png(width: int, height: int) -> bytes:
    """A valid, poorly compressible PNG (random-looking rows), a few MB for its size."""
    rows = b"".join(
        b"\0" + bytes((x * 7 + y * 13 + (x * y) % 251) % 256 for x in range(width * 3)) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 0)) + chunk(b"IEND", b"")


async def test_a_typed_reply_overtaken_by_a_click_still_reaches_claude(start_bot):
    """The click answers the question while the typed reply is still being handled
    (its author's name is slow to look up): the reply is then a message, not lost."""
    h = await start_bot()
    h.slack.add_user("U2", name="bo", display_name="Bo")
    seen: list[str] = []
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), ask(MODE), answered_with(seen, "Quick, noted."),
                                            answered_with(seen, "And your note too.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    await h.slack.send_message("C1", "U1", "let's go", thread_ts=root_ts)  # U1's name is now known
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    h.slack.delays["users.info"] = 1.0  # only Bo's name is still to be looked up
    typed = asyncio.create_task(h.slack.send_message("C1", "U2", "also: it must work offline", thread_ts=root_ts))
    await h.slack.wait_for(lambda: any(c.method == "users.info" for c in h.slack.calls), what="the lookup")
    await click(h, question, "Quick")
    await typed
    await h.wait_for_text("C1", root_ts, "And your note too.", timeout=30)
    assert any('"Quick or detailed interview?"="Quick"' in text for text in seen)
    assert any("it must work offline" in text for text in seen)


async def test_a_name_claimed_by_a_run_that_died_before_its_thread_opened_is_free_again(start_bot, tmp_path):
    from slackbot.store import InterviewRecord
    from tests.conftest import bot_store

    store = bot_store(tmp_path)  # as a crash between claim and root post left it
    await store.open()
    await store.add_interview(InterviewRecord("C1", "claiming:0123abcd", "shop", "U1", team_id="T1"))
    await store.close()
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hello again, shop!")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello again, shop!")


@pytest.mark.sqlite_only
async def test_a_reply_held_for_its_files_when_the_bot_died_is_answered_after_restart(start_bot, tmp_path):
    h = await start_bot()
    seen: list[str] = []
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), answered_with(seen, "Got it after the restart.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    await h.stop()
    # As a crash leaves it: stored on arrival, its download never finished.
    from slackbot.store import SqliteStore

    store = SqliteStore(tmp_path / "state" / "newspec.db")
    await store.open()
    await store.accept_reply("C1", root_ts, "U1", "here is the sketch", "1700000009.000100", "Ev9", ready=False)
    await store.close()
    import sqlite3  # opening the store releases held replies: mark it held again, as the crash left it

    with sqlite3.connect(tmp_path / "state" / "newspec.db") as db:
        db.execute("UPDATE pending_replies SET ready = 0")
    await h.start()
    await h.wait_for_text("C1", root_ts, "Got it after the restart.")
    assert any("here is the sketch" in text for text in seen)
