"""Thread replies: relay a person's message in an interview thread to its session."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from ..interviews import Interviews, Reply

# Subtypes that are still a person talking; edits, deletes, joins etc. are not.
RELAYED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})


def register(app: AsyncApp, interviews: Interviews) -> None:
    # A catch-all, so every message event (including subtypes we ignore) is
    # acked quietly instead of Bolt warning about unhandled events.
    async def on_message(event: dict, body: dict, context: AsyncBoltContext) -> None:
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
        await interviews.accept(
            Reply(
                channel=event["channel"],
                thread_ts=thread_ts,
                user_id=user,
                text=event.get("text", ""),
                ts=event["ts"],
                event_id=body.get("event_id"),
            )
        )

    app.event("message")(on_message)
