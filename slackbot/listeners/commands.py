"""`/newspec <name>`: check the name, open the interview thread, start the session."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..interviews import Interviews
from ..spec import InvalidName, check_name

log = logging.getLogger(__name__)

COMMAND = "/newspec"
NOT_IN_CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found"})


def register(app: AsyncApp, interviews: Interviews) -> None:
    async def on_newspec(
        ack: AsyncAck, command: dict, client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        try:
            name = check_name(command.get("text", ""))
        except InvalidName as problem:
            await ack(text=f":warning: {problem}")  # ephemeral, and nothing else happens
            return
        await ack()

        channel, user = command["channel_id"], command["user_id"]
        existing = interviews.find_by_name(name)
        if existing is not None:
            link = await _permalink(client, existing.channel, existing.thread_ts)
            await respond(f"*{name}* already has an interview going: {link}. Continue it in that thread.")
            return

        try:
            root = await client.chat_postMessage(
                channel=channel,
                text=f"Spec interview for *{name}*, started by <@{user}> — answer in this thread.",
            )
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
            return

        await interviews.start(
            name=name,
            channel=channel,
            thread_ts=root["ts"],
            user_id=user,
            team_id=command.get("team_id"),
        )

    app.command(COMMAND)(on_newspec)


async def _permalink(client: AsyncWebClient, channel: str, ts: str) -> str:
    try:
        response = await client.chat_getPermalink(channel=channel, message_ts=ts)
        return f"<{response['permalink']}|the thread>"
    except SlackApiError:
        return "the existing thread in <#" + channel + ">"
