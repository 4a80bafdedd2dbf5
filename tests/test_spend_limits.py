"""Spend under control, continued: budgets changed in Slack (read at every check), 80 %
warnings for the daily budgets, and the CLI's own spend limit as a second line of defence."""

from __future__ import annotations

import pytest
from claude_agent_sdk import ResultMessage

from slackbot.claude.cli_options import SpendCap
from slackbot.claude.translate import EventTranslator
from slackbot.events import Failed, OverBudget, TurnDone
from slackbot.interview import thread_spend
from slackbot.interview.thread_spend import CUT_SHORT
from slackbot.spec.files import SpecTracker
from slackbot.spend import budget
from slackbot.store import Status
from tests.fakes import anthropic as fa
from tests.test_budgets import PAUSED, record, said, waiting
from tests.test_interview_flow import spec_for

FAILURES = ("Something went wrong", "Claude hit an error", "Traceback")


async def greeted(h, name: str, greeting: str, *later: fa.Step, user: str = "U1") -> str:
    """An interview whose greeting turn is over (with no budget in force)."""
    h.model.script(str(h.project(name)), [fa.text(greeting), *later])
    root_ts = await h.start_interview(name, user=user)
    await h.wait_for_text("C1", root_ts, greeting)
    await waiting(h, root_ts)
    return root_ts


async def test_budgets_set_in_slack_hold_and_release_replies_without_a_restart(start_bot):
    h = await start_bot()  # no budget in the environment
    root_ts = await greeted(h, "shop", "What are we building?", fa.text("A bakery app, got it."))
    spent = (await record(h, root_ts)).cost_usd
    store = h.bot.store
    await store.set_budget("per_interview", spent / 2, "UADMIN")  # read at the next check

    await h.slack.send_message("C1", "U1", "a bakery app", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, PAUSED)
    (sentence,) = said(h, root_ts, PAUSED)
    assert "`/newspec budget interview <dollars>`" in sentence and "NEWSPEC_" not in sentence
    assert len(h.model.requests) == 1

    await store.set_budget("per_interview", 100.0, "UADMIN")
    h.bot.interviews.budgets_changed()  # what `/newspec budget` does after storing it
    await h.wait_for_text("C1", root_ts, "A bakery app, got it.")
    assert "a bakery app" in h.model.requests[1].last_user_text
    await waiting(h, root_ts)

    await store.set_budget("turns_per_interview", 2.0, "UADMIN")  # both turns are taken
    await h.slack.send_message("C1", "U1", "with delivery", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "model turns")
    assert "`/newspec budget turns <number>`" in h.slack.thread_text("C1", root_ts)
    assert len(h.model.requests) == 2


