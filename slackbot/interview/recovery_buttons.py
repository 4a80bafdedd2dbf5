"""Ways out of a dead end: a failed answer tried again (by itself once after a 529
"overloaded", or with its Retry button), and a budget pause brought to the admins.

What Claude gets on a retry: the CLI keeps the team's message in its transcript when
the model call fails (measured with the fake model: the next request repeats it), and
replies a turn carried that Claude does not have wait in the store again (`Carried`).
So a retry sends Claude only a request to answer again, never the team's words twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from ..events import Attachment, Failed, SessionEvent
from ..spend.budget import Held, set_usd
from ..store import Status
from .standing import Watched
from .turn_state import Phase

log = logging.getLogger(__name__)


class Retrying(Watched, Protocol):
    """What Retry and Tell the admins use of the conversation."""

    accepting: bool
    failed_turn: str | None
    vouch: Callable[[], Awaitable[object]]


TRIED = "tried"  # `Conversation.failed_turn` once its Retry was clicked
OVERLOADED_PAUSE = 2.0  # seconds before the one try of its own after a 529
# For Claude (people don't see it): what a retry sends.
ANSWER_AGAIN = (
    "(Your last answer was cut off by an error on the API's side. "
    "Please answer the team's last message again, carrying on from where you stopped.)"
)

Send = Callable[[str, tuple[Attachment, ...], str], AsyncIterator[SessionEvent]]


async def once_more_if_overloaded(
    send: Send, text: str, attachments: tuple[Attachment, ...], mark: str, go_on: Callable[[], bool],
) -> AsyncIterator[SessionEvent]:
    """`send`'s events, except that a first 529 is not shown: after a short pause Claude is
    asked again (if the turn may go on), and only a second failure reaches people."""
    overloaded: Failed | None = None
    async for event in send(text, attachments, mark):
        if isinstance(event, Failed) and event.overloaded and overloaded is None:
            overloaded = event
            continue
        yield event
    if overloaded is None:
        return
    await asyncio.sleep(OVERLOADED_PAUSE)
    if not go_on():  # stopped, cancelled or shutting down meanwhile: say what happened
        yield overloaded
        return
    log.warning("Claude's service was overloaded (%s); asking once more", overloaded.detail)
    async for event in send(ANSWER_AGAIN, (), str(uuid.uuid4())):
        yield event


async def send(
    c: Retrying, text: str, attachments: tuple[Attachment, ...], mark: str
) -> AsyncIterator[SessionEvent]:
    """Send to Claude (once more after a first 529), with what the budgets in force leave
    as the CLI's own spend limit."""
    async def once(text: str, attachments: tuple[Attachment, ...], mark: str) -> AsyncIterator[SessionEvent]:
        limit, spent = await c.spend.headroom(), c.record.session_cost_usd
        async for event in c.session.send(text, attachments, message_id=mark, spend_limit=limit, spent=spent):
            yield event

    def going_on() -> bool:
        return c.accepting and c.state.is_(Phase.RUNNING) and c.record.status != Status.CANCELLED

    async for event in once_more_if_overloaded(once, text, attachments, mark, going_on):
        await c.vouch()  # nothing of a turn goes out from a replica taken for dead (fencing.py)
        yield event


async def retry(conversation: Retrying, user: str, team: str | None, turn: str) -> bool:
    """The Retry under the note of failed turn `turn` was clicked: Claude is asked to answer
    again. False (nothing done) if that was done already, or a later turn ran since. The
    note shows while its turn winds down: a click then is taken too."""
    c = conversation
    if c.failed_turn != turn and not (c.failed_turn is None and c.record.status == Status.FAILED):
        return False  # (None after a restart: then the stored status tells)
    c.failed_turn = TRIED  # before anything awaits: a second click finds it
    if c.record.status == Status.FAILED:
        await c.save(status=Status.INTERVIEWING)
    await c.store.queue_claimed_reply(*c.key, user, ANSWER_AGAIN, f"retry:{uuid.uuid4().hex}", None, team)
    log.info("interview %s: %s asked Claude to try again", c.record.name, user)
    c.wake_up()
    return True


async def pause_now(c: Retrying, key: list[str]) -> Held | None:
    """The budget that holds the interview now (asked afresh: a click may be old), for the
    person the clicked pause was about; None if none does."""
    budgets = await c.budgets.current(c.store)
    payer = key[2] if len(key) > 2 and key[0] == "user" else c.spend.payer
    return await budgets.held(c.store, c.record, payer)


async def first_ask(c: Retrying, held: Held) -> bool:
    """Whether the admins are asked about this pause for the first time (stored: once per
    budget reached, across restarts)."""
    return await c.store.note_once(*c.key, "admins:" + ":".join(held.key))


async def admins_asked(c: Retrying, admins: list[str], clicker: str, held: Held) -> str:
    """The message that asks the admins to raise the budget `held`."""
    b = await c.budgets.current(c.store)
    kind = held.key[0]
    reached = {
        "interview": f"this interview's budget of {set_usd(b.per_interview or 0)}",
        "turns": f"this interview's limit of {b.turns_per_interview or 0:,} model turns",
        "user": f"<@{held.key[-1]}>'s budget of {set_usd(b.per_user_day or 0)} for today",
        "workspace": f"the workspace's budget of {set_usd(b.per_day or 0)} for today",
    }.get(kind, "a spend budget")
    command = {"interview": "interview <dollars>", "turns": "turns <number>", "user": "person <dollars>",
               "workspace": "workspace <dollars>"}.get(kind, "<interview|person|workspace|turns> <amount>")
    return (
        f":bell: {' '.join(f'<@{a}>' for a in admins)}: <@{clicker}> asks you to raise a budget. This interview "
        f"is paused because it reached {reached}; `/newspec budget {command}` lets it go on."
    )
