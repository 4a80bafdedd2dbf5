"""Issue 22's "done when": a plain interview reads, start to end, as root, greeting,
questions, answers and one completion message; the root always says where things stand;
nothing the bot posts is later deleted. Rendered as the person in the thread sees it."""

from __future__ import annotations

import pytest

from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack, Message
from tests.test_interview_flow import write_both
from tests.test_questions import MODE, ask, click, question_message

pytestmark = pytest.mark.both_engines


def as_seen(slack: FakeSlack, channel: str, root_ts: str) -> list[str]:
    """Each message of the thread, oldest first: who wrote it and its first line."""
    def line(m: Message) -> str:
        who = "bot" if m.user == slack.bot_user_id else m.user
        first = next((ln for ln in m.visible_text.splitlines() if ln.strip()), "")
        return f"{who}: {first}"

    return [line(m) for m in slack.thread(channel, root_ts, include_root=True)]


async def test_a_plain_interview_reads_root_greeting_questions_answers_and_one_completion(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [
        fa.text("Hi! Let's spec **shop**. What are you building?"),
        ask(MODE),
        *write_both(project)[:2],
        fa.text("Both files are written: 8 features in 3 categories."),
    ])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What are you building?")
    await h.slack.wait_for(lambda: "Waiting on an answer" in h.slack.message("C1", root_ts).visible_text,
                           what="the root to say whose answer it waits on")
    await h.slack.send_message("C1", "U1", "A web shop for our bakery.", thread_ts=root_ts)
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    await click(h, question, "Quick")
    await h.slack.wait_for(
        lambda: "Spec ready" in h.slack.message("C1", root_ts).visible_text, timeout=30, what="the root: ready"
    )
    await h.slack.wait_for(lambda: h.slack.uploads, what="the completion message")

    thread = as_seen(h.slack, "C1", root_ts)
    assert thread == [
        "bot: Spec interview for *shop*, started by <@U1>",
        "bot: Hi! Let's spec **shop**. What are you building?",
        "U1: A web shop for our bakery.",
        "bot: One choice first.",  # the question's lead-in, in the question's own card
        "bot: Great, writing the spec now.",
        thread[5],
    ], "\n".join(thread)
    assert "shop* — 8 features, ready to build" in thread[5]  # the one completion message
    completion = h.slack.thread("C1", root_ts)[-1]
    assert completion.files and "<@U1>" in completion.visible_text
    assert "Mode" in h.slack.thread("C1", root_ts)[2].visible_text  # the card under its lead-in
    assert "ready" not in " ".join(thread[:5]).lower()  # said once, after the check
    assert not h.slack.calls_to("chat.delete")  # nothing posted and taken back

    # The root said where things stood at every step, and ends ready, without Cancel.
    states = [c.args["text"].split(": ", 1)[1] for c in h.slack.calls_to("chat.update") if c.args["ts"] == root_ts]
    assert states[0].startswith(":raising_hand: Waiting on an answer from <@U1>")
    assert states[-1].startswith(":white_check_mark: Spec ready: 8 features")
    root = h.slack.message("C1", root_ts)
    assert "Cancel" not in root.visible_text
