"""The live-process pool: a freed slot always reaches the turn first in line, whatever
happens to the turns queued before it (cancelled during their 'Queued' note, woken and
cancelled before they ran, cancelled while making room), and turns are served in FIFO order.

The pool is pure logic; its occupants here are small fakes with no process behind them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from slackbot.interview.pool import LivePool, ThreadKey


class Fake:
    """An occupant (see `slackbot.interview.pool.Occupant`) that records what the pool did to it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.busy = False
        self.waiting_on_people = False
        self.last_active = 0.0
        self.closed = 0
        self.parked = 0
        self.closing: asyncio.Event | None = None  # when set: closing waits for it

    @property
    def key(self) -> ThreadKey:
        return ("C1", self.name)

    async def close_process(self) -> None:
        if self.closing is not None:
            await self.closing.wait()
        self.closed += 1

    async def park(self) -> None:
        if self.closing is not None:
            await self.closing.wait()
        self.parked += 1


class Notes:
    """The 'Queued' notes the pool asked for: (who, how many ahead); a name in `blocking`
    makes that note hang (Slack slow to answer) until the turn is cancelled."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, int]] = []
        self.blocking: set[str] = set()
        self.entered: set[str] = set()

    def for_(self, occupant: Fake) -> Callable[[int], Awaitable[None]]:
        async def note(ahead: int) -> None:
            self.entered.add(occupant.name)
            if occupant.name in self.blocking:
                await asyncio.Event().wait()
            self.posted.append((occupant.name, ahead))

        return note


async def settle() -> None:
    """Let every ready task run to its next wait: the fakes do no I/O, so a fixed number
    of loop passes (not a time) is enough for all the pool's hand-overs."""
    for _ in range(50):
        await asyncio.sleep(0)


async def holding(pool: LivePool, occupant: Fake, notes: Notes) -> None:
    await turn(pool, occupant, notes)
    assert pool.holds(occupant)


async def turn(pool: LivePool, occupant: Fake, notes: Notes) -> None:
    """As a conversation takes a slot: it is busy from the moment it queues (its state
    is its own; the pool only reads it), and not once it gives up."""
    occupant.busy = True
    try:
        await pool.acquire(occupant, notes.for_(occupant))
    except BaseException:
        occupant.busy = False
        raise


def queue(pool: LivePool, occupant: Fake, notes: Notes) -> asyncio.Task[None]:
    return asyncio.create_task(turn(pool, occupant, notes), name=occupant.name)


def finish(pool: LivePool, occupant: Fake) -> None:
    """The occupant's turn is over (its process stays live, idle)."""
    occupant.busy = occupant.waiting_on_people = False
    pool.release(occupant)


def asks(pool: LivePool, occupant: Fake) -> None:
    """The occupant's question is showing: it waits on people."""
    occupant.waiting_on_people = True
    pool.now_waiting_on_people(occupant)


async def cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_turn_cancelled_during_its_queued_note_passes_the_slot_on() -> None:
    pool, notes = LivePool(1), Notes()
    x, a, b = Fake("x"), Fake("a"), Fake("b")
    await holding(pool, x, notes)
    notes.blocking.add("a")
    task_a = queue(pool, a, notes)
    await settle()
    assert "a" in notes.entered
    await cancel(task_a)  # the interview was cancelled (or the bot stopped) mid-note
    task_b = queue(pool, b, notes)
    await settle()
    assert notes.posted == [("b", 0)], "b is next in line: nobody is ahead of it"

    finish(pool, x)
    await settle()
    assert task_b.done() and pool.holds(b), "b waits beside a free slot"
    assert x.closed == 1 and not pool.holds(x)


async def test_a_turn_woken_then_cancelled_passes_the_wake_on() -> None:
    pool, notes = LivePool(1), Notes()
    x, a, b = Fake("x"), Fake("a"), Fake("b")
    await holding(pool, x, notes)
    task_a, task_b = queue(pool, a, notes), queue(pool, b, notes)
    await settle()
    assert notes.posted == [("a", 0), ("b", 1)]

    finish(pool, x)  # wakes a ...
    task_a.cancel()  # ... which is cancelled before it gets to run
    await settle()
    assert task_a.cancelled()
    assert task_b.done() and pool.holds(b), "b waits beside a free slot"


@pytest.mark.parametrize(
    "frees, done",
    [(finish, "closed"), (asks, "parked")],
    ids=["an idle process closed", "a question parked"],
)
async def test_a_turn_cancelled_while_making_room_passes_the_slot_on(frees, done) -> None:
    pool, notes = LivePool(1), Notes()
    x, a, b = Fake("x"), Fake("a"), Fake("b")
    await holding(pool, x, notes)
    task_a, task_b = queue(pool, a, notes), queue(pool, b, notes)
    await settle()
    x.closing = asyncio.Event()  # x's process is slow to end
    frees(pool, x)  # a wakes and starts closing (or parking) x to take its slot
    await settle()
    assert not pool.holds(x) and not task_a.done()

    await cancel(task_a)
    await settle()
    assert task_b.done() and pool.holds(b), "b waits beside a free slot"
    x.closing.set()
    await settle()
    assert getattr(x, done) == 1, "x's process was left running, counted in no slot"


async def test_a_newcomer_queues_behind_a_woken_turn() -> None:
    pool, notes = LivePool(1), Notes()
    x, a, c = Fake("x"), Fake("a"), Fake("c")
    await holding(pool, x, notes)
    task_a = queue(pool, a, notes)
    await settle()
    task_c = queue(pool, c, notes)  # a reply arrives in another thread ...
    finish(pool, x)  # ... just as the slot frees: c runs before a, whom this wakes
    await settle()
    assert task_a.done() and pool.holds(a), "the turn queued first is served first"
    assert not task_c.done() and notes.posted == [("a", 0), ("c", 1)], "c was told a is ahead of it"

    finish(pool, a)
    await settle()
    assert task_c.done() and pool.holds(c)


async def test_turns_keep_their_place_in_line_when_a_question_is_parked() -> None:
    pool, notes = LivePool(1), Notes()
    x, a, b, c = Fake("x"), Fake("a"), Fake("b"), Fake("c")
    await holding(pool, x, notes)
    tasks = {o.name: queue(pool, o, notes) for o in (a, b, c)}
    await settle()
    assert notes.posted == [("a", 0), ("b", 1), ("c", 2)]

    asks(pool, x)  # x asked a question: a parks it and takes its slot
    await settle()
    assert x.parked == 1 and pool.holds(a) and tasks["a"].done()

    for first, then in (("a", "b"), ("b", "c")):
        finish(pool, next(o for o in (a, b, c) if o.name == first))
        await settle()
        assert tasks[then].done() and pool.holds(next(o for o in (a, b, c) if o.name == then)), (
            f"{then} is next in line"
        )
    assert notes.posted == [("a", 0), ("b", 1), ("c", 2)], "each turn hears it is queued once"


async def test_free_slots_are_shared_out_in_order() -> None:
    pool, notes = LivePool(2), Notes()
    x, y = Fake("x"), Fake("y")
    waiting = [Fake(name) for name in "abc"]
    await holding(pool, x, notes)
    await holding(pool, y, notes)
    tasks = [queue(pool, o, notes) for o in waiting]
    await settle()

    finish(pool, x)
    finish(pool, y)
    await settle()
    assert [t.done() for t in tasks] == [True, True, False]
    assert pool.live_count == 2 and x.closed == y.closed == 1

    await pool.remove(waiting[0])  # its interview ended
    await settle()
    assert tasks[2].done() and pool.holds(waiting[2]) and pool.live_count == 2
