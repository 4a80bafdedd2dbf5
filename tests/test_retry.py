"""No dead end after a model error: a Retry button under the error, and a 529
"overloaded" asked once more by the bot before people see anything."""

from __future__ import annotations

from slackbot.interview.recovery_buttons import ANSWER_AGAIN
from slackbot.slack.blocks import RETRY_ACTION
from slackbot.store import Status
from tests.conftest import Harness, people_said
from tests.fakes import anthropic as fa
from tests.fakes.slack import Message


def retry_button(message: Message) -> str | None:
    """The value of the message's Retry button, if it shows one."""
    for block in message.blocks or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == RETRY_ACTION:
                return str(element.get("value"))
    return None


async def failure_note(h: Harness, root_ts: str) -> Message:
    await h.wait_for_text("C1", root_ts, ":warning:")
    return await h.slack.wait_for(
        lambda: next((m for m in h.slack.thread("C1", root_ts) if retry_button(m) is not None), None),
        what="the error note with its Retry button",
    )


async def status(h: Harness, root_ts: str) -> Status:
    assert h.bot is not None
    record = await h.bot.store.get_interview("C1", root_ts)
    assert record is not None
    return record.status


def times_sent(request: fa.ModelRequest, words: str) -> int:
    """How often `words` occur in what the model got from people (all user messages)."""
    return sum(str(m["content"]).count(words) for m in request.messages if m["role"] == "user")


async def failed_answer(start_bot):
    """An interview whose second model call fails after "A bike shop": (bot, project,
    thread, the error note as first posted)."""
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [fa.text("Hi! What is it?"), fa.error(500), fa.text("Got it, a shop.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What is it?")
    await h.slack.send_message("C1", "U1", "A bike shop", thread_ts=root_ts)
    return h, project, root_ts, await failure_note(h, root_ts)


async def test_a_model_error_offers_retry_and_one_click_asks_claude_again(start_bot):
    h, project, root_ts, note = await failed_answer(start_bot)
    assert "Claude's service had an error" in note.text
    async def failed() -> bool:
        return await status(h, root_ts) == Status.FAILED

    await h.slack.wait_for(failed, what="the interview marked failed")

    await h.slack.send_action(RETRY_ACTION, retry_button(note), user_id="U2", message_ts=note.ts)
    await h.wait_for_text("C1", root_ts, "Got it, a shop.")
    retried = h.model.requests_for(str(project))[-1]
    assert people_said(retried).endswith(ANSWER_AGAIN)
    assert times_sent(retried, "A bike shop") == 1  # the team's words, once: the CLI kept them
    clicked = h.slack.message("C1", note.ts)
    assert clicked is not None and retry_button(clicked) is None
    assert "<@U2> asked Claude to try again." in clicked.visible_text
    await h.slack.wait_for(lambda: h.model.remaining(str(project)) == 0)

    await h.slack.send_action(RETRY_ACTION, retry_button(note), user_id="U1", message_ts=note.ts)
    await h.slack.wait_for(lambda: any("already been asked to try again" in e.text for e in h.slack.ephemerals("U1")))
    assert len(h.model.requests_for(str(project))) == 3  # the second click sent nothing
    assert await status(h, root_ts) != Status.FAILED


async def test_a_retry_button_left_from_before_a_later_reply_changes_nothing(start_bot):
    h, project, root_ts, note = await failed_answer(start_bot)
    await h.slack.send_message("C1", "U1", "A bike shop, again", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Got it, a shop.")

    await h.slack.send_action(RETRY_ACTION, retry_button(note), user_id="U1", message_ts=note.ts)
    await h.slack.wait_for(lambda: any("already been asked to try again" in e.text for e in h.slack.ephemerals("U1")))
    assert len(h.model.requests_for(str(project))) == 3
    assert ANSWER_AGAIN not in people_said(h.model.requests_for(str(project))[-1])


async def test_an_overloaded_answer_is_asked_again_once_without_a_word_in_the_thread(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [fa.text("Hi! What is it?"), fa.overloaded(), fa.text("Got it, a shop.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What is it?")
    await h.slack.send_message("C1", "U1", "A bike shop", thread_ts=root_ts)
    await h.settled("C1", root_ts, "Got it, a shop.")
    thread = h.slack.thread_text("C1", root_ts)
    assert ":warning:" not in thread and "error" not in thread.lower()
    failed, retried = h.model.requests_for(str(project))[-2:]
    assert people_said(failed).endswith("A bike shop")
    assert people_said(retried).endswith(ANSWER_AGAIN)
    assert times_sent(retried, "A bike shop") == 1
    assert await status(h, root_ts) != Status.FAILED


async def test_a_second_overloaded_answer_shows_the_error_with_retry(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(
        str(project), [fa.text("Hi! What is it?"), fa.overloaded(), fa.overloaded(), fa.text("Got it, a shop.")]
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What is it?")
    await h.slack.send_message("C1", "U1", "A bike shop", thread_ts=root_ts)
    note = await failure_note(h, root_ts)
    assert h.model.remaining(str(project)) == 1  # asked twice, not more
    assert h.slack.thread_text("C1", root_ts).count(":warning:") == 1

    await h.slack.send_action(RETRY_ACTION, retry_button(note), user_id="U1", message_ts=note.ts)
    await h.wait_for_text("C1", root_ts, "Got it, a shop.")
    assert times_sent(h.model.requests_for(str(project))[-1], "A bike shop") == 1
