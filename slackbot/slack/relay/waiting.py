"""A turn waiting for Claude (the pool is full): shown as the thread's status, or where
Slack refuses that, as a "Queued" note that the turn takes over once it starts."""

from __future__ import annotations

import asyncio
import logging

from .base import ThreadBase
from .errors import SLACK_ERRORS, slack_error
from .status import queued

log = logging.getLogger(__name__)


class Waiting(ThreadBase):
    """ThreadRelay's part for a turn that waits in line."""

    async def show_queued(self, ahead: int) -> None:
        """Say the thread's turn waits for Claude: as the thread's status, or where Slack
        refuses that, a note posted to the end even if the wait is cancelled, so that the
        turn can take it over (`queue_over`) or `take_down_queued` take it down."""
        if await self.status.show(queued(ahead)):
            return
        place = "you're next" if ahead == 0 else f"{ahead} ahead of you"
        text = (
            f":hourglass_flowing_sand: Queued — {place}. Claude is busy with other interviews; "
            "I'll go on here as soon as it's this one's turn."
        )
        self._queued_note = asyncio.ensure_future(self.note(text))
        await asyncio.shield(self._queued_note)

    @property
    def queued_note_pending(self) -> bool:
        """A "Queued" note is still being posted."""
        return self._queued_note is not None and not self._queued_note.done()

    async def queued_note_ts(self) -> str | None:
        """The "Queued" note's ts once it is posted (None if there is none, or it never was)."""
        note, self._queued_note = self._queued_note, None
        if note is None:
            return None
        try:
            return await note
        except Exception:  # never posted (the bot is stopping)
            return None

    async def queue_over(self) -> None:
        """The turn starts: its "Queued" note becomes the turn's first message (updated, not
        deleted and posted anew)."""
        ts = await self.queued_note_ts()
        if ts is not None:
            self._turn_first = ts

    async def take_down_queued(self) -> None:
        """The wait is over with no turn (cancelled, or the interview ended): the "Queued"
        note (or status) goes."""
        await self.status.clear()
        ts = await self.queued_note_ts()
        if ts is None:
            return
        try:
            await self.scheduler.delete(channel=self.channel, ts=ts)
        except SLACK_ERRORS as exc:
            log.warning("could not delete the queued note in %s: %s", self.thread_ts, slack_error(exc))
