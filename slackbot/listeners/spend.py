"""`/newspec usage` and `/newspec budget`: what Claude cost, and budgets changed without
a restart. Called by the /newspec handler in commands.py, after its permission check."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_bolt.async_app import AsyncAck, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from ..interview.registry import Interviews
from ..slack.people import is_admin
from ..slack.usage import (
    BadBudget,
    BudgetChange,
    budget_value,
    budgets_text,
    in_force,
    parse_budget,
    person,
    personal_report,
    since_day,
    since_time,
    workspace_report,
)
from ..spend.budget import Budgets, utc_day

log = logging.getLogger(__name__)

WORDS = frozenset({"usage", "budget"})
NOT_ADMIN = (
    ":no_entry: Only workspace admins and the people in `NEWSPEC_ADMINS` can change budgets, "
    "so nothing was changed. `/newspec budget` shows the budgets in force."
)


@dataclass(frozen=True)
class Asker:
    """Who ran the command, and how to tell whether they are an admin here."""

    user: str
    client: AsyncWebClient
    home: tuple[str | None, ...]  # the bot's workspace and Grid organisation (auth.test)

    async def is_admin(self, interviews: Interviews) -> bool:
        return await is_admin(self.client, self.user, interviews.settings.admins, self.home)


async def handle(
    words: list[str], command: dict, ack: AsyncAck, client: AsyncWebClient, respond: AsyncRespond,
    context: AsyncBoltContext, interviews: Interviews,
) -> None:
    """`words`: the command's text split on spaces, the first being one of WORDS."""
    install = context.authorize_result  # None: the install unknown, so nobody counts as an admin
    home = (install.team_id, install.enterprise_id) if install is not None else ()
    asker = Asker(command["user_id"], client, home)
    if words[0].lower() == "usage":
        await usage(asker, ack, respond, interviews)
    else:
        await budget(words[1:], asker, ack, respond, interviews)


async def _budgets(interviews: Interviews) -> tuple[Budgets, frozenset[str]]:
    return in_force(interviews.budgets, await interviews.store.budget_overrides())


async def usage(asker: Asker, ack: AsyncAck, respond: AsyncRespond, interviews: Interviews) -> None:
    """Private to the asker: an admin sees the whole workspace, anyone else their own spend."""
    await ack()  # users.info and the store may take longer than the ack's 3 seconds
    today = utc_day()
    store = interviews.store
    if await asker.is_admin(interviews):
        votes = await store.feedback_counts(since_time(today))
        report = workspace_report(
            await store.spend_report(since_day(today)), today, *await _budgets(interviews), votes=votes
        )
    else:
        report = personal_report(await store.spend_report(since_day(today), user_id=asker.user), today)
    await respond(text=report.text, blocks=report.blocks)


async def budget(args: list[str], asker: Asker, ack: AsyncAck, respond: AsyncRespond, interviews: Interviews) -> None:
    if not args:  # the budgets in force: anyone may see them
        await ack(text=budgets_text(*await _budgets(interviews)))
        return
    try:
        change = parse_budget(args)
    except BadBudget as problem:
        await ack(text=f":warning: {problem}")  # private, and nothing changes
        return
    await ack()
    if not await asker.is_admin(interviews):
        await respond(NOT_ADMIN)
        return
    before, _ = await _budgets(interviews)
    await interviews.store.set_budget(change.kind.field, change.value, asker.user)
    woken = interviews.budgets_changed()  # held threads check again, against the new value
    log.info("%s set budget %s to %s; %d held threads woken", asker.user, change.kind.field, change.value, woken)
    # Said in the channel, not privately: a budget spends the team's money and decides
    # whether paused interviews (which others wait on) carry on, so the team should see
    # who changed what, and when, where they work; refusals and mistakes stay private.
    await respond(text=changed_text(asker.user, change, getattr(before, change.kind.field)), response_type="in_channel")


def changed_text(user: str, change: BudgetChange, before: float | None) -> str:
    kind = change.kind
    label = kind.label[0].lower() + kind.label[1:]
    return (
        f":money_with_wings: {person(user)} set newspec's budget *{label}* to "
        f"*{budget_value(kind, change.value)}* (it was {budget_value(kind, before)}). It holds from the next "
        "reply on, also after a restart; interviews a budget had paused carry on if it now allows."
    )
