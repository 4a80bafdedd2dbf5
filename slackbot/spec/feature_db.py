"""`slackbot check` after AutoForge's initializer: its features database against the spec.

The database is the one AutoForge resolves (`spec.feature_database`), opened
read-only. Compared only when it has rows: AutoForge's orchestrator creates an
empty one before its initializer runs. What differs is a check problem, but not
one Claude can fix by editing the spec files, so it stays out of the repair loop
(like the root copy, `root_copy.problem`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .feature_compare import Row, compare
from .files import feature_database, read_only

log = logging.getLogger(__name__)

# Why a difference can't be fixed by editing the spec alone.
ONCE = (
    "AutoForge's initializer creates the features only while the database has none, so a changed "
    "spec does not reach it: make the spec and the database agree (AutoForge's web UI edits features), "
    "or, before any feature is built, move the database aside so the initializer creates them again"
)


class Unreadable(Exception):
    """The database is there but can't be read; the message says why, for people."""


@dataclass
class Comparison:
    """What `check` says about the features database."""

    path: str  # relative to the project, as AutoForge resolves it
    rows: int | None = None  # None: unreadable
    compared: bool = False  # False when unreadable, or the spec has nothing to compare with
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        matches = not self.problems if self.compared else None
        return {"path": self.path, "features": self.rows, "matches": matches}


def compare_with_spec(project: Path, features: list[dict[str, Any]], stated: int | None) -> Comparison | None:
    """The database compared with the spec's bulk payload (or, free-form, its stated count);
    None when there is no database or it has no features yet."""
    rel = feature_database(project)
    if rel is None:
        return None
    comparison = Comparison(str(rel))
    try:
        rows = read_rows(project / rel)
    except Unreadable as exc:
        log.warning("could not read %s: %s", project / rel, exc)
        comparison.problems.append(f"can't be read, so it was not compared with the spec: {exc}")
        return comparison
    if not rows:
        return None
    comparison.rows = len(rows)
    if not features and stated is None:
        comparison.notes.append(f"{rel}: the spec states no feature count to compare its {len(rows)} features with")
        return comparison
    comparison.compared = True
    comparison.problems = compare(features, rows, stated)
    if comparison.problems:
        comparison.notes.append(f"{rel}: {ONCE}")
    return comparison


def read_rows(path: Path) -> list[Row]:
    """The features in id order (creation order), read-only; waits up to LOCK_WAIT for a writer.
    Dependencies are read as AutoForge reads them: a list of ints, anything else is none."""
    try:
        with read_only(path) as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(features)")}
            if not columns:
                raise Unreadable("it has no features table")
            # Databases from before AutoForge added dependencies lack the column until it migrates them.
            dependencies = "dependencies" if "dependencies" in columns else "NULL"
            found = db.execute(f"SELECT id, category, name, {dependencies} FROM features ORDER BY id").fetchall()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise Unreadable(f"{exc} (AutoForge is writing to it): try again in a moment") from exc
        raise Unreadable(str(exc)) from exc
    except (sqlite3.Error, OSError, ValueError) as exc:
        raise Unreadable(str(exc)) from exc
    return [Row(row_id, category or "", name or "", _ids(stored)) for row_id, category, name, stored in found]


def _ids(stored: object) -> tuple[int, ...]:
    if isinstance(stored, (str, bytes)):
        try:
            stored = json.loads(stored)
        except ValueError:
            return ()
    if not isinstance(stored, list):
        return ()
    return tuple(d for d in stored if isinstance(d, int) and not isinstance(d, bool))
