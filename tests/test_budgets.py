"""Spend under control: budgets per interview, per person per day and per workspace per
day, checked before each model call; held replies wait (stored) until the budget allows."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from slackbot.config import ConfigError, Settings
from slackbot.interview import registry, thread_spend
from slackbot.spend import budget
from slackbot.store import Status
from tests.fakes import anthropic as fa
from tests.test_completion import completed, usage_of
from tests.test_interview_flow import write_both
from tests.test_thread_experience import turn_ended

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}
PAUSED = "so I've paused this interview"
WARNED = "of its $"


async def record(h, root_ts: str, channel: str = "C1"):
    return await h.bot.store.get_interview(channel, root_ts)


async def waiting(h, root_ts: str, channel: str = "C1") -> None:
    """The turn under way has ended (the interview waits for people)."""

    async def ended() -> bool:
        return (await record(h, root_ts, channel)).status != Status.INTERVIEWING

    await h.slack.wait_for(ended, what="the turn to end")


def said(h, root_ts: str, text: str, channel: str = "C1") -> list[str]:
    return [m.text for m in h.answers(channel, root_ts) if text in m.text]


async def with_settings(h, **changes: object) -> None:
    """Restart the bot with changed settings (an admin edits the environment)."""
    h.settings = dataclasses.replace(h.settings, **changes)
    await h.restart()


async def paused_bakery(h) -> str:
    """An interview whose first turn used up its budget (NEWSPEC_MAX_COST_PER_INTERVIEW
    0.001), and the team's reply, held; returns the thread."""
    h.model.script(str(h.project("shop")), [fa.text("What are we building?"), fa.text("A bakery app, got it.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What are we building?")
    await waiting(h, root_ts)
    assert (await record(h, root_ts)).cost_usd > 0.000001  # the first turn used it all up
    await h.slack.send_message("C1", "U1", "a bakery app", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, PAUSED)
    return root_ts


async def test_an_interview_budget_holds_the_next_turn_until_raised(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_COST_PER_INTERVIEW": "0.001"})
    root_ts = await paused_bakery(h)
    (sentence,) = said(h, root_ts, PAUSED)
    assert "its budget of $0.001 (spent less than $0.01)" in sentence  # the budget as set; never "$0.0000"
    assert "`/newspec budget interview <dollars>`" in sentence
    await h.slack.send_message("C1", "U1", "with delivery", thread_ts=root_ts)

    async def both_stored() -> bool:
        pending = await h.bot.store.pending_replies("C1", root_ts)
        return [(r.text, r.ready) for r in pending] == [("a bakery app", True), ("with delivery", True)]

    await h.slack.wait_for(both_stored, what="both replies stored, unanswered")
    await asyncio.sleep(0.5)  # time enough for a wrong second sentence or model call
    assert len(h.model.requests) == 1  # nothing more reached Claude
    assert len(said(h, root_ts, PAUSED)) == 1  # said once, not on every reply

    await with_settings(h, max_cost_per_interview=100.0)  # the replies are answered, not typed again
    await h.wait_for_text("C1", root_ts, "A bakery app, got it.")
    assert "a bakery app" in h.model.requests[1].last_user_text
    assert "with delivery" in h.model.requests[1].last_user_text
    await waiting(h, root_ts)
    assert await h.bot.store.pending_replies("C1", root_ts) == []
    assert len(said(h, root_ts, PAUSED)) == 1


async def test_the_80_percent_warning_is_said_once(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hi!"), fa.text("Second."), fa.text("Third.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hi!")
    await waiting(h, root_ts)
    first = (await record(h, root_ts)).cost_usd
    # A budget the first turn used 85 % of: the next reply hears the warning, and is answered.
    await with_settings(h, max_cost_per_interview=first / 0.85)
    await h.slack.send_message("C1", "U1", "next", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Second.")
    await waiting(h, root_ts)
    assert len(said(h, root_ts, WARNED)) == 1
    await h.restart()
    await h.slack.send_message("C1", "U1", "and again", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, PAUSED)  # two turns cost more than the budget
    assert len(said(h, root_ts, WARNED)) == 1
    assert len(h.model.requests) == 2


async def test_a_daily_budget_per_person_stops_one_person_not_another(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_COST_PER_USER_DAY": "0.001"})
    h.model.script(str(h.project("shop")), [fa.text("Shop greeting."), fa.text("Never said.")])
    h.model.script(str(h.project("cafe")), [fa.text("Cafe greeting.")])
    shop = await h.start_interview("shop", user="U1")
    await h.wait_for_text("C1", shop, "Shop greeting.")
    await waiting(h, shop)
    await h.slack.send_message("C1", "U1", "more", thread_ts=shop)
    await h.wait_for_text("C1", shop, "<@U1> has used today's budget")
    (sentence,) = said(h, shop, "today's budget")
    assert "00:00 UTC" in sentence
    cafe = await h.start_interview("cafe", user="U2")  # U2 has spent nothing today
    await h.wait_for_text("C1", cafe, "Cafe greeting.")
    await waiting(h, cafe)
    assert len(h.model.requests) == 2
    assert [r.text for r in await h.bot.store.pending_replies("C1", shop)] == ["more"]
    store = h.bot.store
    assert await store.spent(user_id="U1") == pytest.approx((await record(h, shop)).cost_usd)
    assert await store.spent(user_id="U2") == pytest.approx((await record(h, cafe)).cost_usd)


async def test_held_replies_are_answered_on_the_next_utc_day(start_bot, monkeypatch):
    # A short idle time makes the reaper (which wakes held threads when the day changes) look often.
    h = await start_bot(env={"NEWSPEC_MAX_COST_PER_USER_DAY": "0.001", "NEWSPEC_IDLE_MINUTES": "0.05"})
    h.model.script(str(h.project("shop")), [fa.text("Shop greeting."), fa.text("Good morning!")])
    root_ts = await h.start_interview("shop", user="U1")
    await h.wait_for_text("C1", root_ts, "Shop greeting.")
    await waiting(h, root_ts)
    await h.slack.send_message("C1", "U1", "more", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "<@U1> has used today's budget")
    for module in (budget, thread_spend, registry):
        monkeypatch.setattr(module, "utc_day", lambda: "2999-01-01")
    await h.wait_for_text("C1", root_ts, "Good morning!")  # nobody typed anything again
    assert h.model.requests[1].last_user_text.endswith("more")
    await waiting(h, root_ts)
    assert await h.bot.store.pending_replies("C1", root_ts) == []
    assert await h.bot.store.spent(day="2999-01-01", user_id="U1") > 0


async def test_the_workspace_budget_stops_everyone(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_COST_PER_DAY": "0.001"})
    h.model.script(str(h.project("shop")), [fa.text("Shop greeting.")])
    shop = await h.start_interview("shop", user="U1")
    await h.wait_for_text("C1", shop, "Shop greeting.")
    await waiting(h, shop)
    cafe = await h.start_interview("cafe", user="U2")
    await h.wait_for_text("C1", cafe, "for the whole workspace")
    (sentence,) = said(h, cafe, "for the whole workspace")
    assert "today's budget of $0.001 for the whole workspace (spent less than $0.01)" in sentence
    assert "00:00 UTC" in sentence
    assert len(h.model.requests) == 1
    assert len(await h.bot.store.pending_replies("C1", cafe)) == 1  # the greeting waits for tomorrow


async def test_costs_survive_a_restart_and_the_card_shows_the_budget(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_COST_PER_INTERVIEW": "100"})
    project = h.project("shop")
    # Calls of a token or two, so the whole interview costs a small fraction of a cent.
    turns = [fa.text("Ready?"), *write_both(project)]
    h.model.script(str(project), [dataclasses.replace(turn, usage=(1, 1)) for turn in turns])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Ready?")
    await turn_ended(h, root_ts, time.monotonic())
    await h.restart()
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)
    usage = usage_of(await completed(h, root_ts))
    cost = (await record(h, root_ts)).cost_usd
    assert 0 < cost < 0.001  # shown to four decimals this was "$0.0001"; it is not nothing
    assert " · less than $0.01 of $100.00" in usage
    spent = await h.bot.store.spent(thread=("C1", root_ts))
    assert spent == pytest.approx(cost)
    assert await h.bot.store.spent(user_id="U1") == pytest.approx(cost)


@pytest.mark.parametrize(
    "variable",
    ["NEWSPEC_MAX_COST_PER_INTERVIEW", "NEWSPEC_MAX_COST_PER_USER_DAY", "NEWSPEC_MAX_COST_PER_DAY",
     "NEWSPEC_MAX_TURNS_PER_INTERVIEW"],
)
@pytest.mark.parametrize("value", ["-1", "lots", "nan", "inf", "$5"])
def test_bad_budgets_stop_start_up_with_one_line(variable, value):
    with pytest.raises(ConfigError) as problem:
        Settings.from_env({**BASE, variable: value})
    assert problem.value.variable == variable
    assert str(problem.value).startswith(variable + ":") and "\n" not in str(problem.value)


def test_budgets_are_optional():
    settings = Settings.from_env(BASE)
    assert (settings.max_cost_per_interview, settings.max_cost_per_user_day, settings.max_cost_per_day,
            settings.max_turns_per_interview) == (None, None, None, None)
    settings = Settings.from_env({
        **BASE, "NEWSPEC_MAX_COST_PER_INTERVIEW": "2.5", "NEWSPEC_MAX_COST_PER_USER_DAY": "10",
        "NEWSPEC_MAX_COST_PER_DAY": "50", "NEWSPEC_MAX_TURNS_PER_INTERVIEW": "40",
    })
    assert (settings.max_cost_per_interview, settings.max_cost_per_user_day, settings.max_cost_per_day,
            settings.max_turns_per_interview) == (2.5, 10.0, 50.0, 40)
