"""Thread replies: relay a person's message in an interview thread to its session."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from ..attachments import fetch_attachments, origin
from ..conversation import Conversation
from ..events import Attachment
from ..people import DisplayNames
from ..questions import Accepted
from ..registry import Interviews, Reply
from ..store import PendingReply

# Subtypes that are still a person talking; edits, deletes, joins etc. are not.
RELAYED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})
STOP_WORDS = frozenset({"stop"})
MAX_REPLY_CHARS = 20_000  # plenty for an answer; beyond is a paste gone wrong


def register(app: AsyncApp, interviews: Interviews, names: DisplayNames) -> None:
    # A catch-all, so every message event (including subtypes we ignore) is
    # acked quietly instead of Bolt warning about unhandled events.
    async def on_message(event: dict, body: dict, context: AsyncBoltContext, client: AsyncWebClient) -> None:
        thread_ts, user = event.get("thread_ts"), event.get("user")
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
        conversation = await interviews.find(channel, str(thread_ts))
        if conversation is None:
            return  # a thread that is not an interview
        thread_ts = str(thread_ts)

        async def tell(note: str) -> None:
            await interviews.scheduler.ephemeral(channel=channel, user=user, thread_ts=thread_ts, text=note)

        refusal = interviews.refusal(conversation, user, channel)
        if refusal is not None:
            await tell(f":no_entry: {refusal}")
            return
        files = [f for f in event.get("files") or [] if isinstance(f, dict)]
        if not text.strip() and not files:
            return  # nothing to pass on
        if text.strip().lower() in STOP_WORDS:
            if not await interviews.stop(conversation):
                await tell("Claude isn't answering right now, so there is nothing to stop.")
            return
        if not interviews.message_limit.allow(user):
            if interviews.message_limit.should_tell(user):
                await tell(
                    ":raised_hand: You're sending messages faster than I can pass them on, so I "
                    "skipped the last one. Wait a minute, then send it again."
                )
            return

        team = event.get("user_team") or event.get("team")
        reply = Reply(channel, thread_ts, user, text[:MAX_REPLY_CHARS], ts, body.get("event_id"),
                      team if isinstance(team, str) else None)
        # Stored first, so its place in the thread is kept while its author's name and
        # its files are fetched; then it answers the question Claude waits on, if it was
        # written after the question showed, or waits for the next turn.
        held = await interviews.hold(conversation, reply)
        if isinstance(held, Accepted):
            outcome = held
        else:
            outcome = Accepted.QUEUED
            await enrich(interviews, names, client, conversation, held, files)
        if outcome is Accepted.CANCELLED:
            await tell(
                "This interview was cancelled, so I'm not passing that on. Start again with "
                f"`/newspec {conversation.record.name}` (the project's files are kept)."
            )
        elif outcome is Accepted.QUEUED and len(text) > MAX_REPLY_CHARS:
            await tell(f"That message is very long; I passed on its first {MAX_REPLY_CHARS:,} characters.")

    app.event("message")(on_message)


async def enrich(
    interviews: Interviews, names: DisplayNames, client: AsyncWebClient, conversation: Conversation,
    held: PendingReply, files: list[dict],
) -> None:
    """Fetch what the held reply needs (its author's name, its files), then release it
    to Claude. It is released whatever happens here, so it can never block the thread."""
    author = None
    attachments: list[Attachment] = []
    notes: list[str] = []
    try:
        author = await names.get(held.user_id)
        if files:
            attachments, notes = await fetch_attachments(
                files, client.token or "", api_origin=origin(interviews.settings.slack_api_url)
            )
    finally:
        await interviews.complete(conversation, held, author, attachments, notes)
