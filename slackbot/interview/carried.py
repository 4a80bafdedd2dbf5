"""What Claude has of a thread's replies: the next turn's batch, and the replies a turn
carried that did not finish (a park, a kill, a shutdown), settled against the
transcript: those Claude has are dropped, the rest wait again."""

from __future__ import annotations

import dataclasses

from ..claude.session import SpecSession
from ..spend.flood import take_batch
from ..store import PendingReply, StateStore


class Carried:
    def __init__(self, store: StateStore, session: SpecSession, key: tuple[str, str]) -> None:
        self.store, self.session, self.key = store, session, key

    async def next_batch(self) -> list[PendingReply]:
        """The replies the next turn carries: waiting ones, in order, with any a turn that
        did not finish carried and Claude does not have. None unless one is new."""
        rows = await self.store.pending_replies(*self.key)
        if not any(r.waiting and r.ready for r in rows):
            return []
        carried = await self.settle([r for r in rows if r.sent is not None])
        return take_batch(sorted(carried + [r for r in rows if r.waiting], key=lambda r: r.id))

    async def in_flight(self) -> list[PendingReply]:
        """Replies a turn carried that has not finished (or did not)."""
        return [r for r in await self.store.pending_replies(*self.key) if r.sent is not None]

    async def settle(self, carried: list[PendingReply]) -> list[PendingReply]:
        """Of replies a turn carried that did not finish: drop those the transcript shows
        Claude has; the others wait again (returned)."""
        if not carried:
            return []
        have = await self.session.delivered({r.sent for r in carried if r.sent})
        if done := [r.id for r in carried if r.sent in have]:
            await self.store.remove_replies(done)
        rest = [r for r in carried if r.sent not in have]
        if rest:
            await self.store.unsend([r.id for r in rest])
        return [dataclasses.replace(r, sent=None) for r in rest]
