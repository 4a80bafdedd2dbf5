"""One Slack message that grows as Claude writes.

Claude's text is streamed with Slack's native streaming (chat.startStream /
appendStream / stopStream) while it works, and with post-then-`chat.update` (at
most one update per message per `min_interval`) when it does not. The stream
calls themselves are in native_stream.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...markup import escape
from ..blocks import markdown_blocks, status_blocks, update_text
from ..scheduler import Priority
from .errors import SLACK_ERRORS, slack_error
from .native_stream import NativeStream
from .posted import StatusLine, finals_short, update_soon, updates_scarce
from .support import Recipient
from .tasks import Activity

if TYPE_CHECKING:
    from .base import ThreadBase

log = logging.getLogger(__name__)


FENCE = "```"

def split_point(text: str, start: int, limit: int) -> int:
    """Where to cut `text` (already longer than `limit`) so the head fits a message.

    The cut never falls before `start` (text up to there is already visible and
    can't be taken back). It prefers a paragraph break, then a line break, then
    a space; with none in reach it cuts at `start` when something is already
    visible (so the next message starts cleanly), else hard at `limit`, or just
    before it if the next message would start with a `[`: a line starts there, and
    a `[` after a word must not start a reference definition (see links.py).
    """
    window = text[:limit]
    for sep in ("\n\n", "\n", " "):
        at = window.rfind(sep, start)
        if at > start:
            return at + len(sep)
    if start > 0:
        return start
    return limit - 1 if limit > 1 and text[limit] == "[" else limit


class GrowingMessage(NativeStream):
    """One Slack message that grows as Claude writes, throttled to one write per interval.

    It also shows what Claude is doing (`activity`): task cards in a stream; while it is
    posted and updated, a context line and a Stop button, gone when it finishes."""

    def __init__(
        self, relay: ThreadBase, recipient: Recipient | None, turn: str,
        on_user_stop: Callable[[], None] | None = None, takes_over: str | None = None,
    ) -> None:
        self.relay = relay
        self.recipient = recipient or Recipient(None)
        self.turn = turn  # the turn its Stop button stops
        self.on_user_stop = on_user_stop  # the person stopped the stream in Slack
        self.text = ""
        self.tasks = Activity()
        self.finished = False
        self.halted = False  # stopped by the person: nothing more is written
        self.ts: str | None = None
        # Streams need their recipient in channels; without one (e.g. a reply stored
        # before teams were recorded), or with others taking part, it posts and updates.
        recipient_known = bool(self.recipient.team_id and self.recipient.user_id) and not self.recipient.shared
        self._native = recipient_known and relay.streaming.usable()
        self._streaming = False  # a stream of ours is open in Slack at self.ts
        self._sent = 0  # chars of self.text Slack confirmed showing
        self._live_shown = False  # post-and-update: Slack shows our status line and Stop button
        self._whole = False  # refreshes are scarce: written once, when finished
        self._counted = False  # in `streaming.growing_posts`
        self._last_write = 0.0
        self._flusher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one write at a time for this message
        if takes_over is not None:
            # A message the thread already shows (the turn's "Queued" note) becomes this
            # one: updated like a status line, never deleted, so never a stream.
            self.ts, self._native, self._live_shown = takes_over, False, True

    async def add(self, text: str) -> None:
        """Take more text; it reaches Slack from a background flusher, so a slow or
        rate-limited Slack never holds up reading Claude's answer."""
        if self.halted:
            return
        self.tasks.settle(len(self.text))
        self.text += text
        self._kick()

    def activity(self, title: str, tool: str = "") -> None:
        """Claude is now doing `title` (tool call `tool`): shown with the message's next write."""
        if not self.halted:
            self.tasks.start(title, len(self.text), tool)
            self._kick()

    def tool_failed(self, tool: str, output: str) -> None:
        """Tool call `tool` failed: its task card ends in error (a stream's; a status line
        only ever shows what is in progress)."""
        if not self.halted:
            self.tasks.fail(tool, output, len(self.text))
            self._kick()

    @property
    def unsent(self) -> bool:
        return not self.halted and (self._sent < len(self.text) or self.tasks.unsent)

    def _kick(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop())
            self._flusher.add_done_callback(_log_unexpected)

    async def _flush_loop(self) -> None:
        try:
            while self.unsent and not self._whole:
                await self._pace()
                async with self._lock:
                    if self.unsent and not self._whole:
                        await self._write()
        except SLACK_ERRORS as exc:  # finish() retries whatever is still unsent
            log.warning("update failed in %s: %s", self.relay.thread_ts, slack_error(exc))

    async def finish(self) -> None:
        try:
            await self._finish()
        finally:
            self._count(False)  # its last update is written, or will never be
            self._owe_stop(False)
            self._stop_renewal()

    def drop(self) -> None:
        """The thread is another replica's now (fencing): nothing more is written, as after
        a kill, and the message no longer counts among those growing or owing a stop."""
        self.halted = True
        if self._flusher is not None:
            self._flusher.cancel()
        self._count(False)
        self._owe_stop(False)
        self._stop_renewal()

    async def _finish(self) -> None:
        self.finished = True
        self.tasks.settle(len(self.text))
        if self._flusher is not None and not self._flusher.done():
            if self._lock.locked():
                await asyncio.gather(self._flusher, return_exceptions=True)  # let a write land
            else:
                self._flusher.cancel()  # only sleeping: the final write below covers it
                await asyncio.gather(self._flusher, return_exceptions=True)
        async with self._lock:
            if self.unsent and not self._streaming:
                # The last words of a posted message too: at most one update per interval.
                # A stream's go out at once: appends have no per-message pace to keep.
                await self._pace()
            if self._native and self.ts is None and self.unsent:
                await self._write()  # starts a stream, or posts when streams are scarce
            if self._native and self._streaming:
                try:
                    await self._stop_native()
                    return
                except SLACK_ERRORS as exc:
                    await self._fall_back(exc)
            if self.halted or not self.text:
                return  # nothing shown, or a status line only: the turn decides what that becomes
            if self._live_shown and self._sent == 0 and not update_soon(self.relay):
                await self._post_below_status()
            elif self.unsent or self._live_shown:
                await self._post_or_update()  # the last words, and the Stop button goes

    def _count(self, growing: bool) -> None:
        if growing != self._counted:
            self._counted = growing
            self.relay.streaming.growing_posts += 1 if growing else -1

    def bare_status(self) -> StatusLine | None:
        """The status line (with Stop) this message shows with no text in it, if so."""
        shown = self.ts is not None and self._live_shown and not self.text
        return StatusLine(str(self.ts), tuple(mark.title for mark in self.tasks.marks)) if shown else None

    async def _post_below_status(self) -> None:
        """The answer would wait for chat.update to take the status line's place: it is posted
        whole below it instead, and the line says what was done once an update is free."""
        line = StatusLine(str(self.ts), tuple(mark.title for mark in self.tasks.marks))
        self.ts, self._live_shown = None, False
        await self._post_or_update()
        self.relay.background(line.mark_done(self.relay, Priority.REFRESH))

    async def _pace(self) -> None:
        """Keep this message's writes at least `min_interval` apart, as Slack sees them."""
        wait = self._last_write + self.relay.min_interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _write(self) -> None:
        new = self.ts is None
        try:
            await self._write_now()
        finally:
            # Counted from when the write landed: queueing must not bunch writes up.
            self._last_write = time.monotonic()
            if new and self.ts is not None:
                self.relay.status.posted()  # a new message: Slack took the thread's status down

    async def _write_now(self) -> None:
        if self._native and self.ts is None and not self._stream_affordable():
            # Streams are scarce (Tier 2, shared by every thread): when one would
            # keep people waiting, this message uses post-and-update instead.
            self._native = False
        if not self._native and self._sent == 0 and self.text and not self.finished and updates_scarce(self.relay):
            # Its words would queue behind other threads' refreshes: finish() writes it whole,
            # into the status line it may show (its last update, which may use the reserve).
            self._whole = True
            return
        if self.ts is not None and not self._native and not self.finished and finals_short(self.relay):
            # Another refresh now would leave some posted answer's last words waiting:
            # this one shows the rest when it is done.
            self._whole = True
            return
        if self._native:
            try:
                await self._append_native()
                return
            except SLACK_ERRORS as exc:
                await self._fall_back(exc)
                if self.halted:
                    return
        self._count(not self.finished)  # from now on it owes a last update
        await self._post_or_update()

    def _rendered(self) -> tuple[int, str, list[dict], bool]:
        """The message as posted or updated now: (text end, text, blocks, shows Stop). While
        Claude is still at it, a status line with Stop sits below the text."""
        end = len(self.text)
        text = self.text[:end]
        blocks = markdown_blocks(text) if text else []
        live = not self.finished
        if live:
            blocks += status_blocks(self.tasks.title, self.turn)
        # status_blocks escapes the title itself; the notification text escapes it here.
        return end, text or update_text(f"{escape(self.tasks.title or 'Working')}…"), blocks, live

    async def _post_or_update(self) -> None:
        relay = self.relay
        if self.ts is not None:
            ts = self.ts

            async def update() -> None:
                end, text, blocks, live = self._rendered()
                await relay.scheduler.client.chat_update(channel=relay.channel, ts=ts, text=text, blocks=blocks)
                self._sent, self._live_shown = end, live
                self.tasks.all_sent()

            try:
                await relay.scheduler.run(
                    # The last update is what people wait for: it may use the budget's reserve.
                    "chat.update", update, fair_key=relay.thread_ts,
                    priority=Priority.FIRST if self.finished else Priority.REFRESH,
                    coalesce_key=f"reply:{id(self)}",
                )
                return
            except SLACK_ERRORS as exc:
                # A stream message that can no longer be edited: continue below it.
                log.warning("chat.update failed for %s: %s", self.ts, slack_error(exc))
                self._continue_below()

        async def post() -> None:
            end, text, blocks, live = self._rendered()
            response = await relay.scheduler.client.chat_postMessage(
                channel=relay.channel, thread_ts=relay.thread_ts, text=text, blocks=blocks,
                unfurl_links=False, unfurl_media=False,
            )
            self.ts, self._sent, self._live_shown = response["ts"], end, live
            self.tasks.all_sent()
            relay.status.posted()

        await relay.scheduler.run(
            "chat.postMessage", post, fair_key=relay.thread_ts, channel=relay.channel,
            priority=Priority.FIRST,
        )


def _log_unexpected(task: asyncio.Task[None]) -> None:
    """A flusher's failure is retrieved and logged, never left for the loop to warn about
    (Slack errors are handled inside it; this is anything else)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("writing a message failed unexpectedly", exc_info=exc)
