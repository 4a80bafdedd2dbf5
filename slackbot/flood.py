"""Limits on how much one person, or one merged batch, can push at Claude.

Pure logic: a sliding-window limit per person, and the rule for how many
waiting replies one turn takes.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .store import PendingReply

MAX_BATCH_CHARS = 60_000  # text and attached text files Claude gets in one turn
MAX_BATCH_FILES = 10  # what one Slack message can carry


@dataclass
class _Window:
    times: deque[float]
    told_at: float = float("-inf")


class PerPersonLimit:
    """At most `limit` events per person within `window` seconds."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._people: dict[str, _Window] = {}

    def allow(self, person: str) -> bool:
        """Count one event; False (and not counted) when the person is over the limit."""
        now = self.clock()
        self._forget(now)
        entry = self._people.setdefault(person, _Window(deque()))
        if len(entry.times) >= self.limit:
            return False
        entry.times.append(now)
        return True

    def should_tell(self, person: str) -> bool:
        """True once per window for a refused person, so the refusal itself can't flood."""
        now = self.clock()
        entry = self._people.get(person)
        if entry is None or now - entry.told_at < self.window:
            return False
        entry.told_at = now
        return True

    def _forget(self, now: float) -> None:
        for person, entry in list(self._people.items()):
            while entry.times and now - entry.times[0] >= self.window:
                entry.times.popleft()
            if not entry.times and now - entry.told_at >= self.window:
                del self._people[person]  # the table never outgrows the people active right now


def reply_weight(reply: PendingReply) -> tuple[int, int]:
    """(characters, files) a reply adds to a turn."""
    return len(reply.text) + reply.file_text_bytes, reply.file_count


def take_batch(pending: Sequence[PendingReply]) -> list[PendingReply]:
    """The replies one turn answers: in order, up to the first not yet ready, within
    the caps (at least one, if the first is ready)."""
    batch: list[PendingReply] = []
    chars = files = 0
    for reply in pending:
        if not reply.ready:  # its files are still on the way: later ones wait behind it
            break
        more_chars, more_files = reply_weight(reply)
        if batch and (chars + more_chars > MAX_BATCH_CHARS or files + more_files > MAX_BATCH_FILES):
            break
        batch.append(reply)
        chars, files = chars + more_chars, files + more_files
    return batch
