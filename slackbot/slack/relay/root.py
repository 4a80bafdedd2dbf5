"""The thread's root message: where the interview stands, kept up to date in place.

`root_message` renders a standing (pure). `RootMessage` writes it with chat.update at
a low priority: a burst of changes costs one update, and only the latest is written.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..blocks import root_blocks, update_text
from ..scheduler import Priority, SchedulerClosed
from .base import ThreadBase
from .errors import SLACK_ERRORS, slack_error
from .posted import finals_short

log = logging.getLogger(__name__)


class Stage(StrEnum):
    INTERVIEWING = "interviewing"  # Claude is working
    WAITING = "waiting"  # on an answer from people
    QUEUED = "queued"  # waiting for Claude to be free
    PAUSED = "paused"  # a used-up budget holds the replies
    READY = "ready"  # the spec is delivered
    CANCELLED = "cancelled"
    FAILED = "failed"  # the last turn failed; a reply retries


@dataclass(frozen=True)
class Standing:
    name: str
    started_by: str
    stage: Stage
    waiting_on: str | None = None  # a user id, while WAITING
    features: int | None = None  # how many the spec states, once READY

    @property
    def ended(self) -> bool:
        """Nothing more to cancel: the spec is done, or the interview was cancelled."""
        return self.stage in (Stage.READY, Stage.CANCELLED)


def headline(standing: Standing) -> str:
    return f"Spec interview for *{standing.name}*, started by <@{standing.started_by}>"


def state_line(standing: Standing) -> str:
    """One line on where the interview stands (bot markup)."""
    stage = standing.stage
    if stage is Stage.INTERVIEWING:
        return ":speech_balloon: Interviewing: Claude is working on it."
    if stage is Stage.WAITING:
        whom = f" from <@{standing.waiting_on}>" if standing.waiting_on else ""
        return f":raising_hand: Waiting on an answer{whom}. Answer in this thread."
    if stage is Stage.QUEUED:
        return ":hourglass_flowing_sand: Queued behind other interviews. I'll carry on as soon as it's this one's turn."
    if stage is Stage.PAUSED:
        return ":double_vertical_bar: Paused: a spending budget is used up. I'll carry on once it allows."
    if stage is Stage.READY:
        count = standing.features
        features = "" if count is None else f": {count} feature{'s' if count != 1 else ''}"
        return f":white_check_mark: Spec ready{features}. Reply in this thread to change it."
    if stage is Stage.CANCELLED:
        return ":no_entry_sign: Cancelled. The files written so far are kept."
    return ":warning: Something went wrong on my side. Reply in this thread to try again."


def root_message(standing: Standing) -> tuple[str, list[dict[str, Any]]]:
    """The root's notification text and blocks; the Cancel button goes once it has ended."""
    head, line = headline(standing), state_line(standing)
    return update_text(f"{head}: {line}"), root_blocks(f"{head}\n{line}", cancel=not standing.ended)


class RootMessage:
    """Writes a thread's root message as its standing changes (see `RootWatch`)."""

    def __init__(self, relay: ThreadBase) -> None:
        self.relay = relay
        self._latest: Standing | None = None
        self._shown: tuple[str, list[dict[str, Any]]] | None = None
        self._writing = False

    def assume(self, standing: Standing) -> None:
        """The root already says `standing` (it was posted so): not written again."""
        self._shown = root_message(standing)

    def show(self, standing: Standing) -> None:
        """Say `standing` in the root, soon: one writer per root, rendering the latest."""
        self._latest = standing
        if not self._writing:
            self._writing = True
            self.relay.background(self._write())

    async def _write(self) -> None:
        relay = self.relay
        try:
            while self._latest is not None and root_message(self._latest) != self._shown:

                async def update() -> None:
                    assert self._latest is not None
                    text, blocks = root_message(self._latest)  # the latest, as it is sent
                    await relay.scheduler.client.chat_update(
                        channel=relay.channel, ts=relay.thread_ts, text=text, blocks=blocks
                    )
                    self._shown = (text, blocks)

                while finals_short(relay):  # answers still growing owe their last update: they go first
                    await asyncio.sleep(relay.min_interval)
                try:
                    await relay.scheduler.run(
                        "chat.update", update, fair_key=relay.thread_ts, priority=Priority.REFRESH,
                        coalesce_key=f"root:{relay.channel}:{relay.thread_ts}",
                    )
                except SLACK_ERRORS as exc:  # the next change tries again
                    log.warning("could not update the root of %s: %s", relay.thread_ts, slack_error(exc))
                    return
                except SchedulerClosed:
                    return
        finally:
            self._writing = False
