"""The buttons that get a thread out of a dead end: Retry under a failed answer, and
Tell the admins under a budget pause (the logic is in recovery_buttons.py)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond

from ..conversation import Conversation
from ..recovery_buttons import RETRY_ACTION, clicked, retry
from ..registry import Interviews
from ..relay import SLACK_ERRORS, recipient_team, slack_error

log = logging.getLogger(__name__)

RETRIED = "Claude has already been asked to try again here, so this button does nothing now."


def register(app: AsyncApp, interviews: Interviews) -> None:
    async def conversation_of(body: dict, respond: AsyncRespond) -> Conversation | None:
        """The interview of the thread the button was clicked in, if this person may act in it."""
        message, user = body.get("message") or {}, (body.get("user") or {}).get("id")
        channel, thread_ts = (body.get("channel") or {}).get("id"), message.get("thread_ts")
        conversation = await interviews.find(str(channel), str(thread_ts)) if channel and thread_ts else None
        refusal = interviews.refusal(conversation, user, channel)
        note = f":no_entry: {refusal}" if refusal else None if conversation else "This interview is no longer here."
        if note is not None:
            await respond(note, response_type="ephemeral", replace_original=False)
        return None if note else conversation

    async def on_retry(ack: AsyncAck, body: dict, respond: AsyncRespond, context: AsyncBoltContext) -> None:
        await ack()
        conversation = await conversation_of(body, respond)
        if conversation is None:
            return
        clicker = body.get("user") or {}
        turn = str(((body.get("actions") or [{}])[0] or {}).get("value") or "")
        team = recipient_team(clicker.get("team_id"), context.team_id, context.enterprise_id)
        if not await retry(conversation, clicker["id"], team, turn):
            await respond(RETRIED, response_type="ephemeral", replace_original=False)
            return
        await mark_clicked(body, RETRY_ACTION, f"<@{clicker['id']}> asked Claude to try again.")

    async def mark_clicked(body: dict, action: str, line: str) -> None:
        """The clicked note shows who clicked instead of its button (one click is enough)."""
        message: dict[str, Any] = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id")
        try:
            await interviews.scheduler.update(
                channel=channel, ts=message.get("ts"), text=message.get("text") or line,
                blocks=clicked(message.get("blocks") or [], action, line),
            )
        except SLACK_ERRORS as exc:  # the click worked; only its button stays on screen
            log.warning("could not take the %s button off %s: %s", action, message.get("ts"), slack_error(exc))

    app.action(RETRY_ACTION)(on_retry)
