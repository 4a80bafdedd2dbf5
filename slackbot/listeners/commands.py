"""`/newspec <name> | list | help`: check the name, open or point to the interview thread.
`usage` and `budget` are handled in spend.py."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from ..interview.registry import Interviews
from ..markup import escape, usd
from ..slack.blocks import existing_spec_blocks
from ..slack.relay import SLACK_ERRORS, slack_error
from ..slack.typed_text import typed_text
from ..spec.files import NAME_RULES, InvalidName, check_name, existing_spelling, has_spec, project_dir
from ..store import InterviewRecord, Status
from . import spend
from .starting import open_interview, thread_link

log = logging.getLogger(__name__)

COMMAND = "/newspec"
LIST_LIMIT = 20
START_LIMITED = (
    ":raised_hand: You've run `/newspec` many times in the last hour, so I'm not starting another "
    "interview yet. Carry on in the threads you have, or try again later."
)

# users.conversations: every kind of conversation, archived ones too (an interview
# may live in a channel archived since), a page at a time.
MEMBERSHIP_TYPES = "public_channel,private_channel"  # interviews live only in channels
MEMBERSHIP_PAGE = 200
MEMBERSHIP_MAX_PAGES = 100  # 20,000 channels; past that, the rest count as not joined

NOT_YOURS = (
    "*{name}* belongs to a channel you're not in, so I can't show or open it here. "
    "Pick another name, or ask someone in that channel."
)
CHECK_FAILED = (
    "Slack couldn't tell me which channels you're in, and *{name}* was started in another channel, "
    "so I can't open it here. Try again in a moment, or pick another name."
)
LIST_CHECK_FAILED = (
    "_Slack couldn't tell me which channels you're in, so this shows only this channel's interviews._"
)

HELP = (
    "*newspec* interviews your team into an app spec that a coding agent can build from.\n"
    "• `/newspec <name>` starts an interview in a new thread here; answer Claude in the thread "
    "(anyone in the channel can). When you're done it uploads `app_spec.txt` and "
    "`initializer_prompt.md`.\n"
    "• `/newspec list` shows the interviews in this channel and in channels you're in, and what each cost.\n"
    "• `/newspec usage` shows what your messages cost in Claude over the last 30 days (workspace admins "
    "see everyone's spend).\n"
    "• `/newspec budget` shows the spend budgets in force; workspace admins change one with "
    "`/newspec budget <interview|person|workspace|turns> <amount|off>`.\n"
    "• `/newspec help` shows this help.\n"
    f"Names are {NAME_RULES}; `list`, `help`, `usage`, `budget` and Windows device names (`con`, `nul`, "
    "`com1`…) are reserved, and names differing only in case are the same project."
)


async def member_channels(client: AsyncWebClient, user: str) -> frozenset[str] | None:
    """The conversations Slack says `user` is in (with a bot token: public channels,
    and private ones the bot shares with them); None when Slack can't say."""
    found: set[str] = set()
    cursor: str | None = None
    try:
        for _ in range(MEMBERSHIP_MAX_PAGES):
            response = await client.users_conversations(
                user=user, types=MEMBERSHIP_TYPES, exclude_archived=False, limit=MEMBERSHIP_PAGE, cursor=cursor
            )
            found.update(str(c["id"]) for c in response.get("channels") or [] if c.get("id"))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                break
        else:
            log.warning("users.conversations for %s: stopped after %d pages", user, MEMBERSHIP_MAX_PAGES)
    except (*SLACK_ERRORS, OSError) as exc:
        log.warning("users.conversations for %s failed: %s", user, slack_error(exc))
        return None
    return frozenset(found)


class Visibility:
    """Which channels' interviews one person may hear about: the channel they are
    in now, plus the channels Slack says they are a member of.

    `here` counts without asking when Slack vouches for it (`here_vouched`: a command
    typed there just now); a click may come from an old message, so then Slack is
    asked about `here` too. Slack is asked at most once, and only when a channel not
    vouched for comes up. If Slack can't say, only a vouched-for `here` counts (fail
    closed).
    """

    def __init__(self, client: AsyncWebClient, user: str, here: str, *, here_vouched: bool = True) -> None:
        self.client, self.user, self.here, self.here_vouched = client, user, here, here_vouched
        self._member_of: frozenset[str] | None = None
        self._asked = False

    async def can_see(self, channel: str) -> bool:
        if channel == self.here and self.here_vouched:
            return True
        if not self._asked:
            self._asked = True
            self._member_of = await member_channels(self.client, self.user)
        return self._member_of is not None and channel in self._member_of

    @property
    def failed(self) -> bool:
        """Slack was asked and could not tell."""
        return self._asked and self._member_of is None


