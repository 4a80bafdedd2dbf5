"""Spend limits: checked before each model call, so a thread whose budget is used
up keeps its replies until the budget allows them; what is left of the tightest
is also the CLI's own limit for the turn (`headroom`), so one answer can't run far
past it. The values in force are the settings, overridden by those an admin set in
Slack (`current`), read at every check.

Costs are charged to the person whose message started a turn, on the UTC day it
ran; the state store keeps them, so the limits hold across restarts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from ..config import Settings
from ..markup import usd
from ..store import InterviewRecord, StateStore

WARN_AT = 0.8  # of a budget: the thread is told once (per day, for the daily ones)
# How a budget is raised without a restart (the `/newspec budget` command).
RAISE_INTERVIEW = "`/newspec budget interview <dollars>`"
RAISE_TURNS = "`/newspec budget turns <number>`"


def set_usd(amount: float) -> str:
    """A budget as it was set (spend, measured, is plain `usd`)."""
    return usd(amount, as_set=True)


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

    def overridden(self, overrides: Mapping[str, float | None]) -> Budgets:
        """These budgets with those an admin set in Slack (by field name; None: no limit)."""
        changes: dict[str, float | int | None] = {}
        for field in dataclasses.fields(self):
            if field.name in overrides:
                value = overrides[field.name]
                whole = field.name == "turns_per_interview"
                changes[field.name] = None if value is None else int(value) if whole else float(value)
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    async def current(self, store: StateStore) -> Budgets:
        """The budgets in force now: read at every check, so a change in Slack holds from
        the next model call on, without a restart."""
        return self.overridden(await store.budget_overrides())

    async def headroom(self, store: StateStore, record: InterviewRecord, user_id: str) -> float | None:
        """Dollars this interview's next model calls may spend before the tightest budget
        is used up (never below 0); None without a dollar budget."""
        left: list[float] = []
        if self.per_interview is not None:
            left.append(self.per_interview - record.cost_usd)
        day = utc_day()
        if self.per_user_day is not None:
            left.append(self.per_user_day - await store.spent(day=day, user_id=user_id))
        if self.per_day is not None:
            left.append(self.per_day - await store.spent(day=day))
        return max(0.0, min(left)) if left else None

    async def held(self, store: StateStore, record: InterviewRecord, user_id: str) -> Held | None:
        """The first budget that stops the next model call of this interview, or None."""
        paused = "so I've paused this interview; your reply is saved and"
        if self.per_interview is not None and record.cost_usd >= self.per_interview:
            return Held(
                ("interview", f"{self.per_interview}"),
                f":money_with_wings: This interview has used its budget of {set_usd(self.per_interview)} "
                f"(spent {usd(record.cost_usd)}), {paused} I'll answer it once a workspace admin raises it with "
                f"{RAISE_INTERVIEW}.",
            )
        if self.turns_per_interview is not None and record.model_turns >= self.turns_per_interview:
            return Held(
                ("turns", f"{self.turns_per_interview}"),
                f":money_with_wings: This interview has used its {self.turns_per_interview:,} model turns "
                f"({record.model_turns:,} taken), {paused} I'll answer it once a workspace admin raises the limit with "
                f"{RAISE_TURNS}.",
            )
        day = utc_day()
        if self.per_user_day is not None:
            spent = await store.spent(day=day, user_id=user_id)
            if spent >= self.per_user_day:
                return Held(
                    ("user", day, user_id),
                    f":money_with_wings: <@{user_id}> has used today's budget of {set_usd(self.per_user_day)} per "
                    f"person (spent {usd(spent)}), {paused} I'll answer it when the budget resets at "
                    f"00:00 UTC (in {until_reset()}), or sooner if someone else replies.",
                )
        if self.per_day is not None:
            spent = await store.spent(day=day)
            if spent >= self.per_day:
                return Held(
                    ("workspace", day),
                    f":money_with_wings: I've used today's budget of {set_usd(self.per_day)} for the whole "
                    f"workspace (spent {usd(spent)}), {paused} I'll answer it when the budget resets at "
                    f"00:00 UTC (in {until_reset()}).",
                )
        return None

    async def warnings(self, store: StateStore, record: InterviewRecord, user_id: str) -> list[tuple[str, str]]:
        """(note key, sentence) for each budget 80 % used (not yet all of it: then the thread
        hears why it paused instead). Keys of the daily budgets name the day (and person), so
        each is said once a day; `user_id` is whose turns count for the person's budget."""
        said = self._own_warnings(record)
        day = utc_day()
        resets = f"it resets at 00:00 UTC (in {until_reset()})."
        budget = self.per_user_day
        if budget is not None:
            spent = await store.spent(day=day, user_id=user_id)
            if WARN_AT * budget <= spent < budget:
                said.append((
                    f"warn-user:{day}:{user_id}:{budget}",
                    f":warning: <@{user_id}> has used {usd(spent)} of today's {set_usd(budget)} budget per person "
                    f"({spent / budget:.0%}); {resets}",
                ))
        budget = self.per_day
        if budget is not None:
            spent = await store.spent(day=day)
            if WARN_AT * budget <= spent < budget:
                said.append((
                    f"warn-day:{day}:{budget}",
                    f":warning: I've used {usd(spent)} of today's {set_usd(budget)} budget for the whole "
                    f"workspace ({spent / budget:.0%}); {resets}",
                ))
        return said

    def _own_warnings(self, record: InterviewRecord) -> list[tuple[str, str]]:
        """The interview's own budgets: each said once (per budget value)."""
        said: list[tuple[str, str]] = []
        cost, budget = record.cost_usd, self.per_interview
        if budget is not None and WARN_AT * budget <= cost < budget:
            said.append((
                f"warn-cost:{budget}",
                f":warning: This interview has used {usd(cost)} of its {set_usd(budget)} budget ({cost / budget:.0%}); "
                f"when it runs out I'll pause until a workspace admin raises it with {RAISE_INTERVIEW}.",
            ))
        turns, allowed = record.model_turns, self.turns_per_interview
        if allowed is not None and WARN_AT * allowed <= turns < allowed:
            said.append((
                f"warn-turns:{allowed}",
                f":warning: This interview has taken {turns:,} of its {allowed:,} model turns; when they run "
                f"out I'll pause until a workspace admin raises them with {RAISE_TURNS}.",
            ))
        return said
