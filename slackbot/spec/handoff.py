"""The hand-off to AutoForge: how to build the spec, what it holds, and what the
team's latest answers changed since the spec was last delivered. Pure logic."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from ..markup import code, escape
from .allowlist import ALLOWLIST_FILE, Command, allowlist_yaml

# AutoForge's own entry point, run from its checkout (see its README).
AUTOFORGE_COMMAND = "python autonomous_agent_demo.py --project-dir {folder}"


def build_command(project_dir: Path) -> str:
    return AUTOFORGE_COMMAND.format(folder=project_dir)


def by_category(features: Sequence[dict[str, Any]]) -> list[tuple[str, int]]:
    """Feature counts per category, in the order categories first appear."""
    counts = Counter(str(f.get("category") or "Uncategorised") for f in features)
    order = dict.fromkeys(str(f.get("category") or "Uncategorised") for f in features)
    return [(category, counts[category]) for category in order]


@dataclass(frozen=True)
class FeatureChanges:
    """What changed between two deliveries of a spec, by feature name."""

    before: int
    after: int
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.renamed) or self.before != self.after


@dataclass(frozen=True)
class Handoff:
    """What the summary card tells the team about building the spec."""

    command: str
    categories: list[tuple[str, int]]
    changes: FeatureChanges | None  # None on the first delivery
    root_copy: str | None = None  # what the bot did to AutoForge's root copy of the spec, if anything
    allow: tuple[Command, ...] = ()  # commands the stack needs that AutoForge's bash hook refuses by default


def build_text(handoff: Handoff, project_dir: Path) -> str:
    """How to run AutoForge on the folder (mrkdwn). Its README's route is the web UI
    (`autoforge` from npm, or start_ui in a checkout); there the folder is registered
    through New Project, and "Create with Claude" would delete our app_spec.txt
    (its spec chat session does, to write its own), so the manual route it is."""
    return (
        "*Build it* with AutoForge. In its web UI (`autoforge`, or `./start_ui.sh` in its checkout): "
        f"*New Project*, any name, folder {code(project_dir)}, then *Edit Templates Manually* and *Start Agent*. "
        "Not *Create with Claude*: it deletes this spec's app_spec.txt.\n"
        f"Or its command line, from its checkout:\n```{escape(handoff.command)}```"
    )


def allowlist_text(handoff: Handoff, project_dir: Path) -> str | None:
    """What to allow in AutoForge's allowlist file for this stack (mrkdwn), or None."""
    if not handoff.allow:
        return None
    names = ", ".join(code(command.name) for command in handoff.allow)
    where = code(project_dir / ALLOWLIST_FILE)
    return (
        f"*Commands to allow*: AutoForge's agent can't run {names} until {where} lists them. "
        "Put these lines in it, in place of its `version: 1` and `commands: []` if AutoForge "
        "has created it (I never edit that file):\n"
        f"```{escape(allowlist_yaml(handoff.allow)).rstrip()}```"
    )


def compare(before: Sequence[str], after: Sequence[str]) -> FeatureChanges:
    """Names that left and arrived; a name that left and a much like it that arrived
    count as a rename (the team reworded a feature), e.g. "Delete a task" and
    "Delete a task, with undo"."""
    gone = [name for name in before if name not in set(after)]
    new = [name for name in after if name not in set(before)]
    renamed: list[tuple[str, str]] = []
    for old in gone:
        candidates = [n for n in new if n not in {r[1] for r in renamed}]
        best = max(candidates, key=lambda n: _likeness(old, n), default=None)
        if best is not None and _likeness(old, best) >= RENAME_LIKENESS:
            renamed.append((old, best))
    return FeatureChanges(
        len(before), len(after),
        added=[name for name in new if name not in {r[1] for r in renamed}],
        removed=[name for name in gone if name not in {r[0] for r in renamed}],
        renamed=renamed,
    )


RENAME_LIKENESS = 0.6  # share of characters two names have in common


def _likeness(a: str, b: str) -> float:
    return SequenceMatcher(None, a.lower(), b.lower()).ratio()
