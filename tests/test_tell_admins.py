"""No dead end at a budget pause: its note offers Tell the admins, which mentions the
workspace's admins (or the people in NEWSPEC_ADMINS) in the thread, once per pause."""

from __future__ import annotations

from slackbot.listeners.recovery_actions import ALREADY_TOLD, NOT_PAUSED
from slackbot.slack.blocks import TELL_ADMINS_ACTION
from tests.conftest import Harness
from tests.fakes.slack import Message
from tests.test_budgets import PAUSED, paused_bakery, waiting, with_settings

BUDGET = {"NEWSPEC_MAX_COST_PER_INTERVIEW": "0.001"}


def tell_button(message: Message) -> str | None:
    for block in message.blocks or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == TELL_ADMINS_ACTION:
                return str(element.get("value"))
    return None


def pause_note(h: Harness, root_ts: str) -> Message:
    (note,) = [m for m in h.answers("C1", root_ts) if PAUSED in m.text]
    assert tell_button(note) is not None, note.blocks
    return note


def asked(h: Harness, root_ts: str) -> list[str]:
    return [m.text for m in h.answers("C1", root_ts) if m.text.startswith(":bell:")]


async def told(h: Harness, user: str, text: str) -> None:
    await h.slack.wait_for(lambda: any(text in e.text for e in h.slack.ephemerals(user)), what=text)


async def test_tell_the_admins_mentions_the_workspace_admins_once(start_bot):
    h = await start_bot(env=BUDGET)
    for user in ("U7", "U8", "U9", "U10"):
        h.slack.add_user(user)
    h.slack.make_admin("U7")
    h.slack.make_admin("U10", "is_owner")  # on the last page of users.list
    h.slack.add_user("U11", team_id="T9")
    h.slack.make_admin("U11")  # another organisation's admin, in a Slack Connect channel
    root_ts = await paused_bakery(h)
    note = pause_note(h, root_ts)

    await h.slack.send_action(TELL_ADMINS_ACTION, tell_button(note), user_id="U2", message_ts=note.ts)
    await h.slack.wait_for(lambda: asked(h, root_ts), what="the admins asked")
    (message,) = asked(h, root_ts)
    assert "<@U7>" in message and "<@U10>" in message
    assert "<@U9>" not in message and "<@U11>" not in message and "<@U1>" not in message
    assert "<@U2> asks you to raise a budget" in message
    assert "this interview's budget of $0.001" in message and "`/newspec budget interview <dollars>`" in message
    assert len(h.slack.calls_to("users.list")) > 2  # every page read
    clicked = h.slack.message("C1", note.ts)
    assert clicked is not None and tell_button(clicked) is None
    assert "<@U2> told the admins." in clicked.visible_text

    await h.slack.send_action(TELL_ADMINS_ACTION, tell_button(note), user_id="U1", message_ts=note.ts)
    await told(h, "U1", ALREADY_TOLD)
    assert len(asked(h, root_ts)) == 1
    assert len(h.model.requests) == 1  # Claude got nothing from either click


async def test_the_people_in_newspec_admins_are_told_instead(start_bot):
    h = await start_bot(env={**BUDGET, "NEWSPEC_ADMINS": "U5, U6"})
    h.slack.add_user("U7")
    h.slack.make_admin("U7")
    root_ts = await paused_bakery(h)
    note = pause_note(h, root_ts)
    await h.slack.send_action(TELL_ADMINS_ACTION, tell_button(note), user_id="U1", message_ts=note.ts)
    await h.slack.wait_for(lambda: asked(h, root_ts), what="the admins asked")
    (message,) = asked(h, root_ts)
    assert message.startswith(":bell: <@U5> <@U6>: <@U1> asks") and "<@U7>" not in message
    assert h.slack.calls_to("users.list") == []


async def test_a_click_after_the_pause_ended_tells_nobody(start_bot):
    h = await start_bot(env=BUDGET)
    root_ts = await paused_bakery(h)
    note = pause_note(h, root_ts)
    await with_settings(h, max_cost_per_interview=100.0)
    await h.wait_for_text("C1", root_ts, "A bakery app, got it.")
    await waiting(h, root_ts)
    await h.slack.send_action(TELL_ADMINS_ACTION, tell_button(note), user_id="U1", message_ts=note.ts)
    await told(h, "U1", NOT_PAUSED)
    assert asked(h, root_ts) == []
