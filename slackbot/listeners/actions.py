"""Button clicks: continue or start over an existing spec, stop an answer, cancel an interview."""

from __future__ import annotations

import json
import logging
import re

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from ..interview.conversation import Conversation
from ..interview.registry import Interviews
from ..interview.wording import continue_message
from ..markup import escape
from ..slack.blocks import (
    ANSWER_ACTION_PREFIX,
    CANCEL_ACTION,
    CONTINUE_ACTION,
    OTHER_ACTION,
    PICK_ACTION,
    START_OVER_ACTION,
    STOP_ACTION,
    SUBMIT_ACTION,
)
from ..slack.people import DisplayNames
from ..slack.relay import recipient_team
from ..spec.files import InvalidName, back_up_spec, check_name, has_spec, project_dir, spec_paths
from .commands import Visibility, look_up
from .starting import open_interview, thread_link
from .views import open_other

log = logging.getLogger(__name__)

CLICKER_GONE = "You're not in this channel any more, so this button does nothing for you."
CLICK_CHECK_FAILED = "Slack couldn't tell me whether you're in this channel, so I did nothing. Try again in a moment."


def register(app: AsyncApp, interviews: Interviews, names: DisplayNames) -> None:
    async def refused(body: dict, respond: AsyncRespond) -> bool:
        user = (body.get("user") or {}).get("id")
        channel = (body.get("channel") or {}).get("id")
        refusal = interviews.settings.refusal(user, channel)
        if refusal is not None:
            await respond(f":no_entry: {refusal}", response_type="ephemeral", replace_original=False)
        return refusal is not None

    async def on_choice(ack: AsyncAck, body: dict, client: AsyncWebClient, respond: AsyncRespond) -> None:
        await ack()
        if await refused(body, respond):
            return
        action = body["actions"][0]
        user = body["user"]["id"]
        team_id = (body.get("team") or {}).get("id")
        # The button's value is carried by the clicker's client: only the project name is
        # read from it, and that name is checked as if typed. The channel is where the
        # click happened, never the value's.
        channel = str((body.get("channel") or {}).get("id") or "")
        try:
            name = check_name(str(json.loads(action.get("value") or "{}").get("name", "")))
        except (ValueError, AttributeError, InvalidName):
            await respond("That button is out of date. Run `/newspec <name>` again.", replace_original=True)
            return

        # The offer may be old: the clicker may have left this channel since, and someone
        # else may have acted on the project meanwhile, perhaps in a channel this person
        # can't see (then nothing of it is shown or touched).
        visibility = Visibility(client, user, channel, here_vouched=False)
        if not await visibility.can_see(channel):
            await respond(f":no_entry: {CLICKER_GONE if not visibility.failed else CLICK_CHECK_FAILED}",
                          replace_original=True)
            return
        project = await look_up(interviews, visibility, name)
        if project.refusal is not None:
            await respond(f":no_entry: {project.refusal}", replace_original=True)
            return
        name = project.name
        if project.open_interview is not None:
            link = await thread_link(client, project.open_interview)
            await respond(f"*{name}* already has an interview: {link}.", replace_original=True)
            return
        folder = project_dir(interviews.settings.generations_dir, name)
        if action["action_id"] == CONTINUE_ACTION:
            if not has_spec(folder):
                await respond(f"*{name}* has no spec any more. Run `/newspec {name}` to start.", replace_original=True)
                return
            await respond(f"Continuing *{name}* in a new thread.", replace_original=True)
            await open_interview(
                client, respond, interviews, name=name, channel=channel, user=user, team_id=team_id,
                opening=continue_message(name, f"<@{user}>", spec_paths(folder)),
            )
        else:
            note = f"Starting *{name}* over in a new thread."
            await interviews.forget_conversations(name)
            if has_spec(folder):
                backup = back_up_spec(folder)
                log.info("moved the old spec of %s to %s", name, backup)
                note += f" The old spec is kept in `{escape(backup)}`."
            await respond(note, replace_original=True)
            await open_interview(client, respond, interviews, name=name, channel=channel, user=user, team_id=team_id)

    async def thread_of(body: dict, thread_ts: str) -> tuple[Conversation | None, str | None]:
        """The conversation a thread button belongs to, if this person may act in it
        (the same check as for typed replies); else None and what to tell them."""
        user = (body.get("user") or {}).get("id")
        channel = (body.get("channel") or {}).get("id")
        conversation = await interviews.find(str(channel), thread_ts) if channel and thread_ts else None
        refusal = interviews.refusal(conversation, user, channel)
        if refusal is not None:
            return None, f":no_entry: {refusal}"
        if conversation is None:
            return None, "This interview is no longer here."
        return conversation, None

    async def in_thread(body: dict, thread_ts: str, respond: AsyncRespond) -> Conversation | None:
        """`thread_of`, telling the person privately why not."""
        conversation, note = await thread_of(body, thread_ts)
        if note is not None:
            await respond(note, response_type="ephemeral", replace_original=False)
        return conversation

    async def on_stop(ack: AsyncAck, body: dict, respond: AsyncRespond) -> None:
        await ack()
        # The thread the Stop was clicked in (the button sits in an answer there), never its value's;
        # the value names the turn it was shown for (none: a button older than that).
        message = body.get("message") or {}
        conversation = await in_thread(body, str(message.get("thread_ts") or ""), respond)
        turn = str(((body.get("actions") or [{}])[0] or {}).get("value") or "")
        if conversation is not None and not await interviews.stop(conversation, turn):
            await respond("That answer has already finished.", response_type="ephemeral", replace_original=False)

    async def on_cancel(ack: AsyncAck, body: dict, respond: AsyncRespond) -> None:
        await ack()
        root_ts, user = str((body.get("message") or {}).get("ts") or ""), body["user"]["id"]
        conversation = await in_thread(body, root_ts, respond)
        if conversation is None:
            return
        record = await interviews.cancel(conversation)
        if record is None:
            await respond("This interview has already ended.", response_type="ephemeral", replace_original=False)
            return
        # The root says it is cancelled (its Cancel button gone) on its own: see standing.py.
        folder = escape(project_dir(interviews.settings.generations_dir, record.name))
        await interviews.scheduler.post(
            channel=record.channel, thread_ts=root_ts,
            text=f"<@{user}> cancelled this interview. Files are kept in `{folder}`. "
            f"Start a new one with `/newspec {record.name}`.",
        )

    async def on_answer(ack: AsyncAck, body: dict, respond: AsyncRespond, context: AsyncBoltContext) -> None:
        # Acknowledged only once the click is stored: Slack never sends an acked click again.
        async def tell(note: str) -> None:
            await ack()
            await respond(note, response_type="ephemeral", replace_original=False)

        action, message = body["actions"][0], body.get("message") or {}
        conversation, note = await thread_of(body, str(message.get("thread_ts") or message.get("ts") or ""))
        if conversation is None:
            await tell(note or "This interview is no longer here.")
            return
        try:
            ref = json.loads(action.get("value") or "{}")
            question_id, index = str(ref["q"]), int(ref["i"])
            if action["action_id"] == SUBMIT_ACTION:
                form = body.get("state", {}).get("values", {}).get(f"pick:{question_id}:{index}", {})
                picks = form.get(PICK_ACTION) or {}  # checkboxes: selected_options; radio buttons: selected_option
                ticked = picks.get("selected_options") or [o for o in [picks.get("selected_option")] if o]
                picked = [int(option["value"]) for option in ticked]
            else:
                picked = [int(ref["o"])]
        except (ValueError, KeyError, TypeError):
            await tell("That button is out of date.")
            return
        if not picked:
            await tell("Pick an option, then Submit.")
            return
        clicker = body.get("user") or {}
        user = clicker["id"]
        # No Slack call before the ack: the name if known, else looked up once it is.
        known = names.known(user)
        team = recipient_team(clicker.get("team_id"), context.team_id, context.enterprise_id)
        click = await interviews.take_click(conversation, question_id, index, picked, user, known, team)
        if click is None:
            await tell("That question has already been answered or withdrawn, so this choice changes nothing.")
            return
        await ack()
        await interviews.finish_click(conversation, click, None if known else await names.get(user))

    async def on_other(ack: AsyncAck, body: dict, client: AsyncWebClient, respond: AsyncRespond) -> None:
        await ack()
        message = body.get("message") or {}
        conversation = await in_thread(body, str(message.get("thread_ts") or message.get("ts") or ""), respond)
        if conversation is None:
            return
        try:
            ref = json.loads(body["actions"][0].get("value") or "{}")
            question_id, index = str(ref["q"]), int(ref["i"])
        except (ValueError, KeyError, TypeError):
            await respond("That button is out of date.", response_type="ephemeral", replace_original=False)
            return
        # Their next reply answers this part alone, not every part still open; the modal
        # takes it first, and if it can't open (a trigger too old), the thread does.
        if await interviews.choose_other(conversation, question_id, index, body["user"]["id"]):
            if not await open_other(client, interviews, body, conversation, question_id, index):
                await respond("Type your answer as a reply in this thread.", response_type="ephemeral",
                              replace_original=False)
        else:
            await respond("That question has already been answered or withdrawn.", response_type="ephemeral",
                          replace_original=False)

    async def on_pick(ack: AsyncAck) -> None:
        await ack()  # ticking a box only changes the form; Submit sends it

    app.action(re.compile(f"^{ANSWER_ACTION_PREFIX}\\d+$"))(on_answer)
    app.action(SUBMIT_ACTION)(on_answer)
    app.action(OTHER_ACTION)(on_other)
    app.action(PICK_ACTION)(on_pick)

    async def on_unknown(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        await respond("That button no longer does anything here.", response_type="ephemeral",
                      replace_original=False)

    app.action(CONTINUE_ACTION)(on_choice)
    app.action(START_OVER_ACTION)(on_choice)
    app.action(STOP_ACTION)(on_stop)
    app.action(CANCEL_ACTION)(on_cancel)
    # Last, so it only catches clicks no listener above knows (Bolt runs the first match).
    app.action(re.compile(".*"))(on_unknown)
