""""Features exist" means what AutoForge means by it: at least one row in its
features database, or a legacy `feature_list.json`. AutoForge's orchestrator
creates an empty database before its initializer runs, so an empty one means
the initializer has yet to create them (and a later spec change still counts)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from slackbot.spec.files import find_features
from tests.fakes import anthropic as fa

# The features table as AutoForge's SQLAlchemy model (api/database.py) creates it.
FEATURES_TABLE = """
CREATE TABLE IF NOT EXISTS features (
    id INTEGER NOT NULL PRIMARY KEY,
    priority INTEGER NOT NULL,
    category VARCHAR(100) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description TEXT NOT NULL,
    steps JSON NOT NULL,
    passes BOOLEAN NOT NULL,
    in_progress BOOLEAN NOT NULL,
    dependencies JSON,
    needs_human_input BOOLEAN NOT NULL,
    human_input_request JSON,
    human_input_response JSON
)"""


def features_db(project: Path, rows: int, where: str = ".autoforge/features.db") -> Path:
    """AutoForge's features database with `rows` features (0: as its orchestrator leaves it
    before the initializer runs)."""
    path = project / where
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(FEATURES_TABLE)
        db.executemany(
            "INSERT INTO features (priority, category, name, description, steps, passes, in_progress,"
            " needs_human_input) VALUES (?, 'Infrastructure', ?, 'd', '[\"s\"]', 0, 0, 0)",
            [(i, f"Feature {i}") for i in range(1, rows + 1)],
        )
    db.close()
    return path


def bulk_created(project: Path, features: list[dict], where: str = ".autoforge/features.db") -> Path:
    """The database after AutoForge's initializer sent `features` (a `check --json` payload) to
    feature_create_bulk on an empty database: priorities 1..N in order, ids assigned by insertion,
    each `depends_on_indices` stored as the sorted ids of those features, NULL when it has none."""
    path = project / where
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(FEATURES_TABLE)
        ids = []
        for priority, item in enumerate(features, 1):
            cursor = db.execute(
                "INSERT INTO features (priority, category, name, description, steps, passes, in_progress,"
                " needs_human_input) VALUES (?, ?, ?, ?, ?, 0, 0, 0)",
                (priority, item["category"], item["name"], item["description"], json.dumps(item["steps"])),
            )
            ids.append(cursor.lastrowid)
        for row_id, item in zip(ids, features, strict=True):
            if item.get("depends_on_indices"):
                stored = sorted(ids[i] for i in item["depends_on_indices"])
                db.execute("UPDATE features SET dependencies = ? WHERE id = ?", (json.dumps(stored), row_id))
    db.close()
    return path


@pytest.mark.parametrize("rows", [0, 1])
async def test_only_a_database_with_features_gets_the_note(start_bot, rows):
    h = await start_bot()
    project = h.project("shop")
    features_db(project, rows)
    h.model.script(str(project), [fa.text("What are you building?")])
    root = await h.start_interview("shop")
    await h.wait_for_text("C1", root, "What are you building?")
    noted = "won't add, remove or rename features" in h.slack.thread_text("C1", root)
    assert noted == (rows > 0)


def test_a_legacy_feature_list_counts(tmp_path):
    (tmp_path / "feature_list.json").write_text(json.dumps([{"name": "x"}]))
    assert find_features(tmp_path).exist


def test_no_database_means_no_features(tmp_path):
    found = find_features(tmp_path)
    assert not found.exist and found.unreadable is None


def test_the_database_autoforge_resolves_is_the_one_read(tmp_path):
    # AutoForge reads `.autoforge/features.db` when it is there, whatever the older places hold.
    features_db(tmp_path, 3, "features.db")
    assert find_features(tmp_path).exist
    features_db(tmp_path, 0)
    assert not find_features(tmp_path).exist


def test_a_corrupt_database_is_said_not_to_be_readable(tmp_path):
    db = tmp_path / ".autoforge" / "features.db"
    db.parent.mkdir()
    db.write_bytes(b"SQLite format 3\0" + b"\xff" * 200)
    found = find_features(tmp_path)
    assert not found.exist and found.unreadable and "features.db" in found.unreadable
    assert db.read_bytes() == b"SQLite format 3\0" + b"\xff" * 200  # read, never written


def test_a_database_without_the_table_is_said_not_to_be_readable(tmp_path):
    db = tmp_path / ".autoforge" / "features.db"
    db.parent.mkdir()
    sqlite3.connect(db).close()
    assert find_features(tmp_path).unreadable


def test_a_locked_database_is_said_not_to_be_readable(tmp_path):
    path = features_db(tmp_path, 2)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")  # AutoForge mid-write, in rollback-journal mode
        found = find_features(tmp_path)
        assert not found.exist and found.unreadable and "locked" in found.unreadable
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert find_features(tmp_path).exist
