"""Questions on a phone: "Other…" as a modal (its submission is the answer), the whole
question one tap away, and which open question a typed message answers."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from ..events import QuestionItem
from ..interview.conversation import Conversation
from ..interview.questions import question_from_dict
from ..interview.registry import Interviews
from ..slack.blocks import (
    FULL_QUESTION_ACTION,
    OTHER_BLOCK,
    OTHER_INPUT,
    OTHER_VIEW,
    WHICH_ACTION_PREFIX,
    full_question_view,
    other_view,
    update_text,
)
from ..slack.people import DisplayNames
from ..slack.relay import recipient_team
from ..slack.relay.errors import SLACK_ERRORS, slack_error

log = logging.getLogger(__name__)

GONE = "That question has already been answered or withdrawn."


async def _item(
    interviews: Interviews, conversation: Conversation, question_id: str, index: int,
) -> QuestionItem | None:
    """Part `index` of a question of this thread (a button's value names it: checked)."""
    stored = await interviews.store.get_question(question_id)
    if stored is None or (stored.channel, stored.thread_ts) != conversation.key:
        return None
    items = question_from_dict(stored.payload).items
    return items[index] if 0 <= index < len(items) else None


async def _open(client: AsyncWebClient, body: dict, view: dict[str, Any]) -> bool:
    """Open a modal with the click's trigger; False if Slack refused (a trigger is good
    for three seconds, once: a slow ack path spends it)."""
    try:
        await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
        return True
    except SLACK_ERRORS as exc:
        log.warning("could not open a modal (%s): %s", view.get("callback_id"), slack_error(exc))
        return False


async def open_other(
    client: AsyncWebClient, interviews: Interviews, body: dict, conversation: Conversation, question_id: str,
    index: int,
) -> bool:
    """The "Other…" modal for part `index`; False if it could not open (then the person
    types their answer in the thread, as before)."""
    item = await _item(interviews, conversation, question_id, index)
    if item is None:
        return False
    metadata = json.dumps({"q": question_id, "i": index, "c": conversation.key[0], "t": conversation.key[1]})
    return await _open(client, body, other_view(item, metadata))


def register(app: AsyncApp, interviews: Interviews, names: DisplayNames) -> None:
    """Before `actions.register`: its last listener takes every click nobody else did."""

    async def thread(body: dict, channel: str, thread_ts: str) -> tuple[Conversation | None, str | None]:
        user = (body.get("user") or {}).get("id")
        conversation = await interviews.find(channel, thread_ts) if channel and thread_ts else None
        refusal = interviews.refusal(conversation, user, channel)
        if refusal is not None:
            return None, f":no_entry: {refusal}"
        return conversation, None if conversation is not None else "This interview is no longer here."

    async def on_other_answer(ack: AsyncAck, body: dict, view: dict, context: AsyncBoltContext) -> None:
        # Acknowledged once the answer is stored; a refusal shows in the modal, under the box.
        async def refuse(note: str) -> None:
            await ack(response_action="errors", errors={OTHER_BLOCK: update_text(note)[:150]})

        try:
            ref = json.loads(view.get("private_metadata") or "{}")
            question_id, index, channel, thread_ts = str(ref["q"]), int(ref["i"]), str(ref["c"]), str(ref["t"])
        except (ValueError, KeyError, TypeError):
            await refuse("This form is out of date.")
            return
        words = str(((view.get("state") or {}).get("values") or {}).get(OTHER_BLOCK, {}).get(OTHER_INPUT, {})
                    .get("value") or "")
        conversation, note = await thread(body, channel, thread_ts)
        if conversation is None:
            await refuse(note or "This interview is no longer here.")
            return
        if not words.strip():
            await refuse("Type your answer, or close this.")
            return
        clicker = body.get("user") or {}
        user, known = clicker["id"], names.known(clicker["id"])
        team = recipient_team(clicker.get("team_id"), context.team_id, context.enterprise_id)
        click = await interviews.questions.take_written(conversation, question_id, index, words, user, known, team)
        if click is None:
            await refuse(GONE)
            return
        await ack()
        await interviews.finish_click(conversation, click, None if known else await names.get(user))

    async def on_full(ack: AsyncAck, body: dict, client: AsyncWebClient, respond: AsyncRespond) -> None:
        await ack()
        message = body.get("message") or {}
        channel = str((body.get("channel") or {}).get("id") or "")
        conversation, note = await thread(body, channel, str(message.get("thread_ts") or message.get("ts") or ""))
        try:
            ref = json.loads(body["actions"][0].get("value") or "{}")
            item = await _item(interviews, conversation, str(ref["q"]), int(ref["i"])) if conversation else None
        except (ValueError, KeyError, TypeError):
            item = None
        if item is None:
            await respond(note or "That button is out of date.", response_type="ephemeral", replace_original=False)
        elif not await _open(client, body, full_question_view(item)):
            await respond(update_text(item.question), response_type="ephemeral", replace_original=False)

    async def on_which(ack: AsyncAck, body: dict, respond: AsyncRespond) -> None:
        await ack()
        channel = str((body.get("channel") or {}).get("id") or "")
        try:
            ref = json.loads(body["actions"][0].get("value") or "{}")
            question_id, index, reply_id, thread_ts = str(ref["q"]), int(ref["i"]), int(ref["r"]), str(ref["t"])
        except (ValueError, KeyError, TypeError):
            await respond("That button is out of date.", response_type="ephemeral", replace_original=False)
            return
        # The thread and the reply are checked: only the reply's author, in its own thread.
        conversation, note = await thread(body, channel, thread_ts)
        user = str((body.get("user") or {}).get("id") or "")
        if conversation is None or not await interviews.questions.answer_chosen(
            conversation, question_id, index, reply_id, user,
        ):
            await respond(note or GONE, response_type="ephemeral", replace_original=True)
            return
        await respond("Thanks, I passed your message on as that answer.", replace_original=True)

    app.view(OTHER_VIEW)(on_other_answer)
    app.action(FULL_QUESTION_ACTION)(on_full)
    app.action(re.compile(f"^{WHICH_ACTION_PREFIX}\\d+$"))(on_which)
