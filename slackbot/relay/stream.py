"""One Slack message that grows as Claude writes.

Claude's text is streamed with Slack's native streaming (`chat_stream`) while
it works, and with post-then-`chat.update` (at most one update per message per
`min_interval`) when it does not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..blocks import markdown_blocks
from ..scheduler import Priority
from .errors import SLACK_ERRORS, slack_error

if TYPE_CHECKING:
    from .thread import ThreadRelay

log = logging.getLogger(__name__)

# Slack renders up to 12,000 chars of markdown per message, but long messages
# read badly in a thread; keep each one under Slack's ~4,000 readability mark.
MESSAGE_LIMIT = 3_900
FIRST_WORDS_WAIT = 1.0  # seconds an answer's first words may wait for a native stream
FENCE = "```"


def split_point(text: str, start: int, limit: int) -> int:
    """Where to cut `text` (already longer than `limit`) so the head fits a message.

    The cut never falls before `start` (text up to there is already visible and
    can't be taken back). It prefers a paragraph break, then a line break, then
    a space; with none in reach it cuts at `start` when something is already
    visible (so the next message starts cleanly), else hard at `limit`.
    """
    window = text[:limit]
    for sep in ("\n\n", "\n", " "):
        at = window.rfind(sep, start)
        if at > start:
            return at + len(sep)
    return start if start > 0 else limit


@dataclass
class StreamingSupport:
    """Whether native streaming works in this workspace, learnt once for all threads."""

    native: bool = True


class GrowingMessage:
    """One Slack message that grows as Claude writes, throttled to one write per interval."""

    def __init__(self, relay: ThreadRelay, recipient_user_id: str | None) -> None:
        self.relay = relay
        self.recipient_user_id = recipient_user_id
        self.text = ""
        self.ts: str | None = None
        self._native = relay.streaming.native
        self._stream = None
        self._sent = 0  # chars of self.text already visible in Slack
        self._last_write = 0.0
        self._flusher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one write at a time for this message

    async def add(self, text: str) -> None:
        """Take more text; it reaches Slack from a background flusher, so a slow or
        rate-limited Slack never holds up reading Claude's answer."""
        self.text += text
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop())
            self._flusher.add_done_callback(_log_unexpected)

    async def _flush_loop(self) -> None:
        try:
            while self._sent < len(self.text):
                await self._pace()
                async with self._lock:
                    if self._sent < len(self.text):
                        await self._write()
        except SLACK_ERRORS as exc:  # finish() retries whatever is still unsent
            log.warning("update failed in %s: %s", self.relay.thread_ts, slack_error(exc))

    async def finish(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            if self._lock.locked():
                await asyncio.gather(self._flusher, return_exceptions=True)  # let a write land
            else:
                self._flusher.cancel()  # only sleeping: the final write below covers it
                await asyncio.gather(self._flusher, return_exceptions=True)
        async with self._lock:
            if self._sent < len(self.text):
                await self._pace()  # the last words too: at most one write per interval
            if self._native and self._stream is None and self.text:
                await self._write()  # starts a stream, or posts when streams are scarce
            if self._native and self._stream is not None:
                try:
                    await self._stop_native(self._stream)
                    return
                except SLACK_ERRORS as exc:
                    self._fall_back(exc)
            if self._sent < len(self.text):
                await self._post_or_update()

    async def _stop_native(self, stream: Any) -> None:
        # The last words go out as an append (the larger Tier 4 budget); the stop
        # itself (Tier 2) only closes the stream, so it runs in the background and
        # never holds up the thread's next turn.
        if self._sent < len(self.text):
            await self._append_native(priority=Priority.FIRST)

        async def stop() -> None:
            await stream.stop()

        self.relay.background(
            self.relay.scheduler.run("chat.stopStream", stop, fair_key=self.relay.thread_ts,
                                     priority=Priority.REFRESH)
        )

    async def _pace(self) -> None:
        """Keep this message's writes at least `min_interval` apart, as Slack sees them."""
        wait = self._last_write + self.relay.min_interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _write(self) -> None:
        try:
            await self._write_now()
        finally:
            # Counted from when the write landed: queueing must not bunch writes up.
            self._last_write = time.monotonic()

    async def _write_now(self) -> None:
        if self._native and self._stream is None and self.relay.scheduler.estimated_wait(
            "chat.startStream"
        ) > FIRST_WORDS_WAIT:
            # Streams are scarce (Tier 2, shared by every thread): when one would
            # keep people waiting, this message uses post-and-update instead.
            self._native = False
        if self._native:
            try:
                await self._append_native()
                return
            except SLACK_ERRORS as exc:
                self._fall_back(exc)
        await self._post_or_update()

    async def _append_native(self, priority: Priority | None = None) -> None:
        relay = self.relay
        if self._stream is None:
            # buffer_size=1: we batch ourselves, so every append reaches Slack
            # and we always know exactly which text is visible.
            self._stream = await relay.scheduler.client.chat_stream(
                channel=relay.channel,
                thread_ts=relay.thread_ts,
                recipient_team_id=relay.team_id,
                recipient_user_id=self.recipient_user_id,
                buffer_size=1,
            )
        stream = self._stream
        starting = stream.ts is None

        async def append() -> None:
            # Runs when the scheduler releases it: send all text there is by then.
            end = len(self.text)
            await stream.append(markdown_text=self.text[self._sent : end])
            self.ts = stream.ts
            self._sent = end

        if priority is None:
            priority = Priority.FIRST if starting else Priority.REFRESH
        await relay.scheduler.run(
            "chat.startStream" if starting else "chat.appendStream", append,
            fair_key=relay.thread_ts, priority=priority, coalesce_key=f"reply:{id(self)}",
        )

    def _fall_back(self, exc: Exception) -> None:
        log.warning(
            "native streaming failed in %s/%s (%s); falling back to chat.update",
            self.relay.channel, self.relay.thread_ts, slack_error(exc),
        )
        self._native = False
        if self.ts is None:
            # Streaming never started here: don't try it again in this workspace.
            self.relay.streaming.native = False

    async def _post_or_update(self) -> None:
        relay = self.relay
        if self.ts is not None:
            ts = self.ts

            async def update() -> None:
                end = len(self.text)
                text = self.text[:end]
                await relay.scheduler.client.chat_update(
                    channel=relay.channel, ts=ts, text=text, blocks=markdown_blocks(text)
                )
                self._sent = end

            try:
                await relay.scheduler.run(
                    "chat.update", update, fair_key=relay.thread_ts, priority=Priority.REFRESH,
                    coalesce_key=f"reply:{id(self)}",
                )
                return
            except SLACK_ERRORS as exc:
                # A stream message that can no longer be edited: continue below it.
                log.warning("chat.update failed for %s: %s", self.ts, slack_error(exc))
                self.text, self._sent = self.text[self._sent :], 0

        async def post() -> None:
            end = len(self.text)
            text = self.text[:end]
            response = await relay.scheduler.client.chat_postMessage(
                channel=relay.channel, thread_ts=relay.thread_ts, text=text, blocks=markdown_blocks(text),
                unfurl_links=False, unfurl_media=False,
            )
            self.ts = response["ts"]
            self._sent = end

        await relay.scheduler.run(
            "chat.postMessage", post, fair_key=relay.thread_ts, channel=relay.channel, priority=Priority.FIRST
        )


def _log_unexpected(task: asyncio.Task[None]) -> None:
    """A flusher's failure is retrieved and logged, never left for the loop to warn about
    (Slack errors are handled inside it; this is anything else)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("writing a message failed unexpectedly", exc_info=exc)
