"""Spend in Slack: `/newspec usage` (admins see the workspace, others their own),
`/newspec list` with each interview's cost, and budgets changed with `/newspec budget`
without a restart, through the fake Slack and the real claude CLI."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from slackbot.slack.usage import ADMINS_SEE_ALL
from slackbot.spend.budget import utc_day
from slackbot.store import InterviewRecord, Status
from tests.fakes import anthropic as fa
from tests.fakes.slack import Ephemeral
from tests.test_budgets import PAUSED, paused_bakery, record, said, waiting

ADMIN = "U9"
NOT_ADMIN = "Only workspace admins and the people in `NEWSPEC_ADMINS` can change budgets"


def day(back: int) -> str:
    return (dt.date.fromisoformat(utc_day()) - dt.timedelta(days=back)).isoformat()


async def command(h, text: str, user: str, channel: str = "C1") -> Ephemeral:
    """Run `/newspec <text>` as `user`: what they see privately in answer."""
    before = len(h.slack.ephemerals(user=user))
    await h.slack.send_slash_command(text, user_id=user, channel_id=channel)
    shown = await h.slack.wait_for(lambda: h.slack.ephemerals(user=user)[before:], what=f"an answer to {text!r}")
    return shown[-1]  # the fake refuses what is past Slack's limits


async def interview(h, name: str = "shop", user: str = "U1") -> float:
    """A real first turn of an interview; what it cost."""
    h.model.script(str(h.project(name)), [fa.text(f"What is {name} about?")])
    root_ts = await h.start_interview(name, user=user)
    await h.wait_for_text("C1", root_ts, f"What is {name} about?")
    await waiting(h, root_ts)
    cost = (await record(h, root_ts)).cost_usd
    assert 0 < cost < 0.005  # a turn costs a fraction of a cent (so it can't round up to one)
    return cost


async def spend(h, name: str, user: str, *costs: tuple[int, float], thread_ts: str = "1700.1") -> None:
    """Earlier turns of another interview: (days back, cost) each."""
    await h.bot.store.add_interview(InterviewRecord("C1", thread_ts, name, user, status=Status.COMPLETE))
    for back, cost in costs:
        await h.bot.store.add_spend("C1", thread_ts, user, day(back), cost)


# -- /newspec usage --------------------------------------------------------------


async def test_a_workspace_admin_sees_everyones_spend_privately(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_COST_PER_INTERVIEW": "100"})
    shop = await interview(h)
    await spend(h, "cafe", "U2", (0, 0.5), (29, 0.25), (30, 7.0))  # 30 days back: outside the window
    h.slack.make_admin(ADMIN)
    channel_before = list(h.slack.messages)
    shown = (await command(h, "usage", ADMIN)).visible_text
    assert 0 < shop < 0.005  # so the sums below read to the cent
    assert "*$0.75* in total, $0.50 today, by 2 people in 2 interviews" in shown
    assert "• <@U2> — $0.75" in shown and "• <@U1> — less than $0.01" in shown  # never "$0.0000"
    assert "• *cafe* — $0.75" in shown and "• *shop* — less than $0.01" in shown
    assert f"• {utc_day()} — $0.50" in shown and f"• {day(29)} — $0.25" in shown
    assert day(30) not in shown and "$7" not in shown
    assert "Per interview: *$100.00* (`NEWSPEC_MAX_COST_PER_INTERVIEW`)" in shown
    assert "Whole workspace per UTC day: *no limit*" in shown
    assert h.slack.messages == channel_before  # nothing in the channel
    assert h.slack.ephemerals(user="U1") == [] and h.slack.ephemerals(user="U2") == []


@pytest.mark.parametrize("role", ["is_owner", "is_primary_owner", "NEWSPEC_ADMINS"])
async def test_owners_and_newspec_admins_see_everyones_spend(start_bot, role):
    h = await start_bot(env={"NEWSPEC_ADMINS": ADMIN} if role == "NEWSPEC_ADMINS" else {})
    if role != "NEWSPEC_ADMINS":
        h.slack.make_admin(ADMIN, role)
    await spend(h, "shop", "U1", (0, 1.0))
    await spend(h, "cafe", "U2", (1, 2.0), thread_ts="1700.2")
    shown = (await command(h, "usage", ADMIN)).visible_text
    assert "*$3.00* in total" in shown
    assert "<@U1>" in shown and "<@U2>" in shown and "*shop*" in shown and "*cafe*" in shown
    assert ADMINS_SEE_ALL not in shown


async def test_everyone_else_sees_only_their_own_spend(start_bot):
    h = await start_bot()
    await interview(h, user="U1")
    await spend(h, "cafe", "U2", (0, 0.5), (2, 0.25))
    shown = (await command(h, "usage", "U2")).visible_text
    assert "*Your newspec spend, last 30 days*" in shown and "*$0.75* in total, $0.50 today" in shown
    assert "• *cafe* — $0.75" in shown and f"• {day(2)} — $0.25" in shown
    assert ADMINS_SEE_ALL in shown
    assert "*shop*" not in shown and "<@U1>" not in shown and "less than" not in shown
    assert "Budgets in force" not in shown
    mine = (await command(h, "usage", "U1")).visible_text
    assert "*less than $0.01* in total, less than $0.01 today" in mine and "*cafe*" not in mine


async def test_an_admin_slack_cant_vouch_for_sees_only_their_own(start_bot):
    h = await start_bot()
    await spend(h, "shop", "U1", (0, 1.0))
    h.slack.make_admin(ADMIN)
    h.slack.fail_next("users.info", "fatal_error")  # Slack can't say: not an admin (fail closed)
    shown = (await command(h, "usage", ADMIN)).visible_text
    assert "*Your newspec spend, last 30 days*" in shown and "*$0* in total, $0 today" in shown
    assert "<@U1>" not in shown and "*shop*" not in shown
    assert ":warning:" not in shown and "error" not in shown.lower()  # nothing wrong said


async def test_an_admin_of_another_organisation_sees_only_their_own(start_bot):
    h = await start_bot()
    await spend(h, "shop", "U1", (0, 1.0))
    h.slack.add_user("UX", team_id="T2")  # a Slack Connect guest, an owner in their own organisation
    h.slack.make_admin("UX", "is_primary_owner")
    shown = (await command(h, "usage", "UX")).visible_text
    assert "*Your newspec spend, last 30 days*" in shown and "<@U1>" not in shown and "*shop*" not in shown


async def test_spend_survives_a_restart(start_bot):
    h = await start_bot()
    await interview(h)
    h.slack.make_admin(ADMIN)
    before = (await command(h, "usage", ADMIN)).visible_text
    mine = (await command(h, "usage", "U1")).visible_text
    await h.restart()  # a new Bot reopens the same state store
    assert (await command(h, "usage", ADMIN)).visible_text == before
    assert (await command(h, "usage", "U1")).visible_text == mine
    assert "*less than $0.01* in total" in mine


async def test_the_list_shows_each_interviews_spend(start_bot):
    h = await start_bot()
    await interview(h)
    shown = (await command(h, "list", "U2")).visible_text
    assert "• *shop* — waiting — less than $0.01 spent — " in shown


# -- /newspec budget -------------------------------------------------------------


async def test_anyone_sees_the_budgets_in_force(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_COST_PER_INTERVIEW": "2.5", "NEWSPEC_MAX_TURNS_PER_INTERVIEW": "40"})
    shown = (await command(h, "budget", "U2")).visible_text
    assert "Per interview: *$2.50* (`NEWSPEC_MAX_COST_PER_INTERVIEW`)" in shown
    assert "Model turns per interview: *40 turns* (`NEWSPEC_MAX_TURNS_PER_INTERVIEW`)" in shown
    assert "Per person per UTC day: *no limit*" in shown and "Whole workspace per UTC day: *no limit*" in shown
    assert h.slack.messages == []


async def test_an_admin_raises_a_used_up_budget_and_the_held_reply_is_answered(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_COST_PER_INTERVIEW": "0.001"})
    root_ts = await paused_bakery(h)

    h.slack.make_admin(ADMIN)
    await h.slack.send_slash_command("budget interview 5", user_id=ADMIN, channel_id="C1")
    # Said in the channel, for the team: who set which budget to what.
    told = await h.slack.wait_for(
        lambda: next((m for m in h.slack.messages if "set newspec's budget" in m.text), None), what="the change"
    )
    assert told.thread_ts is None and told.channel == "C1"
    assert f"<@{ADMIN}> set newspec's budget *per interview* to *$5.00* (it was $0.001)" in told.visible_text
    await h.wait_for_text("C1", root_ts, "A bakery app, got it.")  # nobody typed it again
    assert "a bakery app" in h.model.requests[1].last_user_text
    await waiting(h, root_ts)
    assert await h.bot.store.pending_replies("C1", root_ts) == []
    assert len(said(h, root_ts, PAUSED)) == 1
    await h.restart()  # the budget set in Slack outlives the process
    shown = (await command(h, "budget", "U2")).visible_text
    assert "Per interview: *$5.00* (set in Slack)" in shown


@pytest.mark.parametrize("who", ["someone", "an admin Slack can't vouch for", "an admin of another organisation"])
async def test_someone_else_cant_change_a_budget(start_bot, who):
    h = await start_bot(env={"NEWSPEC_MAX_COST_PER_INTERVIEW": "1"})
    h.slack.make_admin(ADMIN)
    user = "U2" if who == "someone" else ADMIN
    if who == "an admin Slack can't vouch for":
        h.slack.fail_next("users.info", "fatal_error")  # fail closed
    if who == "an admin of another organisation":  # in a Slack Connect channel
        user = "UX"
        h.slack.add_user(user, team_id="T2")
        h.slack.make_admin(user)
    shown = (await command(h, "budget interview 5", user)).visible_text
    assert shown.startswith(":no_entry:") and NOT_ADMIN in shown and "nothing was changed" in shown
    assert await h.bot.store.budget_overrides() == {}
    assert h.slack.messages == []
    shown = (await command(h, "budget", user)).visible_text
    assert "Per interview: *$1.00* (`NEWSPEC_MAX_COST_PER_INTERVIEW`)" in shown


@pytest.mark.parametrize(
    ("text", "said_"),
    [
        ("budget interview -1", "`-1` isn't a budget"),
        ("budget interview 0", "`0` isn't a budget"),
        ("budget person lots", "`lots` isn't a budget"),
        ("budget workspace nan", "`nan` isn't a budget"),
        ("budget interview inf", "`inf` isn't a budget"),
        ("budget turns 2.5", "`2.5` isn't a budget: give a positive whole number of turns"),
        ("budget wallet 5", "To change a budget: `/newspec budget <interview|person|workspace|turns> <amount|off>`"),
        ("budget interview", "To change a budget"),
    ],
)
async def test_a_bad_amount_changes_nothing_and_says_why(start_bot, text, said_):
    h = await start_bot(env={"NEWSPEC_ADMINS": ADMIN})
    shown = (await command(h, text, ADMIN)).visible_text
    assert said_ in shown and shown.startswith(":warning:")
    await asyncio.sleep(0.2)  # time enough for a wrong change to land
    assert await h.bot.store.budget_overrides() == {}
    assert h.slack.messages == []


async def test_budgets_can_be_turned_off_and_turns_set(start_bot):
    h = await start_bot(env={"NEWSPEC_ADMINS": ADMIN, "NEWSPEC_MAX_COST_PER_DAY": "50"})
    await h.slack.send_slash_command("budget workspace off", user_id=ADMIN, channel_id="C1")
    await h.slack.send_slash_command("budget turns 40", user_id=ADMIN, channel_id="C1")
    await h.slack.wait_for(lambda: len(h.slack.messages) == 2, what="both changes said")
    texts = "\n".join(m.visible_text for m in h.slack.messages)
    assert f"<@{ADMIN}> set newspec's budget *whole workspace per UTC day* to *no limit* (it was $50.00)" in texts
    assert f"<@{ADMIN}> set newspec's budget *model turns per interview* to *40 turns* (it was no limit)" in texts
    assert await h.bot.store.budget_overrides() == {"per_day": None, "turns_per_interview": 40.0}
    shown = (await command(h, "budget", "U2")).visible_text
    assert "Whole workspace per UTC day: *no limit* (set in Slack)" in shown
    assert "Model turns per interview: *40 turns* (set in Slack)" in shown


async def test_help_names_the_new_commands(start_bot):
    h = await start_bot()
    shown = (await command(h, "help", "U1")).visible_text
    assert "`/newspec usage`" in shown and "`/newspec budget`" in shown and "`budget`" in shown
