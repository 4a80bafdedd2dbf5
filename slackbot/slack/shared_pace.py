"""Slack's ~1 new message a second per channel, shared by the replicas.

One channel's threads may run on different replicas, and each replica's own pace,
however stretched, lets two of them post there a moment apart. So with more than one
replica live, a new message first takes its channel in the shared database (`Slots`,
the store's channel slots) and leaves it once Slack has answered: the next, from any
replica, goes an interval after that answer. A lone replica pays no round trip. If the
database fails, the message still goes, and the scheduler stretches its own interval
by its share of the budget until the database answers again (tried again every
RETRY_AFTER seconds; logged once).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Protocol

log = logging.getLogger(__name__)

# Seconds a hold lasts if its holder never releases it (it died mid-call): longer than a
# Slack call takes (slack_sdk's client gives up after 30s).
HOLD_FOR = 45.0
# Seconds a slot's read-and-write may take before the message goes without it (a database
# that hangs must not hold every new message up), and between tries while it fails.
DB_TIMEOUT = 5.0
RETRY_AFTER = 10.0


class Slots(Protocol):
    """Channel slots kept where every replica sees them (store/channel_slots.py)."""

    async def hold_channel(self, channel: str, holder: str, hold_for: float) -> float: ...
    async def release_channel(self, channel: str, holder: str, free_in: float) -> None: ...


class SharedPace:
    """This replica's side of the shared channel slots."""

    def __init__(self, slots: Slots | None = None) -> None:
        self.slots = slots
        self.failing = False  # the last hold or release failed: keep a stretched pace alone
        self._failed_at = 0.0

    def stretched(self, share: float) -> bool:
        """Whether the channel interval must be stretched by the share: slots not kept
        (or failing) while other replicas are live."""
        return share < 1 and (self.slots is None or self.failing)

    async def hold(self, channel: str, interval: float) -> str | None:
        """Wait until `channel` is ours for one new message; the hold's id (None: slots
        not kept, or failing: go on the local pace alone)."""
        if self.slots is None or (self.failing and time.monotonic() < self._failed_at + RETRY_AFTER):
            return None
        holder = uuid.uuid4().hex
        try:
            while (wait := await asyncio.wait_for(self.slots.hold_channel(channel, holder, HOLD_FOR), DB_TIMEOUT)) > 0:
                # Held elsewhere: its release says when it is free; look again by then.
                await asyncio.sleep(min(wait, interval))
        except Exception:
            self._failed("take")
            return None
        self.failing = False
        return holder

    async def release(self, channel: str, holder: str, free_in: float) -> None:
        """The message was answered (or failed): the channel is free in `free_in` seconds."""
        assert self.slots is not None
        try:
            await asyncio.wait_for(self.slots.release_channel(channel, holder, free_in), DB_TIMEOUT)
        except Exception:
            self._failed("release")  # the hold lapses by itself

    def _failed(self, what: str) -> None:
        if not self.failing:
            log.exception("slack scheduler: cannot %s a channel slot in the database; "
                          "pacing channels alone on a stretched interval", what)
        self.failing, self._failed_at = True, time.monotonic()