@dataclass(frozen=True)
class Project:
    """What a project name refers to, for someone who asked from some channel."""

    name: str  # the project's own spelling (of its interviews, else of its folder)
    open_interview: InterviewRecord | None  # its interview that is not cancelled
    refusal: str | None  # set when the project lives in a channel the asker can't see


async def look_up(interviews: Interviews, visibility: Visibility, name: str) -> Project:
    """Find the project `name` means (case-insensitively) and whether the asker may touch it."""
    latest = await interviews.find_by_name(name, include_cancelled=True)
    current = latest
    if latest is not None and latest.status == Status.CANCELLED:
        current = await interviews.find_by_name(name)  # an older one may still be open
    if latest is not None:
        name = latest.name
    else:
        name = existing_spelling(interviews.settings.generations_dir, name)
    for record in {id(r): r for r in (latest, current) if r is not None}.values():
        if not await visibility.can_see(record.channel):
            return Project(name, None, (CHECK_FAILED if visibility.failed else NOT_YOURS).format(name=name))
    return Project(name, current, None)


def register(app: AsyncApp, interviews: Interviews) -> None:
    async def on_newspec(
        ack: AsyncAck, command: dict, client: AsyncWebClient, respond: AsyncRespond, context: AsyncBoltContext
    ) -> None:
        refusal = interviews.settings.refusal(command.get("user_id"), command.get("channel_id"))
        if refusal is not None:
            await ack(text=f":no_entry: {refusal}")
            return
        text = typed_text(str(command.get("text") or "")).strip()  # Slack sends `&`, `<`, `>` as entities
        if text.lower() == "help":
            await ack(text=HELP)
            return
        words = text.split()
        if words and words[0].lower() in spend.WORDS:
            await spend.handle(words, command, ack, client, respond, context, interviews)
            return
        if text.lower() == "list":
            await ack()
            visibility = Visibility(client, command["user_id"], command["channel_id"])
            records = [
                record for record in await interviews.list_interviews(command.get("team_id"))
                if await visibility.can_see(record.channel)
            ]
            listing = await render_list(client, records)
            await respond(f"{listing}\n{LIST_CHECK_FAILED}" if visibility.failed else listing)
            return
        try:
            name = check_name(text)
        except InvalidName as problem:
            await ack(text=f":warning: {escape(problem)}")  # ephemeral, and nothing else happens
            return
        if not interviews.start_limit.allow(command["user_id"]):
            await ack(text=START_LIMITED)
            return
        await ack()

        channel, user, team_id = command["channel_id"], command["user_id"], command.get("team_id")
        project = await look_up(interviews, Visibility(client, user, channel), name)
        if project.refusal is not None:
            await respond(f":no_entry: {project.refusal}")  # no link, nothing changed
            return
        name = project.name
        if project.open_interview is not None:
            link = await thread_link(client, project.open_interview)
            await respond(f"*{name}* already has an interview: {link}. Carry on in that thread.")
            return
        if has_spec(project_dir(interviews.settings.generations_dir, name)):
            await respond(
                text=f"*{name}* already has a finished spec from an earlier interview.",
                blocks=existing_spec_blocks(name),
            )
            return
        await open_interview(client, respond, interviews, name=name, channel=channel, user=user, team_id=team_id)

    app.command(COMMAND)(on_newspec)


async def render_list(client: AsyncWebClient, records: list[InterviewRecord]) -> str:
    """The interviews (already filtered to what the asker may see), newest activity first."""
    if not records:
        return "No interviews here or in your channels yet. Start one with `/newspec <name>`."
    lines = [f"*Interviews* ({len(records)}):"]
    for record in records[:LIST_LIMIT]:
        when = int(record.updated_at)
        lines.append(
            f"• *{escape(record.name)}* — {record.status.value} — {usd(record.cost_usd)} spent — "
            f"{await thread_link(client, record)} — last activity <!date^{when}^{{date_short_pretty}} {{time}}|{when}>"
        )
    if len(records) > LIST_LIMIT:
        lines.append(f"…and {len(records) - LIST_LIMIT} older ones.")
    return "\n".join(lines)
