"""Long answers: past about two messages' worth, the thread shows the start of Claude's
answer and the whole answer comes as one Markdown file, not walls of 3,900 characters."""

from __future__ import annotations

import pytest

from slackbot.slack.relay.long_answer import POINTER as FULL_POINTER
from slackbot.slack.relay.long_answer import LongAnswer, pointer_after
from tests.fakes import anthropic as fa
from tests.test_questions import MODE

LIMIT = 3_900  # the bot's message limit (relay/base.py MESSAGE_LIMIT)
POINTER = "the full answer follows as a file below."
# ~16,000 characters in paragraphs, with text that would ping or make markup if posted raw.
PARAGRAPHS = [f"Part {i}: " + "the shop sells bread & cakes <daily> " * 11 for i in range(40)]
LONG = "Hi <!here>, the plan.\n\n" + "\n\n".join(PARAGRAPHS) + "\n\nLAST WORDS <!channel>"


def escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def claude_messages(h, root_ts: str) -> list:
    """The bot's messages in the thread that show Claude's words (not files, not notes)."""
    return [m for m in h.answers("C1", root_ts) if not m.files and not m.text.startswith(":warning:")]


@pytest.mark.parametrize("streaming", [True, False], ids=["streamed", "posted-and-updated"])
async def test_a_long_answer_becomes_a_short_answer_and_one_file(start_bot, streaming):
    h = await start_bot(streaming=streaming)
    h.model.script(str(h.project("shop")), [fa.text(LONG, chunk_size=300, delay=0.01), fa.text("Short reply.")])
    root_ts = await h.start_interview("shop")
    upload = await h.slack.wait_for(lambda: next(iter(h.slack.uploads), None), what="the answer's file")
    await h.settled("C1", root_ts, POINTER)

    assert upload.text == LONG  # the whole answer, as Claude wrote it: nothing to stitch
    assert upload.filename.endswith(".md") and upload.thread_ts == root_ts
    shown = claude_messages(h, root_ts)
    assert 1 <= len(shown) <= 2 and all(len(m.text) <= LIMIT for m in shown)
    thread = h.slack.thread_text("C1", root_ts)
    assert "LAST WORDS" not in thread  # the rest is in the file only
    assert shown[-1].text.rstrip().endswith(POINTER + "_")
    start = "".join(m.text for m in shown).rsplit("\n\n_", 1)[0]
    assert len(start) > LIMIT and escaped(LONG).startswith(start)  # the answer's start, cut at a paragraph
    assert escaped(LONG)[len(start):].startswith("\n\nPart ")
    assert set(h.slack.markup_posted()) == {"<@U1>"}  # the root's mention of the starter only
    file_message = next(m for m in h.answers("C1", root_ts) if m.files)
    assert file_message.ts > shown[-1].ts  # the file comes right after the short answer

    # The next answer is shown as usual, and the file was uploaded once.
    await h.slack.send_message("C1", "U1", "thanks", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Short reply.")
    assert len(h.slack.uploads) == 1
    assert len(h.slack.calls_to("files.completeUploadExternal")) == 1


async def test_an_answer_of_two_messages_is_shown_as_before(start_bot):
    h = await start_bot()
    answer = "\n\n".join(PARAGRAPHS[:13])  # ~6,900 characters: two messages, under the cut-off
    assert LIMIT < len(escaped(answer)) < 2 * LIMIT
    h.model.script(str(h.project("shop")), [fa.text(answer, chunk_size=300, delay=0.01)])
    root_ts = await h.start_interview("shop")
    messages = await h.settled("C1", root_ts, "Part 12:")
    assert len(messages) == 2 and h.slack.uploads == []
    assert "".join(m.text for m in messages) == escaped(answer)


async def test_a_refused_upload_posts_the_rest_as_messages(start_bot):
    h = await start_bot()
    h.slack.fail_next("files.completeUploadExternal", "internal_error", times=5)
    h.model.script(str(h.project("shop")), [fa.text(LONG, chunk_size=300, delay=0.01)])
    root_ts = await h.start_interview("shop")
    await h.settled("C1", root_ts, "LAST WORDS")
    assert h.slack.uploads == []
    assert "couldn't share the full answer as a file" in h.slack.thread_text("C1", root_ts)
    text = "".join(m.text for m in claude_messages(h, root_ts))
    text = text.replace("_Claude's answer is long, so " + POINTER + "_", "")
    assert text.split() == escaped(LONG).split()  # nothing lost (messages are cut at spaces)
    assert set(h.slack.markup_posted()) == {"<@U1>"}  # the root's mention of the starter only


async def test_a_rate_limited_upload_waits_and_the_file_is_uploaded_once(start_bot):
    h = await start_bot()
    h.slack.fail_next("files.completeUploadExternal", "ratelimited", status=429)
    h.model.script(str(h.project("shop")), [fa.text(LONG, chunk_size=300, delay=0.01)])
    root_ts = await h.start_interview("shop")
    upload = await h.slack.wait_for(lambda: next(iter(h.slack.uploads), None), what="the answer's file")
    await h.settled("C1", root_ts, POINTER)
    assert upload.text == LONG and len(h.slack.uploads) == 1
    assert [m for m in h.answers("C1", root_ts) if m.files] != []
    thread = h.slack.thread_text("C1", root_ts)
    assert "LAST WORDS" not in thread and "refused" not in thread


async def test_a_question_after_a_long_answer_shows_below_its_file(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [
        fa.tool("AskUserQuestion", {"questions": [MODE]}, text_before=LONG, chunk_size=300, delay=0.01),
    ])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, MODE["question"])
    (upload,) = h.slack.uploads
    assert upload.text == LONG
    messages = h.answers("C1", root_ts)
    at_file = next(i for i, m in enumerate(messages) if m.files)
    at_question = next(i for i, m in enumerate(messages) if MODE["question"] in m.text)
    assert at_file < at_question and "LAST WORDS" not in h.slack.thread_text("C1", root_ts)


# The cut-off as plain logic (a 100-character message limit: cut-off 200, 25 held back).


def test_an_answer_within_two_messages_is_all_shown():
    answer = LongAnswer(100)
    shown = [answer.take(piece, piece) for piece in ["a" * 90, "b" * 90]]
    assert shown == [("a" * 90, False), ("b" * 85, False)]  # the last 25 before the cut-off wait
    assert answer.text_ended() == "b" * 5 and not answer.over  # ...for the text's end, then show


def test_past_the_cut_off_it_ends_at_a_paragraph_and_keeps_the_rest():
    answer = LongAnswer(100)
    assert answer.take("x" * 180, "x" * 180) == ("x" * 175, False)
    text = "y" * 10 + "\n\nnext paragraph " + "z" * 30
    shown, passed = answer.take(text, text.upper())
    assert passed and shown == "x" * 5 + "y" * 10 + "\n\n"  # cut at the paragraph break in reach
    assert answer.rest == "next paragraph " + "z" * 30
    assert answer.take(" more", " MORE") == ("", False) and answer.rest.endswith(" more")
    assert answer.whole == "x" * 180 + text.upper() + " MORE"  # as written, for the file


def test_the_pointer_closes_an_open_code_fence():
    assert pointer_after("text\n\n") == FULL_POINTER
    assert pointer_after("text") == "\n\n" + FULL_POINTER
    assert pointer_after("```\ncode\n") == "\n```\n\n" + FULL_POINTER
