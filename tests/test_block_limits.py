"""Questions of any size show as valid Block Kit (the fake refuses what Slack
refuses), and a click gives Claude the option's full label, never the shortened one."""

from __future__ import annotations

from slackbot.events import Choice, QuestionItem
from slackbot.slack.blocks import fields_section, question_blocks
from tests.fakes import anthropic as fa
from tests.fakes.slack import _element_problems
from tests.test_questions import answer_result, click, options, question_message

LONG_LABEL = "Use a managed PostgreSQL database with nightly backups and point-in-time recovery for orders"
LONG_QUESTION = "Which database should the shop use? " + "Consider cost, operations and growth. " * 90


def long_question(multi: bool = False) -> dict:
    return {
        "question": LONG_QUESTION,
        "header": "Database",
        "options": [
            {"label": LONG_LABEL, "description": "Durable and boring. " * 12},
            {"label": "SQLite", "description": ""},
            {"label": "", "description": "an empty label from a confused model"},
        ],
        "multiSelect": multi,
    }


def test_every_element_stays_within_slacks_limits():
    item = QuestionItem(
        LONG_QUESTION, "Database", tuple(Choice(o["label"], o["description"]) for o in long_question()["options"])
    )
    for multi in (False, True):
        blocks = question_blocks("toolu_" + "x" * 300, 0, QuestionItem(item.question, item.header, item.options, multi))
        assert _element_problems(blocks, "/blocks") == []
        shown = " ".join(b["text"]["text"] for b in blocks if b["type"] == "section")
        # Shortened to about a phone screen, the whole question one tap away.
        assert len(shown) <= 720 and shown.endswith("…")
        assert "Full question" in [e.get("text", {}).get("text") for b in blocks for e in b.get("elements", [])]


async def test_a_3500_character_question_shows_and_a_click_returns_the_full_label(start_bot):
    h = await start_bot()
    assert len(LONG_QUESTION) > 3_400
    step, seen = answer_result("PostgreSQL it is.")
    h.model.script(str(h.project("shop")), [fa.tool("AskUserQuestion", {"questions": [long_question()]}), step])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Which database should the shop use?")
    shortened = next(label for label in options(question) if label.startswith("Use a managed"))
    assert len(shortened) <= 75 < len(LONG_LABEL)
    await click(h, question, shortened)
    await h.wait_for_text("C1", root_ts, "PostgreSQL it is.")
    assert LONG_LABEL in seen[0]
    assert not [c for c in h.slack.calls if c.response.get("error") == "invalid_blocks"]


async def test_a_long_multi_select_and_a_long_typed_answer_stay_valid(start_bot):
    h = await start_bot()
    step, seen = answer_result("Noted.")
    h.model.script(str(h.project("shop")), [fa.tool("AskUserQuestion", {"questions": [long_question(True)]}), step])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Which database should the shop use?")
    await click(h, question, "Other…")
    await h.slack.send_message("C1", "U1", "A spreadsheet, honestly. " * 400, thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Noted.")
    assert "A spreadsheet, honestly." in seen[0]
    updates = [c for c in h.slack.calls_to("chat.update") if c.args.get("ts") == question.ts]
    assert updates and all(c.ok for c in updates)  # the answered question, within chat.update's limits


def test_a_fields_section_keeps_within_slacks_field_limits():
    fields = [(f"Label {n}", "R&amp;D " * 400) for n in range(12)]  # 12 fields of 3,200 characters
    section = fields_section(fields)
    texts = [item["text"] for item in section["fields"]]
    assert len(texts) == 10, "Slack takes at most ten fields"
    assert all(len(text) <= 2_000 for text in texts)
    assert all(text.startswith(f"*Label {n}*\n") and text.endswith("…") for n, text in enumerate(texts))
    assert all(not text[:-1].rstrip().endswith(("&", "&a", "&am", "&amp")) for text in texts), "an entity cut in half"
    assert fields_section([("Project", "shop")])["fields"] == [{"type": "mrkdwn", "text": "*Project*\nshop"}]
