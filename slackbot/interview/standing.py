"""Where an interview stands, as its thread's root message shows it.

Derived from what the conversation knows: its record's status (stored, so a
rebuilt conversation says the same after a restart), its turn's phase, and whether
a budget holds its replies. The conversation calls `changed` whenever one of those
may have moved; the root is told only when the standing really differs. Nothing
here knows Slack: `show` is the relay's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..slack.relay.root import Stage, Standing
from ..spec.files import spec_paths, summarize_spec
from ..store import InterviewRecord, Status
from .conversing import Conversing
from .thread_spend import ThreadSpend
from .turn_state import Phase, TurnState

log = logging.getLogger(__name__)


class Watched(Conversing, Protocol):
    """What the root's watch reads of the conversation: its turn and its spend."""

    state: TurnState
    spend: ThreadSpend



def stage_of(status: Status, phase: Phase, *, held: bool) -> Stage:
    """The stage for a record's status, its turn's phase and a budget's hold (pure)."""
    if status == Status.CANCELLED:
        return Stage.CANCELLED
    if phase is Phase.QUEUED:
        return Stage.QUEUED
    if phase in (Phase.RUNNING, Phase.STOPPING):
        return Stage.INTERVIEWING
    if phase in (Phase.ASKING, Phase.PARKING):
        return Stage.WAITING
    if held:
        return Stage.PAUSED
    return {
        Status.COMPLETE: Stage.READY, Status.FAILED: Stage.FAILED, Status.WAITING: Stage.WAITING,
    }.get(status, Stage.INTERVIEWING)


def feature_count(project: Path) -> int | None:
    """How many features the spec states (None: not stated, or no spec to read)."""
    try:
        return summarize_spec(spec_paths(project)[0]).feature_count
    except OSError as exc:
        log.warning("could not count the features of %s: %s", project, exc)
        return None


class RootWatch:
    """Tells `show` where the conversation stands each time that changes."""

    def __init__(self, conversation: Watched, show: Callable[[Standing], object], *, shown: bool) -> None:
        self.conversation, self.show = conversation, show
        # `shown`: the root already says this (it was just posted); else it is written now.
        self.last: Standing | None = None
        if shown:
            self.last = self.standing()
        conversation.changed = self.changed
        conversation.state.on_change = self.changed
        if not shown:
            self.changed()

    def standing(self) -> Standing:
        c = self.conversation
        record: InterviewRecord = c.record
        stage = stage_of(record.status, c.state.phase, held=c.spend.held_on is not None)
        if stage is Stage.WAITING:  # on the person whose message started the turn (stored)
            return Standing(record.name, record.started_by, stage, waiting_on=record.turn_by or record.started_by)
        if stage is Stage.READY:
            # Read from the spec once per delivery: a revision passes through other stages first.
            last = self.last
            features = last.features if last is not None and last.stage is Stage.READY else feature_count(c.project_dir)
            return Standing(record.name, record.started_by, stage, features=features)
        return Standing(record.name, record.started_by, stage)

    def changed(self) -> None:
        standing = self.standing()
        if standing != self.last:
            self.last = standing
            self.show(standing)
