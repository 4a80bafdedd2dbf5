"""Claude's multiple-choice questions (AskUserQuestion) as Block Kit in the thread."""

from __future__ import annotations

import copy

import pytest

from tests.fakes import anthropic as fa
from tests.fakes.slack import Message

pytestmark = pytest.mark.both_engines

MODE = {
    "question": "Quick or detailed interview?",
    "header": "Mode",
    "options": [
        {"label": "Quick", "description": "A few questions, sensible defaults"},
        {"label": "Detailed", "description": "We go through everything"},
    ],
    "multiSelect": False,
}
FEATURES = {
    "question": "Which features matter most?",
    "header": "Priorities",
    "options": [
        {"label": "Orders", "description": "Take orders online"},
        {"label": "Payments", "description": "Card payments"},
        {"label": "Delivery", "description": "Track deliveries"},
    ],
    "multiSelect": True,
}


def ask(*questions: dict) -> fa.Turn:
    return fa.tool("AskUserQuestion", {"questions": list(questions)}, text_before="One choice first.")


def answer_result(then: str):
    """The model's next step: record the tool result Claude got, then say `then`."""
    seen: list[str] = []

    def step(request: fa.ModelRequest) -> fa.Turn:
        (result,) = request.tool_results
        assert not result.is_error, result.content_text
        seen.append(result.content_text)
        return fa.text(then)

    return step, seen


def elements(message: Message) -> list[tuple[dict, dict]]:
    return [(b, e) for b in message.blocks or [] for e in b.get("elements", []) if "action_id" in e]


def options(message: Message) -> list[str]:
    """The labels of a question's radio buttons or checkboxes."""
    return [o["text"]["text"] for _, e in elements(message) for o in e.get("options") or []]


async def click(h, message: Message, label: str, user: str = "U1", state: dict | None = None):
    """Click the button `label`; or pick the radio button `label` and click Submit."""
    radio = next((
        (b, e, o) for b, e in elements(message) if e["type"] == "radio_buttons"
        for o in e["options"] if o["text"]["text"] == label
    ), None)
    if radio is not None:
        block, element, option = radio
        state = {block["block_id"]: {element["action_id"]: {"type": "radio_buttons", "selected_option": option}}}
        label = "Submit"
    block, element = next(
        (b, e) for b, e in elements(message) if e.get("text", {}).get("text") == label
    )
    action = {
        "type": "button", "action_id": element["action_id"], "block_id": block.get("block_id", "b"),
        "text": element["text"], "value": element.get("value"), "action_ts": "1.0",
    }
    return await h.slack.send_action(
        element["action_id"], element.get("value"), user_id=user, channel_id="C1",
        message_ts=message.ts, actions=[action], state_values=state,
    )


async def question_message(h, root_ts: str, text: str) -> Message:
    """The question as first posted (a copy: the fake updates its own in place)."""
    message = await h.slack.wait_for(
        lambda: next((m for m in h.slack.thread("C1", root_ts) if text in m.text and elements(m)), None),
        what=f"question {text!r}",
    )
    return copy.deepcopy(message)


async def test_single_choice_click_answers_claude_and_locks_the_question(start_bot):
    h = await start_bot()
    step, seen = answer_result("Quick it is.")
    h.model.script(str(h.project("shop")), [ask(MODE), step])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    buttons = [e["text"]["text"] for _, e in elements(question) if e["type"] == "button"]
    assert options(question) == ["Quick", "Detailed"] and buttons == ["Submit", "Other…"]
    assert "Quick\nA few questions, sensible defaults" in question.visible_text  # under its label
    assert "One choice first." in h.slack.thread_text("C1", root_ts)

    await click(h, question, "Quick", user="U2")
    await h.wait_for_text("C1", root_ts, "Quick it is.")
    assert '"Quick or detailed interview?"="Quick"' in seen[0]
    updated = h.slack.message("C1", question.ts)
    assert elements(updated) == [] and "<@U2>: *Quick*" in updated.visible_text

    delivery = await click(h, question, "Detailed")  # a stale click
    note = await h.slack.wait_for(lambda: next(iter(h.slack.ephemerals(user="U1")), None))
    assert "already been answered" in note.text
    assert len(h.model.requests) == 2  # nothing more reached Claude
    assert delivery.ack == {}


async def test_multi_select_submits_all_ticked_options(start_bot):
    h = await start_bot()
    step, seen = answer_result("Orders and delivery first.")
    h.model.script(str(h.project("shop")), [ask(FEATURES), step])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Which features matter most?")
    (pick_block, checkboxes), *_ = [(b, e) for b, e in elements(question) if e["type"] == "checkboxes"]
    ticked = [checkboxes["options"][0], checkboxes["options"][2]]
    state = {pick_block["block_id"]: {checkboxes["action_id"]: {"type": "checkboxes", "selected_options": ticked}}}
    await click(h, question, "Submit", state=state)
    await h.wait_for_text("C1", root_ts, "Orders and delivery first.")
    assert '"Which features matter most?"="Orders, Delivery"' in seen[0]


async def test_other_then_a_typed_reply_is_the_answer(start_bot):
    h = await start_bot()
    h.slack.add_user("U1", name="ana", display_name="Ana")
    step, seen = answer_result("A hybrid, noted.")
    h.model.script(str(h.project("shop")), [ask(MODE), step])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    await click(h, question, "Other…")
    await h.slack.wait_for(lambda: h.slack.views, what="the answer form")
    # Ana closes the form and types in the thread instead: that is her answer too.
    await h.slack.send_message("C1", "U1", "Something in between", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "A hybrid, noted.")
    assert '"Quick or detailed interview?"="Ana: Something in between"' in seen[0]
    assert "Ana: *Something in between*" in h.slack.message("C1", question.ts).visible_text


async def test_a_question_pending_at_restart_still_reaches_claude(start_bot):
    h = await start_bot()

    def gets_the_choice(request: fa.ModelRequest) -> fa.Turn:
        assert 'My answer to "Quick or detailed interview?": Detailed' in request.last_user_text
        return fa.text("Detailed it is, even after the restart.")

    h.model.script(str(h.project("shop")), [fa.text("Hello!"), ask(MODE), gets_the_choice])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    await h.slack.send_message("C1", "U1", "let's go", thread_ts=root_ts)
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    await h.restart()
    await click(h, question, "Detailed")
    await h.wait_for_text("C1", root_ts, "Detailed it is, even after the restart.")
    assert elements(h.slack.message("C1", question.ts)) == []
    h.model.verify()
