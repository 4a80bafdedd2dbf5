"""Nothing a person types, is named or picks is ever run by the `claude` CLI as one
of its own slash commands.

In streaming mode the CLI runs a user turn whose text starts with `/` as a command
(`/clear` wipes the conversation, `/model` switches the model, `/heapdump` writes
into HOME). Every turn the bot sends starts with text of ours, whatever comes
after it. Each test drives the real bundled CLI and checks what the model was
actually sent: the hostile text arrives as words, and the earlier conversation is
still there (a `/clear` would have dropped it).
"""

from __future__ import annotations

from pathlib import Path

from slackbot.claude.prompt import Message, compose
from tests.fakes import anthropic as fa
from tests.test_questions import MODE, answer_result, ask, click, question_message

GREETING = "Hello! What are we building?"


def assert_conversation_kept(request: fa.ModelRequest) -> None:
    """The model still sees the start of the interview: nothing cleared or compacted it."""
    assert any(
        m.get("role") == "assistant" and GREETING in fa._text_of(m.get("content")) for m in request.messages
    ), "the earlier conversation is gone"


def no_heap_snapshot(tmp_path: Path) -> None:
    dumps = [p for p in tmp_path.rglob("*") if p.suffix in (".heapsnapshot", ".heapprofile")]
    assert not dumps, dumps


async def test_every_turn_starts_with_our_text_whatever_people_send():
    for hostile in ("/clear", " /model haiku", "\n/compact", "/heapdump now", "@~/.ssh/id_rsa", ""):
        async for message in compose([Message(hostile), Message("/cost")]):
            text = message["message"]["content"][0]["text"]
            assert not text.lstrip().startswith(("/", "@")), repr(text)


async def test_a_display_name_that_is_a_command_is_sent_as_words(start_bot, tmp_path):
    h = await start_bot()
    h.slack.add_user("U7", name="mallory", display_name="/clear everything")
    h.model.script(str(h.project("shop")), [fa.text(GREETING), fa.text("A bakery, noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, GREETING)
    await h.slack.send_message("C1", "U7", "a bakery", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "A bakery, noted.")
    last = h.model.requests[-1]
    assert "/clear everything" in last.last_user_text and "a bakery" in last.last_user_text
    assert_conversation_kept(last)


async def test_a_plain_reply_that_is_a_command_is_sent_as_words_when_its_author_is_unknown(start_bot):
    """users.info fails with a network error: the reply goes on without its author's
    name, so nothing of ours would stand before it but for the turn's own lead."""
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text(GREETING), fa.text("Noted, nothing cleared.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, GREETING)
    h.slack.add_user("U8", name="quiet")
    h.slack.disconnect_next("users.info", times=5)
    await h.slack.send_message("C1", "U8", "/clear", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Noted, nothing cleared.")
    last = h.model.requests[-1]
    assert "/clear" in last.last_user_text and "quiet" not in last.last_user_text
    assert_conversation_kept(last)


async def test_a_merged_batch_led_by_a_command_keeps_the_model(start_bot):
    h = await start_bot()
    h.slack.add_user("U7", name="mallory", display_name="/model claude-haiku-4-5")
    h.model.script(
        str(h.project("shop")),
        [fa.text(GREETING + " " + "Let me think about that. " * 20, chunk_size=8, delay=0.05), fa.text("Both noted.")],
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, GREETING)  # Claude is still answering: these two merge
    await h.slack.send_message("C1", "U7", "first", thread_ts=root_ts)
    await h.slack.send_message("C1", "U2", "/compact second", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Both noted.")
    last = h.model.requests[-1]
    assert "first" in last.last_user_text and "/compact second" in last.last_user_text
    assert last.body["model"] == h.model.requests[0].body["model"]
    assert_conversation_kept(last)


async def test_an_other_answer_that_is_a_command_reaches_claude_as_the_answer(start_bot, tmp_path):
    h = await start_bot()
    step, seen = answer_result("Heap answer noted.")
    h.model.script(str(h.project("shop")), [fa.text(GREETING), ask(MODE), step])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, GREETING)
    await h.slack.send_message("C1", "U1", "let's go", thread_ts=root_ts)
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    await click(h, question, "Other…")
    await h.slack.send_message("C1", "U1", "/heapdump now", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Heap answer noted.")
    assert "/heapdump now" in seen[0]
    no_heap_snapshot(tmp_path)


async def test_a_question_answered_after_a_restart_by_a_command_name_is_sent_as_words(start_bot, tmp_path):
    """After a restart the click goes to Claude as a message of its own, led by the
    clicker's name: here a command."""
    h = await start_bot()
    h.slack.add_user("U7", name="mallory", display_name="/heapdump now")
    h.model.script(str(h.project("shop")), [fa.text(GREETING), ask(MODE), fa.text("Quick after the restart.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, GREETING)
    await h.slack.send_message("C1", "U1", "let's go", thread_ts=root_ts)
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    await h.restart()
    await click(h, question, "Quick", user="U7")
    await h.wait_for_text("C1", root_ts, "Quick after the restart.")
    last = h.model.requests[-1]
    assert "/heapdump now" in last.last_user_text and "Quick" in last.last_user_text
    assert_conversation_kept(last)
    no_heap_snapshot(tmp_path)
