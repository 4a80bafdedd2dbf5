"""Project names, project folders and the two spec files.

Pure logic: no Slack, no SDK. The session layer feeds `SpecTracker` the tool
calls and tool results it sees; the tracker decides when the spec is complete.
"""

from __future__ import annotations

import os
import re
import sqlite3
import xml.etree.ElementTree as ET
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .feature_rules import NUMBER

NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,50}")
NAME_RULES = "1–50 characters, only letters A–Z, digits, `-` and `_` (for example `todo-app`)"

# Words of the command itself (`list`, `help`, `usage`, `budget`),
# and Windows device names: a folder called `con` or `lpt1` can't be opened
# there. Compared case-insensitively, like everything about names.
COMMAND_WORDS = frozenset({"list", "help", "usage", "budget"})
DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
)

# The two spec files by name: their folder is wherever AutoForge keeps prompts (prompts_dir).
APP_SPEC = "app_spec.txt"
INITIALIZER_PROMPT = "initializer_prompt.md"
SPEC_FILES = (APP_SPEC, INITIALIZER_PROMPT)
# Where AutoForge looks for a project's prompts, in its order; its first run moves
# `prompts/` to `.autoforge/prompts/`. New specs go to `prompts/`, which every
# AutoForge version reads.
PROMPTS_FOLDERS = (Path(".autoforge/prompts"), Path(".autocoder/prompts"), Path("prompts"))


def inside(path: Path, folder: Path) -> bool:
    """Whether `path` is in `folder` once symlinks and `..` are resolved."""
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def prompts_dir(project: Path) -> Path:
    """The project's prompts folder as AutoForge resolves it (`prompts/` for a new one)."""
    return next((project / rel for rel in PROMPTS_FOLDERS if (project / rel).is_dir()), project / "prompts")


def spec_paths(project: Path) -> tuple[Path, ...]:
    """The two spec files where they live now: the only files Claude may write."""
    folder = prompts_dir(project)
    return tuple(folder / name for name in SPEC_FILES)

# Tools whose success means a file's content was (re)written.
WRITING_TOOLS = frozenset({"Write", "Edit", "MultiEdit"})


class InvalidName(ValueError):
    """The text is not a usable project name; the message says why, for a person."""


def check_name(text: str) -> str:
    """Return the project name in `text`, or raise InvalidName explaining what is wrong."""
    name = _check_pattern(text)
    lowered = name.lower()
    if lowered in COMMAND_WORDS:
        raise InvalidName(
            f"`{name}` is one of the command's own words (`list`, `help`, `usage`, `budget`), so it can't be a "
            f"project name. Pick another, for example `{lowered}-app`."
        )
    if lowered in DEVICE_NAMES:
        raise InvalidName(
            f"`{name}` is a reserved device name on Windows (like `con`, `nul`, `com1` or `lpt1`), so its "
            f"folder couldn't be opened there. Pick another, for example `{lowered}-app`."
        )
    return name


def _check_pattern(text: str) -> str:
    """The name's characters and length only: all that keeps a name from addressing a path."""
    name = text.strip()
    if not name:
        raise InvalidName(f"Give the project a name: `/newspec my-app`. Names are {NAME_RULES}.")
    if NAME_PATTERN.fullmatch(name) is None:
        shown = name if len(name) <= 60 else name[:57] + "…"
        raise InvalidName(f"`{shown}` can't be a project name. Names are {NAME_RULES}.")
    return name


def same_name(a: str, b: str) -> bool:
    """Names that differ only in case are one project (one folder on macOS and Windows)."""
    return a.casefold() == b.casefold()


def existing_spelling(generations_dir: Path, name: str) -> str:
    """The spelling of the project folder that `name` means: an existing folder whose
    name matches exactly, else one matching case-insensitively, else `name` itself.

    Reads the directory listing rather than asking the file system whether a path
    exists, because a case-insensitive file system says yes to any spelling.
    """
    try:
        with os.scandir(generations_dir) as entries:
            folders = sorted(entry.name for entry in entries if entry.is_dir())
    except OSError:  # no generations folder yet, or unreadable: nothing exists
        return name
    if name in folders:
        return name
    return next((folder for folder in folders if same_name(folder, name)), name)


def project_dir(generations_dir: Path, name: str) -> Path:
    """The absolute folder for a project; `name` must already have passed check_name.

    An existing folder spelled in another case is that project's folder, so
    `Shop` and `shop` never become two projects on a case-sensitive disk.
    """
    root = generations_dir.resolve()
    # Only the pattern here (not the reserved words): an interview saved before a
    # word was reserved must still find its folder after an upgrade.
    path = (root / existing_spelling(root, _check_pattern(name))).resolve()
    if path.parent != root:  # belt and braces: the name pattern already forbids this
        raise InvalidName(f"`{name}` does not name a folder inside {root}.")
    return path


def has_spec(folder: Path) -> bool:
    """True when the project folder holds a finished spec from an earlier interview."""
    return spec_paths(folder)[0].is_file()


def back_up_spec(folder: Path, now: datetime | None = None) -> Path:
    """Move the project's prompts folder (wherever AutoForge keeps it) aside to a dated
    folder beside it (never delete people's files)."""
    prompts = prompts_dir(folder)
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    backup = prompts.with_name(f"prompts.backup-{stamp}")
    suffix = 1
    while backup.exists():
        suffix += 1
        backup = prompts.with_name(f"prompts.backup-{stamp}-{suffix}")
    prompts.rename(backup)
    return backup


