"""Opening an interview thread: shared by the /newspec command and the buttons."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..interviews import Interviews
from ..store import InterviewRecord

log = logging.getLogger(__name__)

NOT_IN_CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found"})
CANCEL_ACTION = "newspec_cancel"


def root_blocks(text: str) -> list[dict]:
    """The thread's root message: who started what, and a way to end it."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": CANCEL_ACTION,
                    "text": {"type": "plain_text", "text": "Cancel interview"},
                    "style": "danger",
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Cancel this interview?"},
                        "text": {
                            "type": "mrkdwn",
                            "text": "Claude stops and the thread ends. Files already written are kept.",
                        },
                        "confirm": {"type": "plain_text", "text": "Cancel interview"},
                        "deny": {"type": "plain_text", "text": "Keep going"},
                    },
                }
            ],
        },
    ]


async def open_interview(
    client: AsyncWebClient,
    respond: AsyncRespond,
    interviews: Interviews,
    *,
    name: str,
    channel: str,
    user: str,
    team_id: str | None,
    opening: str | None = None,
) -> bool:
    """Post the thread's root message and start the session; tell the user if Slack refuses."""
    text = f"Spec interview for *{name}*, started by <@{user}> — answer in this thread."
    try:
        root = await interviews.scheduler.post(channel=channel, text=text, blocks=root_blocks(text))
    except SlackApiError as exc:
        error = exc.response.get("error")
        log.warning("could not open interview %s in %s: %s", name, channel, error)
        if error in NOT_IN_CHANNEL_ERRORS:
            await respond(
                "I'm not a member of this channel, so I can't start a thread here. "
                "Add me with `/invite @newspec` (or pick another channel) and run the command again."
            )
        else:
            await respond(f"Slack wouldn't let me start the interview ({error}). Please try again.")
        return False
    await interviews.start(
        name=name, channel=channel, thread_ts=root["ts"], user_id=user, team_id=team_id, opening=opening
    )
    return True


async def thread_link(client: AsyncWebClient, record: InterviewRecord) -> str:
    try:
        response = await client.chat_getPermalink(channel=record.channel, message_ts=record.thread_ts)
        return f"<{response['permalink']}|thread>"
    except SlackApiError:
        return f"thread in <#{record.channel}>"
