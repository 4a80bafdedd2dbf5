"""Spend limits: checked before each model call (never mid-answer), so a thread
whose budget is used up keeps its replies until the budget allows them.

Costs are charged to the person whose message started a turn, on the UTC day it
ran; the state store keeps them, so the limits hold across restarts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .config import Settings
from .slack_text import usd
from .store import InterviewRecord, StateStore

WARN_AT = 0.8  # of an interview's budget: the thread is told once


def utc_day(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d")


def until_reset(now: dt.datetime | None = None) -> str:
    """How long until the next UTC day begins, e.g. "5 h 12 min"."""
    now = now or dt.datetime.now(dt.UTC)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    minutes = max(1, int((midnight - now).total_seconds() + 59) // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


@dataclass(frozen=True)
class Held:
    """A budget that is used up: which (with the day and person it counts for), and what to say."""

    key: tuple[str, ...]
    sentence: str


@dataclass(frozen=True)
class Budgets:
    per_interview: float | None = None
    per_user_day: float | None = None
    per_day: float | None = None
    turns_per_interview: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Budgets:
        return cls(
            settings.max_cost_per_interview, settings.max_cost_per_user_day, settings.max_cost_per_day,
            settings.max_turns_per_interview,
        )

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.per_interview, self.per_user_day, self.per_day,
                                           self.turns_per_interview))

    async def held(self, store: StateStore, record: InterviewRecord, user_id: str) -> Held | None:
        """The first budget that stops the next model call of this interview, or None."""
        paused = "so I've paused this interview; your reply is saved and"
        if self.per_interview is not None and record.cost_usd >= self.per_interview:
            return Held(
                ("interview", f"{self.per_interview}"),
                f":money_with_wings: This interview has used its budget of {usd(self.per_interview)} "
                f"(spent ${record.cost_usd:.4f}), {paused} I'll answer it once a workspace admin raises "
                "NEWSPEC_MAX_COST_PER_INTERVIEW.",
            )
        if self.turns_per_interview is not None and record.model_turns >= self.turns_per_interview:
            return Held(
                ("turns", f"{self.turns_per_interview}"),
                f":money_with_wings: This interview has used its {self.turns_per_interview:,} model turns "
                f"({record.model_turns:,} taken), {paused} I'll answer it once a workspace admin raises "
                "NEWSPEC_MAX_TURNS_PER_INTERVIEW.",
            )
        day = utc_day()
        if self.per_user_day is not None:
            spent = await store.spent(day=day, user_id=user_id)
            if spent >= self.per_user_day:
                return Held(
                    ("user", day, user_id),
                    f":money_with_wings: <@{user_id}> has used today's budget of {usd(self.per_user_day)} per "
                    f"person (spent ${spent:.4f}), {paused} I'll answer it when the budget resets at "
                    f"00:00 UTC (in {until_reset()}), or sooner if someone else replies.",
                )
        if self.per_day is not None:
            spent = await store.spent(day=day)
            if spent >= self.per_day:
                return Held(
                    ("workspace", day),
                    f":money_with_wings: newspec has used today's budget of {usd(self.per_day)} for the whole "
                    f"workspace (spent ${spent:.4f}), {paused} I'll answer it when the budget resets at "
                    f"00:00 UTC (in {until_reset()}).",
                )
        return None

    def warnings(self, record: InterviewRecord) -> list[tuple[str, str]]:
        """(note key, sentence) for each budget of the interview's own that is 80 % used (not
        yet all of it: then the thread hears why it paused instead)."""
        said: list[tuple[str, str]] = []
        cost, budget = record.cost_usd, self.per_interview
        if budget is not None and WARN_AT * budget <= cost < budget:
            said.append((
                f"warn-cost:{budget}",
                f":warning: This interview has used ${cost:.4f} of its {usd(budget)} budget ({cost / budget:.0%}); "
                "when it runs out I'll pause until a workspace admin raises NEWSPEC_MAX_COST_PER_INTERVIEW.",
            ))
        turns, allowed = record.model_turns, self.turns_per_interview
        if allowed is not None and WARN_AT * allowed <= turns < allowed:
            said.append((
                f"warn-turns:{allowed}",
                f":warning: This interview has taken {turns:,} of its {allowed:,} model turns; when they run "
                "out I'll pause until a workspace admin raises NEWSPEC_MAX_TURNS_PER_INTERVIEW.",
            ))
        return said