# AutoForge's features database, where it resolves it: the first that exists, newest layout first.
FEATURE_DATABASES = (Path(".autoforge/features.db"), Path(".autocoder/features.db"), Path("features.db"))
LEGACY_FEATURE_LIST = "feature_list.json"  # before the database, AutoForge kept features here
LOCK_WAIT = 1.0  # seconds to wait for AutoForge to finish a write before saying it is locked


@dataclass(frozen=True)
class FoundFeatures:
    """Whether AutoForge has created this project's features, as it decides it: then
    its initializer won't run again, so later spec changes do not re-create them."""

    exist: bool
    unreadable: str | None = None  # why the database could not be read, for people


def feature_database(project: Path) -> Path | None:
    """The features database AutoForge would use (relative to the project), if any."""
    return next((rel for rel in FEATURE_DATABASES if (project / rel).is_file()), None)


def read_only(path: Path) -> closing[sqlite3.Connection]:
    """A connection that can't write `path`, waiting up to LOCK_WAIT for a writer."""
    return closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=LOCK_WAIT))


def find_features(project: Path) -> FoundFeatures:
    """At least one row in AutoForge's features database, or a legacy feature list. An
    empty database does not count: AutoForge's orchestrator creates one before its
    initializer runs. Read-only; blocks up to LOCK_WAIT, so call it off the event loop."""
    if (project / LEGACY_FEATURE_LIST).is_file():
        return FoundFeatures(True)
    rel = feature_database(project)
    if rel is None:
        return FoundFeatures(False)
    try:
        with read_only(project / rel) as db:
            (count,) = db.execute("SELECT COUNT(*) FROM features").fetchone()
    except (sqlite3.Error, OSError, ValueError) as exc:
        return FoundFeatures(False, f"`{rel}`: {exc}")
    return FoundFeatures(count > 0)


@dataclass
class SpecTracker:
    """Counts the spec as written only when a tool result confirms each file.

    Tool calls are matched to their results by tool_use id; a failed write does
    not count. State carries across turns, and each completion is reported once.
    """

    project: Path
    _pending: dict[str, Path] = field(default_factory=dict)
    _written: set[Path] = field(default_factory=set)
    _reported: bool = False

    @classmethod
    def restore(cls, project: Path, written: tuple[str, ...], reported: bool) -> SpecTracker:
        """Rebuild from `snapshot()`, e.g. after a restart."""
        tracker = cls(project)
        tracker._written = {project / rel for rel in written}
        tracker._reported = reported
        return tracker

    def snapshot(self) -> tuple[tuple[str, ...], bool]:
        """The confirmed spec files (relative to the project) and whether that was reported."""
        written = tuple(sorted(str(p.relative_to(self.project)) for p in self._written))
        return written, self._reported

    @property
    def targets(self) -> tuple[Path, ...]:
        return spec_paths(self.project)

    def tool_called(self, tool_use_id: str, tool_name: str, tool_input: dict) -> None:
        if tool_name not in WRITING_TOOLS:
            return
        raw = tool_input.get("file_path")
        if not isinstance(raw, str) or not raw:
            return
        path = Path(raw)
        if not path.is_absolute():
            path = self.project / path
        path = path.resolve()
        if path in self.targets:
            self._pending[tool_use_id] = path

    def tool_finished(self, tool_use_id: str, is_error: bool) -> Path | None:
        """Record a tool result; return the spec file it confirmed, if any."""
        path = self._pending.pop(tool_use_id, None)
        if path is None or is_error:
            return None
        self._written.add(path)
        # A confirmed rewrite after a completion (the team asked for changes)
        # re-arms the report, so the revised files are delivered too.
        self._reported = False
        return path

    def take_completion(self) -> tuple[Path, ...] | None:
        """Both spec files, once per completion: when both are confirmed and on disk."""
        if self._reported or not all(p in self._written and p.is_file() for p in self.targets):
            return None
        self._reported = True
        return self.targets


@dataclass(frozen=True)
class SpecSummary:
    name: str
    stack: str  # e.g. "React 18 · Node.js 20 with Express · SQLite"
    feature_count: int | None
    technology: str = ""  # the whole technology_stack section's text, for what the stack needs


def summarize_spec(path: Path) -> SpecSummary:
    """The headline facts of an app_spec.txt, for the end-of-interview card.

    Tolerates a spec that is not well-formed XML (validation is a separate step):
    then the facts are read with plain patterns.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        root = ET.fromstring(text)
        name = (root.findtext("project_name") or "").strip()
        count_text = (root.findtext("feature_count") or "").strip()
        parts = [
            root.findtext(f"technology_stack/{where}") or ""
            for where in ("frontend/framework", "backend/runtime", "backend/database")
        ]
        section = root.find("technology_stack")
        technology = " ".join(section.itertext()) if section is not None else ""
    except ET.ParseError:
        def find(tag: str) -> str:
            match = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.S)
            return match.group(1) if match else ""

        name, count_text = find("project_name").strip(), find("feature_count").strip()
        parts = [find("framework"), find("runtime"), find("database")]
        technology = re.sub(r"<[^>]*>", " ", find("technology_stack"))
    stack = " · ".join(" ".join(p.split()) for p in parts if p.strip()) or "not stated"
    # ASCII digits only: str.isdigit() takes "²", which int() refuses.
    count = int(count_text) if NUMBER.fullmatch(count_text) else None
    return SpecSummary(name or path.parent.parent.name, stack, count, " ".join(technology.split()))
