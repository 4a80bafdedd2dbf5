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
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from .events import Attachment, Failed, SessionEvent
from .store import Status
from .turn_state import Phase

if TYPE_CHECKING:
    from .conversation import Conversation

log = logging.getLogger(__name__)

RETRY_ACTION = "newspec_retry"
TELL_ADMINS_ACTION = "newspec_tell_admins"
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
    c: Conversation, text: str, attachments: tuple[Attachment, ...], mark: str
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
        yield event


def retry_buttons(turn: str) -> list[dict[str, Any]]:
    """Under a failed answer's note: Retry, naming the turn that failed."""
    button = {"type": "button", "text": {"type": "plain_text", "text": "Retry"}, "action_id": RETRY_ACTION,
              "value": turn}
    return [{"type": "actions", "elements": [button]}]


async def retry(conversation: Conversation, user: str, team: str | None, turn: str) -> bool:
    """The Retry under the note of failed turn `turn` was clicked: Claude is asked to answer
    again. False (nothing done) if the interview is no longer failed, or a later turn is."""
    c = conversation
    if c.record.status != Status.FAILED or c.failed_turn not in (None, turn):
        return False
    await c.save(status=Status.INTERVIEWING)  # set before this awaits: a second click finds it
    c.failed_turn = None
    await c.store.queue_claimed_reply(*c.key, user, ANSWER_AGAIN, f"retry:{uuid.uuid4().hex}", None, team)
    log.info("interview %s: %s asked Claude to try again", c.record.name, user)
    c.wake_up()
    return True


def clicked(blocks: list[dict[str, Any]], action: str, line: str) -> list[dict[str, Any]]:
    """A note's blocks with the row holding `action` replaced by `line` (who clicked it)."""
    def holds(block: dict[str, Any]) -> bool:
        return block.get("type") == "actions" and any(
            element.get("action_id") == action for element in block.get("elements") or []
        )
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}
    return [context if holds(block) else block for block in blocks]
