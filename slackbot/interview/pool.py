"""Live `claude` processes: at most `limit` at once.

A conversation holds a slot while it has a process. When one more is needed,
the least recently used idle one is closed; failing that, one whose Claude
waits on people (a question nobody has answered yet) is parked: its process
ends, its question stays answerable, and the answer resumes the conversation.
Only when every live process is busy with Claude do turns wait, in FIFO order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Protocol

log = logging.getLogger(__name__)

ThreadKey = tuple[str, str]  # (channel, thread_ts)


class Occupant(Protocol):
    """What the pool needs of a conversation. The pool only reads its state: the
    conversation alone changes it."""

    @property
    def busy(self) -> bool: ...  # in a turn (or queued for one)

    @property
    def waiting_on_people(self) -> bool: ...  # in a turn, only waiting for a question's answer

    @property
    def last_active(self) -> float: ...  # when it last changed (time.monotonic)

    @property
    def key(self) -> ThreadKey: ...

    async def close_process(self) -> None: ...  # idle: the next reply resumes it
    async def park(self) -> None: ...  # waiting on people: end the turn, keep the question


class LivePool:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._live: OrderedDict[ThreadKey, Occupant] = OrderedDict()
        # Turns waiting for a slot, first in line first. Each stays in line (its place
        # kept) until it has a slot or gives up; only the first may take one, and it is
        # woken (its event set) whenever a slot may have freed up.
        self._line: list[asyncio.Event] = []
        self._evicting: set[asyncio.Task[None]] = set()  # closings that outlive a cancelled turn

    @property
    def live_count(self) -> int:
        return len(self._live)

    @property
    def waiting_count(self) -> int:
        """Live processes whose turn waits for people to answer a question."""
        return sum(1 for occupant in self._live.values() if occupant.waiting_on_people)

    @property
    def queued_count(self) -> int:
        """Turns in line for a slot."""
        return len(self._line)

    def holds(self, occupant: Occupant) -> bool:
        return self._live.get(occupant.key) is occupant

    async def acquire(self, occupant: Occupant, on_queued: Callable[[int], Awaitable[object]]) -> None:
        """Take a slot for `occupant` (busy by now), making room or waiting for one in line."""
        if occupant.key in self._live:
            self._live.move_to_end(occupant.key)
            return
        turn = asyncio.Event()
        self._line.append(turn)
        try:
            await self._wait_turn(turn, on_queued)
            self._live[occupant.key] = occupant
        finally:
            # Whether it took a slot or gave up, the next in line now leads: it looks for
            # a slot too (one may be left, or this turn's wake-up was meant for it).
            self._line.remove(turn)
            self._wake_one()

    async def _wait_turn(self, turn: asyncio.Event, on_queued: Callable[[int], Awaitable[object]]) -> None:
        """Return once `turn` leads the line and a slot is free."""
        queued = False
        while True:
            turn.clear()  # what follows sees the pool as it is now
            if self._line[0] is turn:
                if len(self._live) < self.limit:
                    return
                if await self._make_room():
                    continue
            if not queued:
                queued = True
                await on_queued(self._line.index(turn))  # how many are ahead
                continue  # a slot may have freed up while the note went out
            await turn.wait()

    async def _make_room(self) -> bool:
        # The slot is freed before any await: a new turn of the evicted one queues for a slot.
        idle = next((o for o in self._live.values() if not o.busy), None)
        if idle is not None:
            del self._live[idle.key]
            await self._evict(idle, idle.close_process())
            return True
        waiting = next((o for o in self._live.values() if o.waiting_on_people), None)
        if waiting is not None:
            log.info("parking %s: its question waits on people, and another thread needs Claude", waiting.key)
            del self._live[waiting.key]
            await self._evict(waiting, waiting.park())
            return True
        return False

    async def _evict(self, occupant: Occupant, closing: Coroutine[object, object, None]) -> None:
        """Close another conversation's process to the end even if the turn that wants its
        slot is cancelled meanwhile: a process left running would count against no slot."""
        task = asyncio.create_task(closing, name=f"evict:{occupant.key}")
        self._evicting.add(task)
        task.add_done_callback(self._evicted)
        await asyncio.shield(task)

    def _evicted(self, task: asyncio.Task[None]) -> None:
        self._evicting.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s failed", task.get_name(), exc_info=error)

    def release(self, occupant: Occupant) -> None:
        """The turn is over: the process stays live (idle) until evicted."""
        self._wake_one()

    def now_waiting_on_people(self, occupant: Occupant) -> None:
        """A question went out: a queued turn may take this slot."""
        self._wake_one()

    async def evict_idle(self, idle_seconds: float) -> None:
        """Close processes idle that long; park those whose question nobody has answered
        that long (a question may wait a day: its process should not)."""
        now = time.monotonic()
        for occupant in list(self._live.values()):
            if now - occupant.last_active < idle_seconds or self._live.get(occupant.key) is not occupant:
                continue
            if not occupant.busy:
                log.info("closing idle session for %s", occupant.key)
                await self.remove(occupant)
            elif occupant.waiting_on_people:
                log.info("parking %s: its question has waited %.0fs", occupant.key, now - occupant.last_active)
                del self._live[occupant.key]
                await self._evict(occupant, occupant.park())
                self._wake_one()

    async def remove(self, occupant: Occupant) -> None:
        """Close an occupant's process and free its slot."""
        if self._live.get(occupant.key) is occupant:
            del self._live[occupant.key]
        try:
            await occupant.close_process()
        finally:  # the slot is free even if closing was cut short
            self._wake_one()

    def _wake_one(self) -> None:
        """Something changed (a slot freed, a process went idle or waits on people):
        the turn first in line looks again."""
        if self._line:
            self._line[0].set()
