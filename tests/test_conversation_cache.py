"""The registry keeps in memory only the conversations in use: one idle a while (no turn,
no process, nothing waiting) leaves it, and the next reply there rebuilds it from the
store. Through the real bot, the fake Slack and the fake model."""

from __future__ import annotations

import json

from tests.fakes import anthropic as fa
from tests.test_questions import MODE, ask, click, question_message

IDLE = {"NEWSPEC_IDLE_MINUTES": "0.02"}  # about a second


def history(request: fa.ModelRequest) -> str:
    return json.dumps(request.messages)


async def test_idle_conversations_leave_memory_and_come_back_on_a_reply(start_bot):
    h = await start_bot(env=IDLE)
    names = ("shop", "blog", "cafe")
    for name in names:
        h.model.script(str(h.project(name)), [fa.text(f"What is {name} about?")])
    threads = {name: await h.start_interview(name) for name in names}
    for name, root_ts in threads.items():
        await h.wait_for_text("C1", root_ts, f"What is {name} about?")
    interviews = h.bot.interviews
    await h.slack.wait_for(lambda: interviews.in_memory == 0, timeout=20, what="idle conversations forgotten")

    def remembers(request: fa.ModelRequest) -> fa.Turn:
        assert "What is blog about?" in history(request)  # the same conversation, resumed
        return fa.text("A blog about bread, noted.")

    h.model.script(str(h.project("blog")), [remembers])
    await h.slack.send_message("C1", "U1", "Bread recipes", thread_ts=threads["blog"])
    await h.wait_for_text("C1", threads["blog"], "A blog about bread, noted.")
    assert interviews.in_memory >= 1
    h.model.verify()


async def test_a_question_asked_before_its_conversation_was_forgotten_still_answers(start_bot):
    h = await start_bot(env=IDLE)
    h.model.script(str(h.project("shop")), [ask(MODE), fa.text("Detailed, noted.")])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    # Parked once nobody answers for a while, then forgotten.
    await h.slack.wait_for(lambda: h.bot.interviews.in_memory == 0, timeout=20, what="the conversation forgotten")
    await click(h, question, "Detailed")
    await h.wait_for_text("C1", root_ts, "Detailed, noted.")
    assert "Detailed" in h.model.requests[-1].last_user_text
