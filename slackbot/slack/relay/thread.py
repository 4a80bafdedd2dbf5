"""Slack out: renders a session's events into one thread. Knows Slack, not the SDK."""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ...events import SessionEvent
from ..blocks import update_text, without_status
from .base import Usage
from .errors import SLACK_ERRORS, slack_error
from .support import Recipient
from .turn import TurnView
from .waiting import Waiting

__all__ = ["ThreadRelay", "Usage"]

log = logging.getLogger(__name__)

READ_THREAD_SECONDS = 30.0  # at most this long reading a thread back (after a restart)


class ThreadRelay(Waiting):
    """Renders session events into one Slack thread."""

    async def take_down_stops(self) -> None:
        """After a crash: the status lines the killed turn left in this thread lose their
        Stop (it stops nothing now), and one that only said what Claude was doing goes.
        Best effort: a click on one left says the answer has finished."""
        try:
            async with asyncio.timeout(READ_THREAD_SECONDS):
                async for message in self._replies():
                    await self._take_down_stop(message)
        except SLACK_ERRORS as exc:
            log.warning("could not take down old Stop buttons in %s: %s", self.thread_ts, slack_error(exc))

    async def spec_uploads(self, names: set[str]) -> int | None:
        """How many of this bot's messages in the thread show a file named in `names`: the
        spec uploads Slack took here. None if Slack could not say."""
        try:
            async with asyncio.timeout(READ_THREAD_SECONDS):
                me = (await self.scheduler.client.auth_test()).get("user_id")
                return len([
                    message async for message in self._replies()
                    if message.get("user") == me and any(f.get("name") in names for f in message.get("files") or [])
                ])
        except SLACK_ERRORS as exc:
            log.warning("could not read the uploads in %s: %s", self.thread_ts, slack_error(exc))
            return None

    async def _replies(self) -> AsyncIterator[dict[str, Any]]:
        """Every message of the thread, oldest first, page by page."""
        client = self.scheduler.client

        async def page(cursor: str | None) -> Any:
            return await client.conversations_replies(channel=self.channel, ts=self.thread_ts, cursor=cursor, limit=200)

        cursor: str | None = None
        while True:
            replies = await self.scheduler.run(
                "conversations.replies", functools.partial(page, cursor), fair_key=self.thread_ts
            )
            for message in replies.get("messages") or []:
                yield message
            cursor = (replies.get("response_metadata") or {}).get("next_cursor")
            if not replies.get("has_more") or not cursor:
                return

    async def _take_down_stop(self, message: dict[str, Any]) -> None:
        blocks = without_status(message.get("blocks") or [])
        ts = str(message.get("ts") or "")
        if blocks is None or not ts:
            return
        try:
            if blocks:
                text = update_text(str(message.get("text") or "…"))
                await self.scheduler.update(channel=self.channel, ts=ts, text=text, blocks=blocks)
            else:
                await self.scheduler.delete(channel=self.channel, ts=ts)
        except SLACK_ERRORS as exc:
            log.warning("could not take down the Stop of %s in %s: %s", ts, self.thread_ts, slack_error(exc))

    async def render(
        self, events: AsyncIterator[SessionEvent], recipient: Recipient | None,
        stop_claude: Callable[[], Awaitable[object]] | None = None, turn: str | None = None,
    ) -> None:
        """Show one turn in the thread, to its end: a Slack error in one write is logged
        and reported once, and the turn goes on being shown (never left running
        unobserved). `stop_claude` is called when nobody can go on with the turn: a
        question Slack refused to show, or the person stopped the stream in Slack.
        `turn` is the id its Stop buttons carry."""
        first, self._turn_first = self._turn_first, None
        view = TurnView(self, recipient, stop_claude, turn or uuid.uuid4().hex, first)
        try:
            async for event in events:
                await view.show(event)
        finally:
            await view.close()
