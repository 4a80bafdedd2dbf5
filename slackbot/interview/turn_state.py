"""Where a thread's turn is: one small state machine, changed only by its conversation.

The pool reads it (is the process busy, may it be parked?); parking, shutdown and a
question going out are its transitions, so two places can never disagree about them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import Enum

log = logging.getLogger(__name__)


class Phase(Enum):
    IDLE = "idle"  # no turn (the process, if live, is idle)
    QUEUED = "queued"  # waiting in the pool for a process
    RUNNING = "running"  # Claude is answering
    ASKING = "asking"  # Claude waits on a question people can see: the pool may park it
    PARKING = "parking"  # its process is closing while people think; the question stays open
    STOPPING = "stopping"  # the bot is shutting down mid-turn


_NEXT: dict[Phase, frozenset[Phase]] = {
    Phase.IDLE: frozenset({Phase.QUEUED}),
    Phase.QUEUED: frozenset({Phase.RUNNING}),
    Phase.RUNNING: frozenset({Phase.ASKING, Phase.STOPPING}),
    Phase.ASKING: frozenset({Phase.RUNNING, Phase.PARKING, Phase.STOPPING}),
    Phase.PARKING: frozenset(),
    Phase.STOPPING: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A bug: some code moved a turn where it cannot go."""


class TurnState:
    def __init__(self, name: str) -> None:
        self.name = name
        self.phase = Phase.IDLE
        self.since = time.monotonic()  # when the phase began (the pool's idle clock)
        self.on_change: Callable[[], object] | None = None  # told after each move (the root shows it)

    def to(self, phase: Phase) -> None:
        """Move on; any phase may end (back to IDLE), the rest only as `_NEXT` allows."""
        if phase is not Phase.IDLE and phase not in _NEXT[self.phase]:
            raise IllegalTransition(f"{self.name}: {self.phase.value} -> {phase.value}")
        log.debug("%s: %s -> %s", self.name, self.phase.value, phase.value)
        self.phase, self.since = phase, time.monotonic()
        if self.on_change is not None:
            self.on_change()

    def is_(self, *phases: Phase) -> bool:
        return self.phase in phases
