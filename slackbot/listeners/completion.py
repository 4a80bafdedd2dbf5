"""The completion message's buttons: Request changes (the interview goes on) and How
to build (the hand-off steps, to the clicker alone)."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from ..interview.conversation import Conversation
from ..interview.delivery import handoff_for
from ..interview.questions import Accepted
from ..interview.registry import Interviews, Reply
from ..slack.people import DisplayNames
from ..slack.relay import recipient_team
from ..slack.relay.completion import CHANGES_REQUEST, HOW_TO_BUILD_ACTION, REQUEST_CHANGES_ACTION, how_to_build
from ..store import Status
from .messages import enrich

log = logging.getLogger(__name__)


def register(app: AsyncApp, interviews: Interviews, names: DisplayNames) -> None:
    async def in_thread(body: dict, respond: AsyncRespond) -> Conversation | None:
        """The interview whose thread the button sits in (never one named by its value), if
        this person may act there (the check typed replies get); else they are told why."""
        message, container = body.get("message") or {}, body.get("container") or {}
        thread_ts = str(message.get("thread_ts") or container.get("thread_ts") or "")
        user, channel = (body.get("user") or {}).get("id"), (body.get("channel") or {}).get("id")
        conversation = await interviews.find(str(channel), thread_ts) if channel and thread_ts else None
        refusal = interviews.refusal(conversation, user, channel)
        if refusal is not None or conversation is None:
            note = f":no_entry: {refusal}" if refusal is not None else "This interview is no longer here."
            await respond(note, response_type="ephemeral", replace_original=False)
            return None
        return conversation

    async def on_request_changes(
        ack: AsyncAck, body: dict, respond: AsyncRespond, context: AsyncBoltContext, client: AsyncWebClient,
    ) -> None:
        await ack()
        conversation = await in_thread(body, respond)
        if conversation is None:
            return
        clicker, record = body.get("user") or {}, conversation.record
        team = recipient_team(clicker.get("team_id"), context.team_id, context.enterprise_id)
        # The click stands for the clicker's message in the thread: Claude asks what to change.
        ts = str((body.get("actions") or [{}])[0].get("action_ts") or "")
        reply = Reply(record.channel, record.thread_ts, str(clicker.get("id")), CHANGES_REQUEST, ts, None, team)
        held = await interviews.hold(conversation, reply)
        if not isinstance(held, Accepted):  # the interview goes on (a cancelled one stays so)
            await conversation.save(status=Status.INTERVIEWING)
        if not isinstance(held, Accepted):
            held = await enrich(interviews, names, client, conversation, held, [])
        outcome = held
        if outcome is Accepted.CANCELLED:
            await respond(f"This interview was cancelled. Start again with `/newspec {record.name}`.",
                          response_type="ephemeral", replace_original=False)

    async def on_how_to_build(ack: AsyncAck, body: dict, respond: AsyncRespond) -> None:
        await ack()
        conversation = await in_thread(body, respond)
        if conversation is None:
            return
        try:
            steps = how_to_build(handoff_for(conversation.project_dir), conversation.project_dir)
        except OSError:
            log.warning("no spec to hand off in %s", conversation.project_dir)
            steps = "The spec's files are gone from the project folder, so there is nothing to build."
        await respond(steps, response_type="ephemeral", replace_original=False)

    app.action(REQUEST_CHANGES_ACTION)(on_request_changes)
    app.action(HOW_TO_BUILD_ACTION)(on_how_to_build)
