"""Channel slots: Slack's ~1 new message a second per channel, kept across replicas.

One channel's threads may run on different replicas. With more than one live, a replica
takes the channel here before a new message (`hold_channel`) and leaves it once Slack
has answered (`release_channel`): the next, from any replica, goes an interval after
that answer, when Slack surely counted the message. A hold its holder never releases (it
died mid-call) lapses. Times are wall clocks, compared across hosts as the heartbeats'
are: the replicas' clocks must agree to well within the interval's margin.
"""

from __future__ import annotations

import time

from .transactions import Transactions


class ChannelSlots(Transactions):
    """One row per channel: who holds it, and when it is next free."""

    async def hold_channel(self, channel: str, holder: str, hold_for: float) -> float:
        """Take `channel` for `holder`'s new message if it is free: 0.0, and it is held for
        `hold_for` seconds at most. Else the seconds until it is free as known now (while
        held: until the hold lapses; its release usually comes sooner)."""
        now = time.time()
        async with self.transaction() as db:  # one short write: every writer waits on it
            rows = await db.execute_fetchall("SELECT free_at FROM channel_slots WHERE channel = ?", (channel,))
            free_at = next((float(row[0]) for row in rows), 0.0)
            if free_at > now:
                return free_at - now
            await db.execute(
                "INSERT INTO channel_slots (channel, holder, free_at) VALUES (?, ?, ?) "
                "ON CONFLICT (channel) DO UPDATE SET holder = ?, free_at = ?",
                (channel, holder, now + hold_for, holder, now + hold_for),
            )
        return 0.0

    async def release_channel(self, channel: str, holder: str, free_in: float) -> None:
        """`holder`'s message was answered (or failed): the channel is free `free_in`
        seconds from now. Nothing if the hold had lapsed and another took the channel."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE channel_slots SET holder = NULL, free_at = ? WHERE channel = ? AND holder = ?",
                (time.time() + free_in, channel, holder),
            )
