"""Thread replies: relay a person's message in an interview thread to its session."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from ..attachments import fetch_attachments, origin
from ..events import Attachment
from ..interviews import Accepted, Interviews, Reply
from ..people import DisplayNames

# Subtypes that are still a person talking; edits, deletes, joins etc. are not.
RELAYED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})
STOP_WORDS = frozenset({"stop"})
MAX_REPLY_CHARS = 20_000  # plenty for an answer; beyond is a paste gone wrong


def register(app: AsyncApp, interviews: Interviews, names: DisplayNames) -> None:
    # A catch-all, so every message event (including subtypes we ignore) is
    # acked quietly instead of Bolt warning about unhandled events.
    async def on_message(event: dict, body: dict, context: AsyncBoltContext, client: AsyncWebClient) -> None:
        thread_ts = event.get("thread_ts")
        user = event.get("user")
        if (
            not thread_ts
            or thread_ts == event.get("ts")
            or event.get("subtype") not in RELAYED_SUBTYPES
            or event.get("bot_id")
            or not user
            or user == context.bot_user_id
        ):
            return
        channel, text, ts = event.get("channel"), event.get("text") or "", event.get("ts")
        if not isinstance(channel, str) or not isinstance(ts, str) or not isinstance(text, str):
            return  # not a message we can place
        interview = await interviews.find(channel, str(thread_ts))
        if interview is None:
            return  # a thread that is not an interview
        refusal = interviews.settings.refusal(user, channel)
        if refusal is not None:
            await interviews.scheduler.ephemeral(
                channel=channel, user=user, thread_ts=thread_ts, text=f":no_entry: {refusal}"
            )
            return
        if not text.strip() and not event.get("files"):
            return  # nothing to pass on
        if len(text) > MAX_REPLY_CHARS:
            await interviews.scheduler.post(
                channel=channel, thread_ts=thread_ts,
                text=f"That message is very long; I passed on its first {MAX_REPLY_CHARS:,} characters.",
            )
            text = text[:MAX_REPLY_CHARS]

        if text.strip().lower() in STOP_WORDS:
            if not await interviews.stop(channel, thread_ts):
                await interviews.scheduler.ephemeral(
                    channel=channel, user=user, thread_ts=thread_ts,
                    text="Claude isn't answering right now, so there is nothing to stop.",
                )
            return

        if not interviews.message_limit.allow(user):
            if interviews.message_limit.should_tell(user):
                await interviews.scheduler.ephemeral(
                    channel=channel, user=user, thread_ts=thread_ts,
                    text=":raised_hand: You're sending messages faster than I can pass them on, so I "
                    "skipped the last one. Wait a minute, then send it again.",
                )
            return

        attachments: list[Attachment] = []
        if event.get("files"):
            attachments, notes = await fetch_attachments(
                event["files"], client.token or "", api_origin=origin(interviews.settings.slack_api_url)
            )
            if notes:
                await interviews.scheduler.post(
                    channel=channel, thread_ts=thread_ts,
                    text="I couldn't pass on every file:\n" + "\n".join(f"• {n}" for n in notes),
                )
                # Claude hears about them too, so it doesn't assume it saw them.
                text = "\n".join([text, *(f"(A file was not passed on: {n})" for n in notes)]).strip()
        outcome = await interviews.accept(
            Reply(
                channel=channel, thread_ts=thread_ts, user_id=user, text=text, ts=ts,
                event_id=body.get("event_id"), author=await names.get(user), attachments=tuple(attachments),
            )
        )
        if outcome is Accepted.CANCELLED:
            await interviews.scheduler.post(
                channel=channel, thread_ts=thread_ts,
                text=f"This interview was cancelled, so I'm not passing that on. Start again with "
                f"`/newspec {interview.record.name}` (the project's files are kept).",
            )
        elif outcome is Accepted.NOT_OWNER:
            await interviews.scheduler.ephemeral(
                channel=channel, user=user, thread_ts=thread_ts,
                text=f"Only <@{interview.record.started_by}>, who started this interview, can answer "
                "here (this bot is set to owner-only). Your message was not passed on.",
            )

    app.event("message")(on_message)
