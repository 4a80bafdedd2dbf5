"""What the conversation's helpers (its questions, spend, delivery, quick mode, Retry,
root watch) may use of it, as a protocol: they take the conversation as a parameter
without importing `conversation.py`, which imports them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..claude.session import SpecSession
from ..metrics import Metrics
from ..slack.relay import ThreadRelay
from ..spend.budget import Budgets
from ..store import InterviewRecord, StateStore


class Conversing(Protocol):
    """One thread's conversation (`conversation.Conversation`), as its helpers see it."""

    record: InterviewRecord
    project_dir: Path
    session: SpecSession
    relay: ThreadRelay
    store: StateStore
    budgets: Budgets
    metrics: Metrics
    changed: Callable[[], object]  # where it stands may have moved (the root shows it)

    @property
    def key(self) -> tuple[str, str]: ...

    async def save(self, **changes: object) -> None: ...

    def wake_up(self) -> None: ...
