"""Questions on a phone: option descriptions under their labels, long text shortened with
the whole of it one tap away, "Other…" as a modal, and a typed message that asks which
open question it answers instead of answering all of them."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack, OpenView
from tests.test_block_limits import LONG_LABEL, LONG_QUESTION, long_question
from tests.test_interview_state import seen_by, two_part_question
from tests.test_questions import FEATURES, MODE, answer_result, ask, click, elements, options, question_message

WORDS = "Somewhere in between: quick now, detailed later"


async def a_view(h, user: str = "U1") -> OpenView:
    return await h.slack.wait_for(lambda: next((v for v in h.slack.views if v.user == user), None), what="a modal")


def typed(view: OpenView, words: str) -> dict:
    """The modal's state once `words` are typed into its text box."""
    (box,) = [b for b in view.view["blocks"] if b["type"] == "input"]
    return {box["block_id"]: {box["element"]["action_id"]: {"type": "plain_text_input", "value": words}}}


async def test_the_fake_opens_a_view_only_for_a_fresh_trigger_and_a_valid_modal():
    async with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        view = {"type": "modal", "callback_id": "c", "title": {"type": "plain_text", "text": "Hi"}, "blocks": []}
        too_long = {"type": "plain_text", "text": "x" * 25}
        trigger = slack.block_actions_payload("x")["trigger_id"]
        await client.views_open(trigger_id=trigger, view=view)
        errors = []
        for trigger_id, bad in [
            (trigger, view),  # used once already
            ("made-up", view),
            (slack.block_actions_payload("x")["trigger_id"], {**view, "title": too_long}),
            (slack.block_actions_payload("x")["trigger_id"], {**view, "callback_id": ""}),
            (slack.block_actions_payload("x")["trigger_id"], {**view, "blocks": [{"type": "input", "label": {
                "type": "plain_text", "text": "A"}, "element": {"type": "plain_text_input", "action_id": "a"}}]}),
        ]:
            try:
                await client.views_open(trigger_id=trigger_id, view=bad)
            except SlackApiError as exc:
                errors.append(exc.response["error"])
        slack.trigger_lifetime = -1.0  # every trigger is too old: the app took too long
        try:
            await client.views_open(trigger_id=slack.block_actions_payload("x")["trigger_id"], view=view)
        except SlackApiError as exc:
            errors.append(exc.response["error"])
        assert errors == ["invalid_trigger_id", "invalid_trigger_id", "invalid_arguments", "invalid_arguments",
                          "invalid_arguments", "expired_trigger_id"]
        assert len(slack.views) == 1


async def test_long_labels_and_descriptions_are_shortened_and_the_full_question_is_one_tap_away(start_bot):
    h = await start_bot()
    step, seen = answer_result("PostgreSQL it is.")
    h.model.script(str(h.project("shop")), [fa.tool("AskUserQuestion", {"questions": [long_question()]}), step])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Which database should the shop use?")
    (radio,) = [e for _, e in elements(question) if e["type"] == "radio_buttons"]
    first = radio["options"][0]
    assert len(first["text"]["text"]) <= 75 and first["description"]["text"].startswith("Durable and boring.")
    assert len(first["description"]["text"]) <= 75
    assert len(question.visible_text) < 1_500, "a phone screen, not the 3,500 characters"

    await click(h, question, "Full question", user="U2")
    full = await a_view(h, "U2")
    assert LONG_QUESTION.strip()[-60:] in full.visible_text
    assert LONG_LABEL in full.visible_text and ("Durable and boring. " * 12).strip() in full.visible_text

    await click(h, question, first["text"]["text"])
    await h.wait_for_text("C1", root_ts, "PostgreSQL it is.")
    assert LONG_LABEL in seen[0]


async def test_other_opens_a_modal_and_its_submission_is_the_answer(start_bot):
    h = await start_bot()
    step, seen = answer_result("Noted, in between.")
    h.model.script(str(h.project("shop")), [ask(MODE), step])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    await click(h, question, "Other…", user="U2")
    form = await a_view(h, "U2")
    assert form.view["submit"] and "Quick or detailed interview?" in form.visible_text
    assert not h.slack.ephemerals(user="U2"), "no 'type your answer' note when the form opened"

    delivery = await h.slack.submit_view(form, typed(form, WORDS))
    assert delivery.ack == {}  # accepted: the modal closes
    await h.wait_for_text("C1", root_ts, "Noted, in between.")
    assert f'"Quick or detailed interview?"="{WORDS}"' in seen[0]
    card = h.slack.message("C1", question.ts)
    assert elements(card) == [] and f"<@U2>: *{WORDS}*" in card.visible_text

    again = await h.slack.submit_view(form, typed(form, "changed my mind"))  # the same form, sent again
    assert again.ack.get("response_action") == "errors"
    assert len(h.model.requests) == 2


async def test_a_modal_answer_sent_after_a_restart_still_reaches_claude(start_bot):
    h = await start_bot()

    def gets_the_answer(request: fa.ModelRequest) -> fa.Turn:
        assert f'My answer to "Quick or detailed interview?": {WORDS}' in request.last_user_text
        return fa.text("In between it is, even after the restart.")

    h.model.script(str(h.project("shop")), [fa.text("Hello!"), ask(MODE), gets_the_answer])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    await h.slack.send_message("C1", "U1", "let's go", thread_ts=root_ts)
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    await click(h, question, "Other…")
    form = await a_view(h)
    await h.restart()
    await h.slack.submit_view(form, typed(form, WORDS))
    await h.wait_for_text("C1", root_ts, "In between it is, even after the restart.")
    h.model.verify()


