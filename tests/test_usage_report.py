"""What `/newspec usage` and `/newspec budget` render, and how a budget change is read (pure)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from slackbot.slack.usage import (
    ADMINS_SEE_ALL,
    KINDS,
    BadBudget,
    budgets_text,
    in_force,
    parse_budget,
    personal_report,
    since_day,
    workspace_report,
)
from slackbot.spend.budget import Budgets
from slackbot.store import InterviewRecord, SpendRow, SqliteStore, Status
from tests.fakes.slack import _check_content, blocks_text

TODAY = "2025-03-31"


def days_back(n: int) -> str:
    return (dt.date.fromisoformat(TODAY) - dt.timedelta(days=n)).isoformat()


def test_the_budget_words_name_exactly_the_budgets_fields():
    # The store keeps overrides under these names, and the budget check reads them by them.
    assert [kind.field for kind in KINDS] == [field.name for field in dataclasses.fields(Budgets)]
    assert [kind.word for kind in KINDS] == ["interview", "person", "workspace", "turns"]


@pytest.mark.parametrize(
    ("words", "field", "value"),
    [
        (["interview", "5"], "per_interview", 5.0),
        (["Person", "$2.50"], "per_user_day", 2.5),
        (["workspace", "0.75"], "per_day", 0.75),
        (["turns", "40"], "turns_per_interview", 40.0),
        (["workspace", "off"], "per_day", None),
        (["interview", "None"], "per_interview", None),
    ],
)
def test_a_budget_change_is_read(words, field, value):
    change = parse_budget(words)
    assert (change.kind.field, change.value) == (field, value)


@pytest.mark.parametrize(
    "words",
    [
        ["interview", "-1"], ["interview", "0"], ["interview", "lots"], ["interview", "nan"], ["interview", "inf"],
        ["interview", "1e999"], ["person", "-0.5"], ["turns", "2.5"], ["turns", "$5"], ["turns", "0"],
    ],
)
def test_a_bad_amount_is_refused_saying_why(words):
    with pytest.raises(BadBudget) as problem:
        parse_budget(words)
    assert f"`{words[1]}` isn't a budget" in str(problem.value)
    assert "Nothing was changed" in str(problem.value)


@pytest.mark.parametrize("words", [["wallet", "5"], ["interview"], ["interview", "5", "6"], ["5"]])
def test_a_wrong_form_shows_the_right_one(words):
    with pytest.raises(BadBudget) as problem:
        parse_budget(words)
    assert "/newspec budget <interview|person|workspace|turns> <amount|off>" in str(problem.value)


def test_a_bad_amount_is_echoed_escaped():
    with pytest.raises(BadBudget) as problem:
        parse_budget(["interview", "<!channel>"])
    assert "&lt;!channel&gt;" in str(problem.value) and "<!channel>" not in str(problem.value)


def test_a_budget_set_in_slack_wins_over_its_setting():
    settings = Budgets(per_interview=1.0, per_day=50.0)
    budgets, from_slack = in_force(
        settings, {"per_interview": 5.0, "turns_per_interview": 40.0, "per_day": None, "something_else": 3.0}
    )
    assert budgets == Budgets(per_interview=5.0, per_user_day=None, per_day=None, turns_per_interview=40)
    assert isinstance(budgets.turns_per_interview, int)
    assert from_slack == {"per_interview", "turns_per_interview", "per_day"}
    text = budgets_text(budgets, from_slack)
    assert "Per interview: *$5.00* (set in Slack)" in text
    assert "Whole workspace per UTC day: *no limit* (set in Slack)" in text
    assert "Model turns per interview: *40 turns* (set in Slack)" in text
    assert "Per person per UTC day: *no limit*\n" in text
    plain = budgets_text(settings, frozenset())
    assert "Per interview: *$1.00* (`NEWSPEC_MAX_COST_PER_INTERVIEW`)" in plain


def test_the_window_is_thirty_utc_days_with_today():
    assert since_day(TODAY) == "2025-03-02"
    assert since_day("2024-03-01") == "2024-02-01"  # across a leap February (29 days)


def test_an_admin_sees_every_person_and_interview():
    rows = [
        SpendRow(TODAY, "U1", "shop", 0.5), SpendRow(days_back(1), "U1", "shop", 0.25),
        SpendRow(TODAY, "U2", "cafe", 1.0), SpendRow(days_back(3), "U2", None, 0.125),
    ]
    report = workspace_report(rows, TODAY, Budgets(per_interview=2.0), frozenset())
    _check_content(report.text, report.blocks)
    shown = blocks_text(report.blocks)
    assert "*$1.88* in total, $1.50 today, by 2 people in 3 interviews" in shown  # to the cent, half up
    assert "• <@U2> — $1.13\n• <@U1> — $0.75" in shown  # largest first
    assert "• *cafe* — $1.00\n• *shop* — $0.75" in shown
    assert "• _an interview no longer kept_ — $0.13" in shown
    assert f"• {TODAY} — $1.50\n• {days_back(1)} — $0.25\n• {days_back(3)}" in shown  # newest first
    assert "Per interview: *$2.00*" in shown and "Per person per UTC day: *no limit*" in shown
    assert report.text.startswith("*newspec spend, last 30 days*")


def test_a_big_workspace_is_cut_to_the_top_rows_within_slacks_limits():
    rows = [
        SpendRow(days_back(n % 30), f"U{n:04d}", f"project-{n:04d}-{'x' * 37}", 1.0 + n / 1000)
        for n in range(400)
    ]
    report = workspace_report(rows, TODAY, Budgets(), frozenset())
    _check_content(report.text, report.blocks)  # what Slack would refuse, the fake refuses
    assert len(report.blocks) <= 50
    assert all(len(block["text"]["text"]) <= 3000 for block in report.blocks if block["type"] == "section")
    shown = blocks_text(report.blocks)
    assert "by 400 people in 400 interviews" in shown
    assert "<@U0399>" in shown and "<@U0384>" not in shown  # the 15 largest
    assert "…and 385 more people" in shown and "…and 385 more interviews" in shown
    assert "…and 385 more people ($458.92)" in shown  # 385 + 0.001 × (0 + … + 384)
    assert shown.count(" — $") == 30 + 15 + 15  # every day of the window, the top people and interviews


def test_someone_else_sees_their_own_spend_and_who_sees_more():
    rows = [
        SpendRow(TODAY, "U2", "cafe", 0.5), SpendRow(days_back(1), "U2", "cafe", 0.0004),
        SpendRow(days_back(2), "U2", "cafe", 0.25),
    ]
    report = personal_report(rows, TODAY)
    _check_content(report.text, report.blocks)
    shown = blocks_text(report.blocks)
    assert f"*Your newspec spend, last 30 days* (2025-03-02 to {TODAY}, UTC): *$0.75* in total" in shown
    assert "• *cafe* — $0.75" in shown and f"• {days_back(2)} — $0.25" in shown
    assert f"• {days_back(1)} — less than $0.01" in shown  # a turn's fraction of a cent, never "$0.0000"
    assert ADMINS_SEE_ALL in shown
    assert "By person" not in shown and "Budgets" not in shown


def test_no_spend_yet_says_so_plainly():
    report = personal_report([], TODAY)
    _check_content(report.text, report.blocks)
    assert "*$0* in total, $0 today" in blocks_text(report.blocks)
    assert len(report.blocks) == 2  # the summary and who sees more: no empty lists


async def test_the_ledger_sums_spend_per_day_person_and_project(tmp_path):
    store = SqliteStore(tmp_path / "state.db")
    await store.open()
    await store.add_interview(InterviewRecord("C1", "1.0", "shop", "U1", status=Status.CANCELLED))
    await store.add_interview(InterviewRecord("C2", "2.0", "Shop", "U1"))  # the same project, started again
    for channel, ts, user, when, cost in [
        ("C1", "1.0", "U1", TODAY, 0.5), ("C2", "2.0", "U1", TODAY, 0.25), ("C1", "1.0", "U2", TODAY, 1.0),
        ("C1", "1.0", "U1", days_back(29), 2.0), ("C1", "1.0", "U1", days_back(30), 4.0),  # outside
        ("C9", "9.0", "U1", TODAY, 8.0),  # its interview is no longer kept
    ]:
        await store.add_spend(channel, ts, user, when, cost)
    await store.close()
    store = SqliteStore(store.path)  # reopened: the ledger is on disk
    await store.open()
    rows = await store.spend_report(since_day(TODAY))
    await store.close()
    assert sorted((r.day, r.user_id, (r.project or "").lower(), r.cost_usd) for r in rows) == [
        (days_back(29), "U1", "shop", 2.0),
        (TODAY, "U1", "", 8.0),
        (TODAY, "U1", "shop", 0.75),
        (TODAY, "U2", "shop", 1.0),
    ]
    assert next(r for r in rows if r.cost_usd == 8.0).project is None
    await store.open()
    assert {r.user_id for r in await store.spend_report(since_day(TODAY), user_id="U2")} == {"U2"}
    await store.close()
