"""The status line: a small live message saying what Claude is doing, with Stop."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from ..blocks import status_blocks
from ..scheduler import Priority
from .errors import SLACK_ERRORS, slack_error

if TYPE_CHECKING:
    from .thread import ThreadRelay

log = logging.getLogger(__name__)

THINKING = "Thinking"
STATUS_DELAY = 1.0  # seconds before a turn without tool use shows a status line
WAITING = "Waiting for your answer"
class StatusLine:
    """A small live message under the thread saying what Claude is doing, with a Stop
    button; updated at most once per interval and deleted when the turn ends."""

    def __init__(self, relay: ThreadRelay) -> None:
        self.relay = relay
        self.ts: str | None = None
        self._shown = ""
        self._last = 0.0
        self._lock = asyncio.Lock()  # the delayed first showing and the turn's own
        self._delayed: asyncio.Task[None] | None = None
        self._late_started = False

    def show_later(self, activity: str, delay: float) -> None:
        async def later() -> None:
            await asyncio.sleep(delay)
            self._late_started = True  # from here on it must finish, not be cancelled
            await self.show(activity)

        self._late_started = False
        self._delayed = asyncio.create_task(later())

    async def show(self, activity: str) -> None:
        async with self._lock:
            await self._show(activity)

    async def _show(self, activity: str) -> None:
        now = time.monotonic()
        if activity == self._shown or (self.ts is not None and now - self._last < self.relay.min_interval):
            return
        relay, text = self.relay, f"{activity}…"
        try:
            if self.ts is None:
                # A nicety: it yields to answers, questions and notes.
                response = await relay.post(
                    Priority.REFRESH, text=text, blocks=status_blocks(activity, relay.thread_ts)
                )
                self.ts = response["ts"]
            else:
                await relay.scheduler.update(
                    Priority.REFRESH, channel=relay.channel, ts=self.ts, text=text,
                    blocks=status_blocks(activity, relay.thread_ts),
                )
            self._shown, self._last = activity, now
        except SLACK_ERRORS as exc:  # a status line is a nicety: never fail the turn for it
            log.warning("status line failed in %s: %s", relay.thread_ts, slack_error(exc))

    async def clear(self) -> None:
        if self._delayed is not None:
            if not self._late_started:
                self._delayed.cancel()  # still waiting: it never posts
            # A post under way must land first, or its message would outlive the turn.
            await asyncio.gather(self._delayed, return_exceptions=True)
        async with self._lock:
            ts, self.ts = self.ts, None
            if ts is None:
                return
        try:
            await self.relay.scheduler.delete(channel=self.relay.channel, ts=ts)
        except SLACK_ERRORS as exc:
            log.warning("could not clear the status line in %s: %s", self.relay.thread_ts, slack_error(exc))
