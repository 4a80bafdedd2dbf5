"""A model per interview: CLAUDE_MODEL by default; picking quick mode (the skill's Mode
question, clicked or typed) moves the interview to NEWSPEC_QUICK_MODEL, also across a
restart, and the summary card says which models ran."""

from __future__ import annotations

from tests.fakes import anthropic as fa
from tests.test_budgets import record, waiting
from tests.test_completion import completed, usage_of
from tests.test_interview_flow import write_both
from tests.test_questions import click, question_message

MODE = {
    "question": "Quick or detailed?",
    "header": "Mode",
    "options": [
        {"label": "Quick (recommended)", "description": "A few questions, sensible defaults"},
        {"label": "Detailed", "description": "We go through everything"},
    ],
    "multiSelect": False,
}
QUICK = {"NEWSPEC_QUICK_MODEL": "haiku"}


def ask_mode() -> fa.Turn:
    return fa.tool("AskUserQuestion", {"questions": [MODE]}, text_before="One choice first.")


def models(h) -> list[str]:
    """The model of each main request, by family (the CLI sends full model ids)."""
    return ["haiku" if "haiku" in r.model else "opus" if "opus" in r.model else r.model for r in h.model.requests]


def of(h, name: str) -> list[str]:
    """The models of one interview's requests."""
    return [m for r, m in zip(h.model.requests, models(h), strict=True) if r.key == str(h.project(name))]


async def card_usage(h, root_ts: str) -> list[str]:
    """The completion message's small print, part by part (after where the spec is saved)."""
    return usage_of(await completed(h, root_ts)).split(" · ")[1:]


async def test_a_quick_pick_moves_the_interview_to_the_quick_model_and_the_card_says_so(start_bot):
    h = await start_bot(env=QUICK)
    project = h.project("shop")
    h.model.script(str(project), [fa.text("Hi! What are we building?"), ask_mode(), fa.text("Quick it is."),
                                  *write_both(project)])
    await h.bot.store.set_budget("per_interview", 100.0, "UADMIN")  # the card's budget is the one in force
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What are we building?")
    await waiting(h, root_ts)
    await h.slack.send_message("C1", "U1", "a bakery app", thread_ts=root_ts)
    await click(h, await question_message(h, root_ts, "Quick or detailed?"), "Quick (recommended)")
    await h.wait_for_text("C1", root_ts, "Quick it is.")
    await waiting(h, root_ts)
    assert models(h) == ["opus", "opus", "haiku"]  # from the call right after the pick
    assert (await record(h, root_ts)).model == "haiku"

    await h.restart()  # the resumed conversation keeps the quick model
    await h.slack.send_message("C1", "U1", "write it", thread_ts=root_ts)
    usage = await card_usage(h, root_ts)
    assert models(h) == ["opus", "opus", "haiku", "haiku", "haiku", "haiku"]
    assert usage[-1] == "opus, then haiku"
    assert usage[-2].endswith(" of $100.00")
    h.model.verify()


async def test_a_typed_quick_answer_counts_and_detailed_keeps_the_default(start_bot):
    h = await start_bot(env=QUICK)
    h.model.script(str(h.project("shop")), [ask_mode(), fa.text("Quick, as you typed.")])
    h.model.script(str(h.project("cafe")), [ask_mode(), fa.text("Detailed it is.")])
    shop = await h.start_interview("shop")
    await question_message(h, shop, "Quick or detailed?")
    await h.slack.send_message("C1", "U1", "Quick, please", thread_ts=shop)
    await h.wait_for_text("C1", shop, "Quick, as you typed.")
    assert of(h, "shop") == ["opus", "haiku"]

    cafe = await h.start_interview("cafe")
    await click(h, await question_message(h, cafe, "Quick or detailed?"), "Detailed")
    await h.wait_for_text("C1", cafe, "Detailed it is.")
    await waiting(h, cafe)
    assert of(h, "cafe") == ["opus", "opus"]
    assert (await record(h, cafe)).model is None


async def test_without_a_quick_model_the_card_names_the_one_model(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [ask_mode(), fa.text("Quick it is."), *write_both(project)])
    root_ts = await h.start_interview("shop")
    await click(h, await question_message(h, root_ts, "Quick or detailed?"), "Quick (recommended)")
    await h.wait_for_text("C1", root_ts, "Quick it is.")
    await waiting(h, root_ts)
    await h.slack.send_message("C1", "U1", "write it", thread_ts=root_ts)
    usage = await card_usage(h, root_ts)
    assert usage[-1] == "opus" and set(models(h)) == {"opus"}
    assert (await record(h, root_ts)).model is None


async def test_a_quick_click_after_a_restart_still_switches(start_bot):
    h = await start_bot(env=QUICK)
    h.model.script(str(h.project("shop")), [ask_mode(), fa.text("Quick, after the restart.")])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Quick or detailed?")
    await h.restart()  # the process that asked is gone: the click goes on as a reply
    await click(h, question, "Quick (recommended)")
    await h.wait_for_text("C1", root_ts, "Quick, after the restart.")
    assert models(h) == ["opus", "haiku"]
    assert 'My answer to "Quick or detailed?": Quick (recommended)' in h.model.requests[1].last_user_text
