"""Opening an interview thread: shared by the /newspec command and the buttons."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..blocks import root_blocks
from ..registry import Interviews
from ..relay import SLACK_ERRORS
from ..spec import has_features, project_dir
from ..store import InterviewRecord

log = logging.getLogger(__name__)

NOT_IN_CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found"})
FEATURES_EXIST = (
    ":information_source: AutoForge has already created this project's features, and it creates them only "
    "once: changes to the spec here will be saved, but they won't add, remove or rename features it already "
    "has. To rebuild from a changed spec, start the project afresh in AutoForge."
)


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
    """Claim the name, post the thread's root message and start the session; tell the
    user if the name was just taken or Slack refuses."""
    claim, claimed = await interviews.claim(name, channel, user, team_id)
    if not claimed:  # someone else started it a moment ago
        link = await thread_link(client, claim)
        await respond(f"*{name}* already has an interview: {link}. Carry on in that thread.")
        return False
    text = f"Spec interview for *{name}*, started by <@{user}> — answer in this thread."
    try:
        root = await interviews.scheduler.post(channel=channel, text=text, blocks=root_blocks(text))
    except SLACK_ERRORS as exc:
        await interviews.release(claim)
        error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
        log.warning("could not open interview %s in %s: %s", name, channel, error)
        if error in NOT_IN_CHANNEL_ERRORS:
            await respond(
                "I'm not a member of this channel, so I can't start a thread here. "
                "Add me with `/invite @newspec` (or pick another channel) and run the command again."
            )
        else:
            await respond(f"Slack wouldn't let me start the interview ({error}). Please try again.")
        return False
    if has_features(project_dir(interviews.settings.generations_dir, name)):
        await interviews.scheduler.post(channel=channel, thread_ts=root["ts"], text=FEATURES_EXIST)
    await interviews.start(claim, root["ts"], opening)
    return True


async def thread_link(client: AsyncWebClient, record: InterviewRecord) -> str:
    try:
        response = await client.chat_getPermalink(channel=record.channel, message_ts=record.thread_ts)
        return f"<{response['permalink']}|thread>"
    except SlackApiError:
        return f"thread in <#{record.channel}>"
