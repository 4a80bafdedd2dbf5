"""What `/newspec usage` and `/newspec budget` show, and how a budget change is read.

Pure text and Block Kit dicts: no Slack SDK, no store. Amounts are US dollars and
days UTC days (YYYY-MM-DD), as the spend ledger keeps them. Every list is cut to
its top rows ("…and 12 more"), so a report stays within Slack's limits in a
workspace of any size.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..markup import code, escape, usd
from ..spend.budget import Budgets
from ..store import SpendRow
from .blocks import CONTEXT_TEXT, MAX_BLOCKS, SECTION_TEXT, shorten
from .feedback import feedback_line

WINDOW_DAYS = 30  # today and the 29 UTC days before it
TOP = 15  # rows of a list (people, interviews) before "…and K more"
OFF_WORDS = frozenset({"off", "none"})
BUDGET_FORM = "`/newspec budget <interview|person|workspace|turns> <amount|off>`"
ADMINS_SEE_ALL = (
    "You see the turns your own messages started. Workspace admins and the people in "
    "`NEWSPEC_ADMINS` see everyone's spend."
)


@dataclass(frozen=True)
class BudgetKind:
    word: str  # in `/newspec budget <word> <amount>`
    field: str  # the `Budgets` field: also the name the store keeps an override under
    label: str
    setting: str  # the environment variable that sets it at start-up
    whole: bool = False  # a number of turns, not dollars


KINDS = (
    BudgetKind("interview", "per_interview", "Per interview", "NEWSPEC_MAX_COST_PER_INTERVIEW"),
    BudgetKind("person", "per_user_day", "Per person per UTC day", "NEWSPEC_MAX_COST_PER_USER_DAY"),
    BudgetKind("workspace", "per_day", "Whole workspace per UTC day", "NEWSPEC_MAX_COST_PER_DAY"),
    BudgetKind("turns", "turns_per_interview", "Model turns per interview", "NEWSPEC_MAX_TURNS_PER_INTERVIEW",
               whole=True),
)
BY_WORD = {kind.word: kind for kind in KINDS}


class BadBudget(ValueError):
    """The budget change can't be made; the message says why, for a person."""


@dataclass(frozen=True)
class BudgetChange:
    kind: BudgetKind
    value: float | None  # None: no limit


@dataclass(frozen=True)
class Report:
    text: str  # the notification text; Slack shows the blocks
    blocks: list[dict[str, Any]]


# -- budgets -----------------------------------------------------------------------


def parse_budget(words: list[str]) -> BudgetChange:
    """`interview 5`, `person $2.50`, `turns 40`, `workspace off`…; BadBudget otherwise."""
    if len(words) != 2 or words[0].lower() not in BY_WORD:
        raise BadBudget(f"To change a budget: {BUDGET_FORM}, for example `/newspec budget interview 5`.")
    kind, raw = BY_WORD[words[0].lower()], words[1]
    if raw.lower() in OFF_WORDS:
        return BudgetChange(kind, None)
    try:
        value = float(raw if kind.whole else raw.removeprefix("$"))
    except ValueError:
        value = math.nan
    unit = "whole number of turns" if kind.whole else "amount of US dollars, like `5` or `2.50`"
    if not math.isfinite(value) or value <= 0 or (kind.whole and value != int(value)):
        raise BadBudget(
            f"{code(raw)} isn't a budget: give a positive {unit}, or `off` for no limit. Nothing was changed."
        )
    return BudgetChange(kind, float(int(value)) if kind.whole else value)


def in_force(settings: Budgets, overrides: Mapping[str, float | None]) -> tuple[Budgets, frozenset[str]]:
    """The budgets in force (one set in Slack wins over its setting), and which were set in Slack."""
    return settings.overridden(overrides), frozenset(k.field for k in KINDS if k.field in overrides)


def budget_value(kind: BudgetKind, value: float | None) -> str:
    if value is None:
        return "no limit"
    return f"{int(value):,} turns" if kind.whole else usd(value, as_set=True)


def budget_lines(budgets: Budgets, from_slack: frozenset[str]) -> list[str]:
    lines = []
    for kind in KINDS:
        value = getattr(budgets, kind.field)
        source = "set in Slack" if kind.field in from_slack else f"`{kind.setting}`" if value is not None else ""
        lines.append(f"• {kind.label}: *{budget_value(kind, value)}*" + (f" ({source})" if source else ""))
    return lines