async def test_other_falls_back_to_typing_when_the_modal_cannot_open(start_bot):
    h = await start_bot()
    step, seen = answer_result("Typed, noted.")
    h.model.script(str(h.project("shop")), [ask(MODE), step])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    h.slack.trigger_lifetime = -1.0  # the ack path was slow: the click's trigger has expired
    await click(h, question, "Other…")
    note = await h.slack.wait_for(lambda: next(iter(h.slack.ephemerals(user="U1")), None), what="the note")
    assert "Type your answer" in note.text and not h.slack.views
    await h.slack.send_message("C1", "U1", WORDS, thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Typed, noted.")
    assert WORDS in seen[0]


async def test_a_typed_message_with_two_questions_open_asks_which_it_answers(start_bot):
    h = await start_bot()
    seen: list[fa.ModelRequest] = []
    root_ts, mode, features = await two_part_question(h, seen)

    async def asking() -> bool:  # both parts shown is not yet Claude waiting on them
        conversation = await h.bot.interviews.find("C1", root_ts)
        return conversation is not None and conversation.waiting_on_people

    await h.slack.wait_for(asking, what="Claude waiting on the question")
    await h.slack.send_message("C1", "U1", "detailed, please", thread_ts=root_ts)
    which = await h.slack.wait_for(
        lambda: next((e for e in h.slack.ephemerals(user="U1") if e.blocks), None), what="which question?"
    )
    buttons = [e for b in which.blocks for e in b.get("elements", []) if e.get("action_id")]
    assert [b["text"]["text"] for b in buttons] == ["Mode", "Priorities"]
    assert elements(h.slack.message("C1", mode.ts)) and elements(h.slack.message("C1", features.ts)), (
        "the message answered neither question by itself"
    )

    await h.slack.send_action(buttons[0]["action_id"], buttons[0]["value"], user_id="U1", channel_id="C1",
                              message_ts=which.ts)
    await h.slack.wait_for(lambda: not elements(h.slack.message("C1", mode.ts)), what="the mode question answered")
    assert "detailed, please" in h.slack.message("C1", mode.ts).visible_text
    assert elements(h.slack.message("C1", features.ts)), "the other question still waits"
    await h.slack.wait_for(  # through the click's response_url, apart from the answer's update
        lambda: not any(e.blocks for e in h.slack.ephemerals(user="U1")), what="the chooser replaced by a note"
    )

    (pick_block, checkboxes), *_ = [(b, e) for b, e in elements(features) if e["type"] == "checkboxes"]
    state = {pick_block["block_id"]: {checkboxes["action_id"]: {
        "type": "checkboxes", "selected_options": [checkboxes["options"][1]]}}}
    await click(h, features, "Submit", state=state)
    await h.wait_for_text("C1", root_ts, "Both noted.")
    result = seen[0].tool_results[0].content_text
    assert '"Quick or detailed interview?"="' in result and "detailed, please" in result
    assert '"Which features matter most?"="Payments"' in result and result.count("detailed, please") == 1


async def test_with_one_question_open_a_typed_message_answers_it(start_bot):
    h = await start_bot()
    seen: list[fa.ModelRequest] = []
    h.model.script(str(h.project("shop")), [ask(MODE), seen_by(seen, "Typed answer noted.")])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    assert options(question) == ["Quick", "Detailed"]
    await h.slack.send_message("C1", "U1", "quick", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Typed answer noted.")
    assert not any(e.blocks for e in h.slack.ephemerals(user="U1"))
    assert '"Quick or detailed interview?"=' in seen[0].tool_results[0].content_text


async def test_a_held_message_whose_question_was_answered_meanwhile_answers_nothing_else(start_bot):
    h = await start_bot()
    seen: list[fa.ModelRequest] = []
    h.model.script(str(h.project("shop")), [
        ask(MODE, FEATURES), seen_by(seen, "Both noted."), seen_by(seen, "And your message too."),
    ])
    root_ts = await h.start_interview("shop")
    mode = await question_message(h, root_ts, "Quick or detailed interview?")
    features = await question_message(h, root_ts, "Which features matter most?")
    await h.slack.send_message("C1", "U1", "detailed, please", thread_ts=root_ts)
    which = await h.slack.wait_for(
        lambda: next((e for e in h.slack.ephemerals(user="U1") if e.blocks), None), what="which question?"
    )
    await click(h, mode, "Quick", user="U2")  # someone else answers Mode first
    await h.slack.wait_for(lambda: not elements(h.slack.message("C1", mode.ts)), what="mode answered")

    button = next(e for b in which.blocks for e in b.get("elements", []) if e.get("text", {}).get("text") == "Mode")
    await h.slack.send_action(button["action_id"], button["value"], user_id="U1", channel_id="C1",
                              message_ts=which.ts)
    await h.slack.wait_for(lambda: any("already been answered" in e.text for e in h.slack.ephemerals(user="U1")))
    assert elements(h.slack.message("C1", features.ts)), "the message did not answer the features question"

    # One question is open now: the next message answers it, and the held one does not.
    await h.slack.send_message("C1", "U1", "orders only", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "And your message too.")
    result = seen[0].tool_results[0].content_text
    assert '"Quick or detailed interview?"="Quick"' in result and '"Which features matter most?"="' in result
    assert "orders only" in result and "detailed, please" not in result
    assert "detailed, please" in seen[1].last_user_text  # not lost: it came as a message of its own
