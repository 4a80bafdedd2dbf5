"""The buttons that get a thread out of a dead end: Retry under a failed answer, and
Tell the admins under a budget pause (the logic is in recovery_buttons.py)."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from ..interview.conversation import Conversation
from ..interview.recovery_buttons import admins_asked, first_ask, pause_now, retry
from ..interview.registry import Interviews
from ..slack.blocks import RETRY_ACTION, TELL_ADMINS_ACTION, clicked
from ..slack.people import ADMIN_FLAGS
from ..slack.relay import SLACK_ERRORS, recipient_team, slack_error

log = logging.getLogger(__name__)

RETRIED = "Claude has already been asked to try again here, so this button does nothing now."
NOT_PAUSED = "No budget pauses this interview any more, so I told nobody."
ALREADY_TOLD = "I've already told the admins about this pause."
NO_ADMINS = "I couldn't find the workspace admins to tell, so I told nobody. Ask one of them directly."
MAX_ADMINS = 20  # mentioned at most: a big workspace's admins are many


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

    async def on_tell_admins(ack: AsyncAck, body: dict, respond: AsyncRespond, client: AsyncWebClient,
                             context: AsyncBoltContext) -> None:
        await ack()
        conversation = await conversation_of(body, respond)
        if conversation is None:
            return
        try:
            key = [str(part) for part in json.loads(body["actions"][0].get("value") or "[]")]
        except (ValueError, KeyError, TypeError):
            key = []
        held = await pause_now(conversation, key)
        if held is None:
            await respond(NOT_PAUSED, response_type="ephemeral", replace_original=False)
            return
        install = context.authorize_result
        admins = sorted(interviews.settings.admins) or await workspace_admins(
            client, install.team_id if install is not None else context.team_id
        )
        if not admins:
            await respond(NO_ADMINS, response_type="ephemeral", replace_original=False)
        elif not await first_ask(conversation, held):
            await respond(ALREADY_TOLD, response_type="ephemeral", replace_original=False)
        else:
            user = body["user"]["id"]
            text = await admins_asked(conversation, admins[:MAX_ADMINS], user, held)
            await interviews.scheduler.post(channel=conversation.record.channel,
                                            thread_ts=conversation.record.thread_ts, text=text)
            await mark_clicked(body, TELL_ADMINS_ACTION, f"<@{user}> told the admins.")

    app.action(RETRY_ACTION)(on_retry)
    app.action(TELL_ADMINS_ACTION)(on_tell_admins)


async def workspace_admins(client: AsyncWebClient, team: str | None) -> list[str]:
    """The people who run workspace `team` (admins and owners, by users.list, every page);
    none if Slack can't say (logged)."""
    admins: list[str] = []
    cursor: str | None = None
    try:
        while True:
            page = await client.users_list(limit=200, cursor=cursor)
            admins += [
                str(u["id"]) for u in page.get("members") or []
                if any(u.get(flag) is True for flag in ADMIN_FLAGS) and not u.get("deleted") and not u.get("is_bot")
                and (team is None or u.get("team_id") == team)
            ]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return admins
    except SLACK_ERRORS as exc:
        log.warning("users.list failed, so I can't tell who the admins are: %s", slack_error(exc))
        return []
