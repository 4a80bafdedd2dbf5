"""Slack's native streams for one growing message: start, append, stop, and what to
do when Slack ends a stream itself (it expired, or its user stopped it).

Every stream call is made here, not through slack_sdk's `AsyncChatStream`: that
helper keeps its buffer until a call succeeds, so a call the scheduler retries
after a 429 would send the same words again. Each call here sends
`text[sent:]` as it is when the call runs, and `sent` moves only when Slack
confirmed it: a retried call sends exactly what Slack has not yet shown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..scheduler import Priority
from .errors import SLACK_ERRORS, slack_error
from .support import NO_STREAMING_ERRORS, Recipient
from .tasks import Activity

if TYPE_CHECKING:
    from .thread import ThreadRelay

log = logging.getLogger(__name__)

# The stream is over in Slack (expired, or stopped by its user): there is nothing to stop.
STREAM_ENDED_ERRORS = frozenset({"message_not_in_streaming_state", "stopped_by_user"})
# Slack's word when the user stopped a stream (reported by others, not documented):
# they want Claude to stop, as with our Stop button; the message stays as they left it.
STOPPED_BY_USER = "stopped_by_user"


class NativeStream:
    """The native-stream half of `GrowingMessage` (stream.py): the calls that start,
    append to and stop its stream, and the fall-back to post-and-update."""

    relay: ThreadRelay
    recipient: Recipient
    on_user_stop: Callable[[], None] | None
    text: str
    tasks: Activity
    halted: bool
    ts: str | None
    _native: bool
    _streaming: bool
    _sent: int

    @property
    def unsent(self) -> bool:
        raise NotImplementedError

    async def _stop_native(self) -> None:
        # The last words go out as an append (the larger Tier 4 budget); the stop (Tier 2)
        # only closes the stream: in the background, never holding up the next turn.
        if self.unsent:
            await self._append_native(priority=Priority.FIRST)
        if self.ts is not None:
            self.relay.background(self._close_stream(self.ts, Priority.REFRESH))

    async def _close_stream(self, ts: str, priority: Priority) -> None:
        """chat.stopStream with nothing more to add: retried as it is after a rate limit."""
        relay = self.relay

        async def stop() -> None:
            await relay.scheduler.client.chat_stopStream(channel=relay.channel, ts=ts)
            if self.ts == ts:
                self._streaming = False

        await relay.scheduler.run(
            "chat.stopStream", stop, fair_key=relay.thread_ts, priority=priority
        )

    async def _append_native(self, priority: Priority | None = None) -> None:
        """Start the stream with, or append to it, all text Slack has not confirmed yet."""
        relay = self.relay
        client = relay.scheduler.client
        starting = self.ts is None

        async def write() -> None:
            # Runs when the scheduler releases it (again, after a rate limit): it
            # sends what is unconfirmed by then, and counts it sent once Slack says so.
            # Always as chunks: a stream keeps the kind of content it started with,
            # and task cards may come later.
            end, marks = len(self.text), len(self.tasks.marks)
            chunks = self.tasks.chunks(self.text, self._sent, end, marks)
            if self.ts is None:
                response = await client.chat_startStream(
                    channel=relay.channel,
                    thread_ts=relay.thread_ts,
                    recipient_team_id=self.recipient.team_id,
                    recipient_user_id=self.recipient.user_id,
                    chunks=chunks,
                )
                self.ts, self._streaming = str(response["ts"]), True
            elif chunks:
                await client.chat_appendStream(channel=relay.channel, ts=self.ts, chunks=chunks)
            self._sent, self.tasks.sent = end, marks

        if priority is None:
            priority = Priority.FIRST if starting else Priority.REFRESH
        await relay.scheduler.run(
            "chat.startStream" if starting else "chat.appendStream", write,
            fair_key=relay.thread_ts, priority=priority, coalesce_key=f"reply:{id(self)}",
        )

    async def _fall_back(self, exc: Exception) -> None:
        """A stream call failed: this message goes on with post-and-update. A stream
        still open is stopped first (Slack refuses to edit one); one the user stopped
        is left as they left it, the rest of the answer going below it."""
        error = slack_error(exc)
        relay = self.relay
        log.warning(
            "native streaming failed in %s/%s (%s); falling back to chat.update", relay.channel, relay.thread_ts, error
        )
        self._native = False
        if self.ts is None:
            if error in NO_STREAMING_ERRORS:
                relay.streaming.refused(error)
            return  # nothing shown yet: the next write posts
        if error == STOPPED_BY_USER:
            self._user_stopped()
            return
        if error in STREAM_ENDED_ERRORS:
            self._streaming = False
        elif self._streaming:
            try:
                await self._close_stream(self.ts, Priority.FIRST)
            except SLACK_ERRORS as stop_exc:
                if slack_error(stop_exc) == STOPPED_BY_USER:
                    self._user_stopped()
                    return
                if slack_error(stop_exc) in STREAM_ENDED_ERRORS:
                    self._streaming = False
                else:
                    # Still open, so it can't be edited: the text goes on below it, and
                    # the stop is tried once more in the background.
                    log.warning("could not stop the stream %s: %s", self.ts, slack_error(stop_exc))
                    relay.background(self._close_stream(self.ts, Priority.REFRESH))
        if self._streaming:
            self._continue_below()

    def _user_stopped(self) -> None:
        """The person stopped the stream in Slack: what it shows stays, nothing more is
        written, and Claude is stopped as with the Stop button."""
        log.info("the stream %s was stopped by its user in %s", self.ts, self.relay.thread_ts)
        self.halted, self._streaming = True, False
        if self.on_user_stop is not None:
            self.on_user_stop()

    def _continue_below(self) -> None:
        """What Slack shows stays; the rest of the text goes in a new message."""
        self.tasks.shift(self._sent)
        self.text, self._sent, self.ts, self._streaming = self.text[self._sent :], 0, None, False
