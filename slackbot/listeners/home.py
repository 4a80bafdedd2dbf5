"""The App Home tab (published when a person opens it) and feedback clicks on a finished spec."""

from __future__ import annotations

import asyncio
import logging

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from ..interview.registry import Interviews
from ..slack.feedback import FEEDBACK_ACTION, THANKS, vote_of
from ..slack.home_view import LISTED, RESUME_ACTION, home_view
from ..slack.relay import SLACK_ERRORS
from ..store import InterviewRecord

log = logging.getLogger(__name__)

GONE = "I no longer keep that interview, so I didn't record your vote."


def register(app: AsyncApp, interviews: Interviews) -> None:
    store = interviews.store

    async def on_home_opened(event: dict, client: AsyncWebClient) -> None:
        if event.get("tab") != "home":  # the Messages tab: nothing to publish
            return
        user = str(event.get("user") or "")
        threads = await store.interviews_of(user)
        found = [await store.get_interview(channel, ts) for channel, ts in threads[:LISTED]]
        records = [record for record in found if record is not None]
        links = dict(zip(
            ((r.channel, r.thread_ts) for r in records),
            await asyncio.gather(*(_permalink(client, r) for r in records)), strict=True,
        ))
        view = home_view(records, {key: link for key, link in links.items() if link}, max(0, len(threads) - LISTED))
        try:
            # Bolt's client, not the scheduler: views.publish adds nothing to a channel,
            # and its rate limit (Tier 4) is per person.
            await client.views_publish(user_id=user, view=view)
        except SLACK_ERRORS:
            log.warning("could not publish the Home tab of %s", user, exc_info=True)

    async def on_resume(ack: AsyncAck) -> None:
        await ack()  # a link button: Slack opens the thread itself

    async def on_feedback(ack: AsyncAck, body: dict, respond: AsyncRespond) -> None:
        await ack()
        action = body["actions"][0]
        positive = vote_of(action.get("value"))
        channel = str((body.get("channel") or {}).get("id") or "")
        message = body.get("message") or {}
        thread_ts = str(message.get("thread_ts") or (body.get("container") or {}).get("thread_ts") or "")
        user = str((body.get("user") or {}).get("id") or "")
        if positive is None or not channel or not thread_ts:
            log.warning("a feedback click without a vote or a thread: %s", action.get("value"))
            return
        stored = await store.record_vote(channel, thread_ts, user, positive)
        log.info("%s voted %s on the spec of %s/%s", user, action.get("value"), channel, thread_ts)
        text = THANKS[str(action["value"])] if stored else GONE
        try:
            await respond(text, response_type="ephemeral", replace_original=False)
        except SLACK_ERRORS:
            log.warning("could not thank %s for their vote", user, exc_info=True)

    app.event("app_home_opened")(on_home_opened)
    app.action(RESUME_ACTION)(on_resume)
    app.action(FEEDBACK_ACTION)(on_feedback)


async def _permalink(client: AsyncWebClient, record: InterviewRecord) -> str | None:
    try:
        response = await client.chat_getPermalink(channel=record.channel, message_ts=record.thread_ts)
    except SLACK_ERRORS:
        log.warning("no link to the thread of %s", record.name, exc_info=True)
        return None
    return str(response.get("permalink") or "") or None
