"""Slack's native streams for one growing message: start, append, stop, and what to
do when Slack ends a stream itself (it expired, or its user stopped it).

Every stream call is made here, not through slack_sdk's `AsyncChatStream`: that
helper keeps its buffer until a call succeeds, so a call the scheduler retries
after a 429 would send the same words again. Each call here sends
`text[sent:]` as it is when the call runs, and `sent` moves only when Slack
confirmed it: a retried call sends exactly what Slack has not yet shown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..scheduler import Priority
from .errors import SLACK_ERRORS, slack_error
from .support import NO_STREAMING_ERRORS, Recipient
from .tasks import Activity

if TYPE_CHECKING:
    from .base import ThreadBase

log = logging.getLogger(__name__)

# The stream is over in Slack (expired, or stopped by its user): there is nothing to stop.
# An expired one stays a broken pill that most readers see only the first words of, until
# chat.update repairs it (slack_sdk issue #1859, PR #1880).
STREAM_ENDED_ERRORS = frozenset({"message_not_in_streaming_state", "stopped_by_user"})
# Slack's word when the user stopped a stream (reported by others, not documented):
# they want Claude to stop, as with our Stop button; the message stays as they left it.
STOPPED_BY_USER = "stopped_by_user"

FIRST_WORDS_WAIT = 1.0  # seconds an answer's first words may wait for a native stream
# Seconds a stream's stop may wait, behind the stop every open stream owes, were its
# answer to end now: with stops scarcer (Tier 2, shared by every thread), an answer is
# posted and updated instead, since until its stop only its recipient sees it whole.
STOPS_SCARCE_AFTER = 5.0
# Of a stream's lifetime, the part kept clear at its end: a stream is stopped (its text
# going on in a new one) before a write would land in it, so no call meets a stream
# Slack has ended.
STREAM_MARGIN = 0.2


class NativeStream:
    """The native-stream half of `GrowingMessage` (stream.py): the calls that start,
    append to and stop its stream, and the fall-back to post-and-update."""

    relay: ThreadBase
    recipient: Recipient
    on_user_stop: Callable[[], None] | None
    text: str
    tasks: Activity
    halted: bool
    finished: bool
    ts: str | None
    _native: bool
    _streaming: bool
    _sent: int
    _lock: asyncio.Lock
    _owes_stop: bool = False  # counted in `streaming.owing_stops`
    _renew_at: float = 0.0  # when this stream must be stopped, its text going on in a new one
    _renewal: asyncio.Task[None] | None = None  # stops an idle stream at `_renew_at`

    @property
    def unsent(self) -> bool:
        raise NotImplementedError

    async def _post_or_update(self) -> None:
        raise NotImplementedError

    def _stream_affordable(self) -> bool:
        """Whether a new stream's first words and its stop could both go out soon."""
        scheduler, streaming = self.relay.scheduler, self.relay.streaming
        return scheduler.estimated_wait("chat.startStream") <= FIRST_WORDS_WAIT and scheduler.estimated_wait(
            "chat.stopStream", ahead=streaming.owing_stops
        ) <= STOPS_SCARCE_AFTER

    def _owe_stop(self, owes: bool) -> None:
        if owes != self._owes_stop:
            self._owes_stop = owes
            self.relay.streaming.owing_stops += 1 if owes else -1

    async def _stop_native(self) -> None:
        """The last words (as an append: the larger Tier 4 budget), then the stop at once:
        until Slack has it, everyone but the stream's recipient sees only its first words,
        so whatever comes next in the thread (a question's buttons) waits for it."""
        if self.unsent:
            await self._append_native(priority=Priority.FIRST)
            if not self._native:  # its stream ran out of time, and no new one could start
                await self._post_or_update()
                return
        if self.ts is not None:
            await self._close_stream(self.ts, Priority.FIRST)

    async def _close_stream(self, ts: str, priority: Priority) -> None:
        """chat.stopStream with nothing more to add: retried as it is after a rate limit."""
        relay = self.relay
        if self.ts == ts:
            self._owe_stop(False)

        async def stop() -> None:
            await relay.scheduler.client.chat_stopStream(channel=relay.channel, ts=ts)
            if self.ts == ts:
                self._streaming = False

        await relay.scheduler.run(
            "chat.stopStream", stop, fair_key=relay.thread_ts, priority=priority
        )

    def _expiring(self) -> bool:
        """Whether a write queued now would land in the stream after `_renew_at`."""
        lands = time.monotonic() + self.relay.scheduler.estimated_wait("chat.appendStream")
        return self._streaming and lands >= self._renew_at

    async def _renew(self) -> None:
        """Stop the stream before Slack ends it (a broken pill for most readers): what it
        shows stays, the rest of the text goes on in a new stream below it."""
        if self.ts is None:
            return
        log.info("the stream %s in %s is near its lifetime: going on in a new one", self.ts, self.relay.thread_ts)
        await self._close_stream(self.ts, Priority.FIRST)
        self._continue_below()
        if not self._stream_affordable():
            self._native = False  # streams are scarce: the rest is posted and updated

    def _started(self, sent_at: float) -> None:
        """A stream of ours is open: it owes a stop, and is stopped before its lifetime is up
        (counted from when the start was sent, which is before Slack's clock starts)."""
        self._owe_stop(True)
        self._renew_at = sent_at + self.relay.streaming.lifetime * (1 - STREAM_MARGIN)
        if self._renewal is not None:
            self._renewal.cancel()
        self._renewal = asyncio.create_task(self._renew_when_due(self.ts))

    async def _renew_when_due(self, ts: str | None) -> None:
        """Stop a stream that is still open at `_renew_at` though nothing was written to it
        (Claude is busy with a tool): the next words start a new one."""
        await asyncio.sleep(max(0.0, self._renew_at - time.monotonic()))
        async with self._lock:
            if self.ts != ts or not self._streaming or self.finished:
                return
            try:
                await self._renew()
            except SLACK_ERRORS as exc:
                await self._fall_back(exc)
            except Exception:  # a task of its own: nobody else would hear of it
                log.exception("stopping the stream %s before its lifetime failed", ts)

    def _stop_renewal(self) -> None:
        if self._renewal is not None and asyncio.current_task() is not self._renewal:
            self._renewal.cancel()

    async def _append_native(self, priority: Priority | None = None) -> None:
        """Start the stream with, or append to it, all text Slack has not confirmed yet."""
        if self._expiring():
            await self._renew()
            if not self._native:
                return  # the caller posts the rest
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
                sent_at = time.monotonic()
                response = await client.chat_startStream(
                    channel=relay.channel,
                    thread_ts=relay.thread_ts,
                    recipient_team_id=self.recipient.team_id,
                    recipient_user_id=self.recipient.user_id,
                    chunks=chunks,
                )
                self.ts, self._streaming = str(response["ts"]), True
                self._started(sent_at)
            elif chunks:
                await client.chat_appendStream(channel=relay.channel, ts=self.ts, chunks=chunks)
            self._sent, self.tasks.sent = end, marks

        if priority is None:
            priority = Priority.FIRST if starting else Priority.REFRESH
        await relay.scheduler.run(
            "chat.startStream" if starting else "chat.appendStream", write,
            fair_key=relay.thread_ts, channel=relay.channel, priority=priority, coalesce_key=f"reply:{id(self)}",
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
            self._ended_without_stop()
        elif self._streaming:
            try:
                await self._close_stream(self.ts, Priority.FIRST)
            except SLACK_ERRORS as stop_exc:
                if slack_error(stop_exc) == STOPPED_BY_USER:
                    self._user_stopped()
                    return
                if slack_error(stop_exc) in STREAM_ENDED_ERRORS:
                    self._ended_without_stop()
                else:
                    # Still open, so it can't be edited: the text goes on below it, and
                    # the stop is tried once more in the background.
                    log.warning("could not stop the stream %s: %s", self.ts, slack_error(stop_exc))
                    relay.background(self._close_stream(self.ts, Priority.REFRESH))
        if self._streaming:
            self._continue_below()

    def _ended_without_stop(self) -> None:
        """Slack ended the stream (it outlived its lifetime): a broken pill most readers see
        only the first words of. The message's next write, an update, shows its whole text."""
        self._streaming, self._sent = False, 0
        self._owe_stop(False)

    def _user_stopped(self) -> None:
        """The person stopped the stream in Slack: what it shows stays, nothing more is
        written, and Claude is stopped as with the Stop button."""
        log.info("the stream %s was stopped by its user in %s", self.ts, self.relay.thread_ts)
        self.halted, self._streaming = True, False
        self._owe_stop(False)
        if self.on_user_stop is not None:
            self.on_user_stop()

    def _continue_below(self) -> None:
        """What Slack shows stays; the rest of the text goes in a new message."""
        self.tasks.shift(self._sent)
        self.text, self._sent, self.ts, self._streaming = self.text[self._sent :], 0, None, False
