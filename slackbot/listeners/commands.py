"""`/newspec <name> | list | help`: check the name, open or point to the interview thread."""

from __future__ import annotations

import json
import logging

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from ..interviews import Interviews
from ..spec import NAME_RULES, InvalidName, check_name, has_spec, project_dir
from ..store import InterviewRecord
from .starting import open_interview, thread_link

log = logging.getLogger(__name__)

COMMAND = "/newspec"
CONTINUE_ACTION = "newspec_continue"
START_OVER_ACTION = "newspec_start_over"
LIST_LIMIT = 20

HELP = (
    "*newspec* interviews your team into an app spec that a coding agent can build from.\n"
    "• `/newspec <name>` starts an interview in a new thread here; answer Claude in the thread "
    "(anyone in the channel can). When you're done it uploads `app_spec.txt` and "
    "`initializer_prompt.md`.\n"
    "• `/newspec list` shows this workspace's interviews.\n"
    "• `/newspec help` shows this help.\n"
    f"Names are {NAME_RULES}; `list` and `help` are reserved."
)


def register(app: AsyncApp, interviews: Interviews) -> None:
    async def on_newspec(
        ack: AsyncAck, command: dict, client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        refusal = interviews.settings.refusal(command.get("user_id"), command.get("channel_id"))
        if refusal is not None:
            await ack(text=f":no_entry: {refusal}")
            return
        text = str(command.get("text") or "").strip()
        if text.lower() == "help":
            await ack(text=HELP)
            return
        if text.lower() == "list":
            await ack()
            records = await interviews.list(command.get("team_id"))
            await respond(await render_list(client, records))
            return
        try:
            name = check_name(text)
        except InvalidName as problem:
            await ack(text=f":warning: {problem}")  # ephemeral, and nothing else happens
            return
        await ack()

        channel, user, team_id = command["channel_id"], command["user_id"], command.get("team_id")
        existing = await interviews.find_by_name(name)
        if existing is not None:
            link = await thread_link(client, existing)
            await respond(f"*{name}* already has an interview: {link}. Carry on in that thread.")
            return
        if has_spec(project_dir(interviews.settings.generations_dir, name)):
            await respond(
                text=f"*{name}* already has a finished spec from an earlier interview.",
                blocks=existing_spec_blocks(name, channel),
            )
            return
        await open_interview(client, respond, interviews, name=name, channel=channel, user=user, team_id=team_id)

    app.command(COMMAND)(on_newspec)


def existing_spec_blocks(name: str, channel: str) -> list[dict]:
    value = json.dumps({"name": name, "channel": channel})
    return [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{name}* already has a finished spec from an earlier interview. "
                "Continue editing it in a new thread, or start over? Starting over keeps the "
                "old files in a dated backup folder.",
            },
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": CONTINUE_ACTION,
                    "text": {"type": "plain_text", "text": "Continue editing"},
                    "style": "primary",
                    "value": value,
                },
                {
                    "type": "button",
                    "action_id": START_OVER_ACTION,
                    "text": {"type": "plain_text", "text": "Start over"},
                    "value": value,
                },
            ],
        },
    ]


async def render_list(client: AsyncWebClient, records: list[InterviewRecord]) -> str:
    if not records:
        return "No interviews yet. Start one with `/newspec <name>`."
    lines = [f"*Interviews* ({len(records)}):"]
    for record in records[:LIST_LIMIT]:
        when = int(record.updated_at)
        lines.append(
            f"• *{record.name}* — {record.status.value} — {await thread_link(client, record)} — "
            f"last activity <!date^{when}^{{date_short_pretty}} {{time}}|{when}>"
        )
    if len(records) > LIST_LIMIT:
        lines.append(f"…and {len(records) - LIST_LIMIT} older ones.")
    return "\n".join(lines)