def budgets_text(budgets: Budgets, from_slack: frozenset[str]) -> str:
    """`/newspec budget` without arguments: the budgets in force, for anyone."""
    return "\n".join([
        "*Budgets in force* (checked before each call to Claude):", *budget_lines(budgets, from_slack),
        f"Workspace admins change one with {BUDGET_FORM}.",
    ])


# -- spend -------------------------------------------------------------------------


def since_day(today: str) -> str:
    """The first UTC day of the report's window."""
    return (dt.date.fromisoformat(today) - dt.timedelta(days=WINDOW_DAYS - 1)).isoformat()


def since_time(today: str) -> float:
    """The report's window as a Unix time: the start of its first UTC day."""
    return dt.datetime.fromisoformat(since_day(today)).replace(tzinfo=dt.UTC).timestamp()


def person(user_id: str) -> str:
    return f"<@{escape(user_id)}>"


def project(name: str | None) -> str:
    return "_an interview no longer kept_" if name is None else f"*{escape(name)}*"


def _summed(rows: Iterable[SpendRow], label: Callable[[SpendRow], str]) -> list[tuple[str, float]]:
    """Spend per label, largest first (ties by label, so the order is stable)."""
    totals: defaultdict[str, float] = defaultdict(float)
    for row in rows:
        totals[label(row)] += row.cost_usd
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def _listing(title: str, items: list[tuple[str, float]], noun: str, limit: int = TOP) -> str:
    lines = [f"*{title}*", *(f"• {label} — {usd(cost)}" for label, cost in items[:limit])]
    rest = items[limit:]
    if rest:
        lines.append(f"…and {len(rest):,} more {noun} ({usd(sum(cost for _, cost in rest))})")
    return "\n".join(lines)


def _by_day(rows: list[SpendRow]) -> str:
    days = sorted(_summed(rows, lambda row: row.day), reverse=True)  # newest first
    return _listing("By day", days, "days", limit=WINDOW_DAYS)


def _by_interview(rows: list[SpendRow]) -> str:
    return _listing("By interview", _summed(rows, lambda row: project(row.project)), "interviews")


def _blocks(sections: list[str], footnote: str) -> list[dict[str, Any]]:
    # The lists are cut to TOP rows, far inside these limits; `shorten` is the backstop.
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": shorten(section, SECTION_TEXT)}}
        for section in sections
    ]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": shorten(footnote, CONTEXT_TEXT)}]})
    return blocks[:MAX_BLOCKS]


def workspace_report(
    rows: list[SpendRow], today: str, budgets: Budgets, from_slack: frozenset[str], votes: tuple[int, int] = (0, 0),
) -> Report:
    """For admins: the whole workspace's spend by day, person and interview, and the budgets."""
    total = sum(row.cost_usd for row in rows)
    today_total = sum(row.cost_usd for row in rows if row.day == today)
    people = len({row.user_id for row in rows})
    interviews = len({project(row.project) for row in rows})
    head = (
        f"*newspec spend, last {WINDOW_DAYS} days* ({since_day(today)} to {today}, UTC): *{usd(total)}* "
        f"in total, {usd(today_total)} today, by {people:,} "
        f"{'person' if people == 1 else 'people'} in {interviews:,} interview{'' if interviews == 1 else 's'}."
    )
    sections = [head]
    if rows:
        by_person = _listing("By person", _summed(rows, lambda row: person(row.user_id)), "people")
        sections += [_by_day(rows), by_person, _by_interview(rows)]
    sections.append("\n".join(["*Budgets in force*", *budget_lines(budgets, from_slack)]))
    sections.append(feedback_line(*votes))
    footnote = f"A turn's cost counts for the person whose message started it. Change a budget with {BUDGET_FORM}."
    return Report(head, _blocks(sections, footnote))


def personal_report(rows: list[SpendRow], today: str) -> Report:
    """For everyone else: their own spend by day and interview."""
    total = sum(row.cost_usd for row in rows)
    today_total = sum(row.cost_usd for row in rows if row.day == today)
    head = (
        f"*Your newspec spend, last {WINDOW_DAYS} days* ({since_day(today)} to {today}, UTC): "
        f"*{usd(total)}* in total, {usd(today_total)} today."
    )
    sections = [head, _by_day(rows), _by_interview(rows)] if rows else [head]
    return Report(head, _blocks(sections, ADMINS_SEE_ALL))