@pytest.mark.parametrize(
    ("name", "words"),
    [("per_user_day", "of today's $1.00 budget per person"), ("per_day", "of today's $1.00 budget for the whole")],
)
async def test_daily_budgets_warn_at_80_percent_once_a_day(start_bot, monkeypatch, name, words):
    h = await start_bot()
    root_ts = await greeted(h, "shop", "Hi!", fa.text("Second."), fa.text("Third."))
    store = h.bot.store
    greeting = await store.spent(day=budget.utc_day(), user_id="U1")
    await store.set_budget(name, 1.0, "UADMIN")
    # U1 spent 85 % of the day's dollar elsewhere: the next reply hears it, and is answered.
    await store.add_spend("C1", "other-thread", "U1", budget.utc_day(), 0.85 - greeting)
    await h.slack.send_message("C1", "U1", "next", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Second.")
    await waiting(h, root_ts)  # checked again after the turn, still under the budget
    (warning,) = said(h, root_ts, words)
    assert "$0.85" in warning and "(85%)" in warning and "resets at 00:00 UTC (in " in warning

    for module in (budget, thread_spend):  # the next UTC day: its own warning
        monkeypatch.setattr(module, "utc_day", lambda: "2999-01-01")
    await store.add_spend("C1", "other-thread", "U1", "2999-01-01", 0.9)
    await h.slack.send_message("C1", "U1", "again", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Third.")
    await waiting(h, root_ts)
    assert [w for w in said(h, root_ts, words) if "(90%)" in w] and len(said(h, root_ts, words)) == 2


async def test_the_cli_limit_stops_a_long_answer_and_claude_finishes_it_once_raised(start_bot):
    h = await start_bot()
    project = h.project("shop")
    spec = project / "prompts" / "app_spec.txt"

    def finishes(request: fa.ModelRequest) -> fa.Turn:
        assert "carry on from where you stopped" in request.last_user_text
        assert any("write the spec" in str(m.get("content")) for m in request.messages[:-1])
        return fa.text("Carrying on where I stopped.")

    cut = fa.tool("Write", {"file_path": str(spec), "content": spec_for("shop")}, text_before="Writing it.")
    root_ts = await greeted(h, "shop", "What are we building?", cut, finishes)
    greeting = (await record(h, root_ts)).cost_usd
    # Half a greeting left: the live CLI is restarted with that as its limit, and the
    # answer's first call (a longer context than the greeting's) goes past it.
    await h.bot.store.set_budget("per_interview", greeting * 1.5, "UADMIN")
    await h.slack.send_message("C1", "U1", "write the spec", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, PAUSED)
    await waiting(h, root_ts)
    assert len(h.model.requests) == 2 and not spec.exists()  # the Write the limit cut off never ran
    assert [r.text for r in await h.bot.store.pending_replies("C1", root_ts)] == [CUT_SHORT]
    current = await record(h, root_ts)
    assert current.status == Status.WAITING and current.cost_usd > greeting * 1.5  # all of it counted
    assert await h.bot.store.spent(thread=("C1", root_ts)) == pytest.approx(current.cost_usd)
    assert not any(failure in h.slack.thread_text("C1", root_ts) for failure in FAILURES)

    await h.bot.store.set_budget("per_interview", 100.0, "UADMIN")
    h.bot.interviews.budgets_changed()
    await h.wait_for_text("C1", root_ts, "Carrying on where I stopped.")
    await waiting(h, root_ts)
    assert await h.bot.store.pending_replies("C1", root_ts) == []
    assert len(said(h, root_ts, PAUSED)) == 1
    h.model.verify()


def result(stop_reason: str | None, subtype: str = "error_max_budget_usd") -> ResultMessage:
    return ResultMessage(
        subtype=subtype, duration_ms=1, duration_api_ms=1, is_error=True, num_turns=1, session_id="s",
        stop_reason=stop_reason, total_cost_usd=0.5, usage={"output_tokens": 3},
    )


@pytest.mark.parametrize(
    ("stop_reason", "expected"), [(None, OverBudget(reached=False)), ("tool_use", OverBudget(reached=True))]
)
def test_a_turn_the_limit_stopped_is_said_as_such_and_still_counted(tmp_path, stop_reason, expected):
    translator = EventTranslator(tmp_path, SpecTracker(tmp_path), None)
    events = translator.translate(result(stop_reason))
    assert events[0] == expected and isinstance(events[-1], TurnDone) and events[-1].cost_usd == 0.5
    assert not any(isinstance(event, Failed) for event in events)


def test_an_answer_finished_as_the_limit_was_reached_is_a_normal_end(tmp_path):
    events = EventTranslator(tmp_path, SpecTracker(tmp_path), None).translate(result("end_turn"))
    assert [type(event) for event in events] == [TurnDone]


def test_the_cli_is_restarted_only_when_its_limit_is_out_of_step():
    cap = SpendCap(limit=1.0, total_at_start=2.0)  # started with $1 left, the conversation at $2
    assert cap.left(2.4) == pytest.approx(0.6)
    assert not cap.outdated(0.6, 2.4)  # only this process spent: in step
    assert not cap.outdated(0.5, 2.4)  # a little loose (others spent a shared daily budget)
    assert cap.outdated(0.2, 2.4)  # far too loose: a budget was lowered
    assert cap.outdated(5.0, 2.4)  # too tight: a budget was raised
    assert cap.outdated(None, 2.4)  # no limit any more
    assert SpendCap().outdated(1.0, 0.0) and not SpendCap().outdated(None, 3.0)

