"""After AutoForge's initializer has run, `slackbot check DIR` also compares its
features database with the spec: the database should hold exactly the payload
`check --json` gives for `feature_create_bulk`, in order. AutoForge never checks
the count itself, and its initializer runs only once, so a difference stays.
Each database here is built as AutoForge's bulk tool fills it, from our payload."""

from __future__ import annotations

import copy
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from slackbot.spec.feature_compare import Row
from slackbot.spec.feature_db import read_rows
from tests.test_check_json import check_json, run_check
from tests.test_features_exist import bulk_created, features_db
from tests.test_interview_flow import prompt_for, spec_for
from tests.test_validate import AUTOFORGE_INITIALIZER, make, skill_written

DB = ".autoforge/features.db"


def project_and_payload(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    project = make(tmp_path, spec_for("shop"), prompt_for("shop"))
    code, out = check_json(project)
    assert code == 0 and out["ok"]
    return project, out["features"]


def db_problems(out: dict[str, Any]) -> list[str]:
    return [p["message"] for p in out["problems"] if p["file"] == DB]


def test_a_database_as_the_initializer_left_it_passes(tmp_path):
    project, payload = project_and_payload(tmp_path)
    bulk_created(project, payload)
    code, out = check_json(project)
    assert code == 0 and out["ok"] and out["problems"] == []
    assert out["database"] == {"path": DB, "features": 8, "matches": True}
    plain = run_check(project)
    assert plain.returncode == 0 and f"{DB} matches the spec (8 features)" in plain.stdout


def test_the_orchestrators_empty_database_is_not_compared(tmp_path):
    project, _ = project_and_payload(tmp_path)
    features_db(project, 0)
    code, out = check_json(project)
    assert code == 0 and out["ok"] and out["database"] is None


def test_a_missing_feature_is_named_and_the_counts_given(tmp_path):
    project, payload = project_and_payload(tmp_path)
    stored = copy.deepcopy(payload)
    del stored[6]  # "User can mark a task done and undo it"; nothing depends on it
    bulk_created(project, stored)
    code, out = check_json(project)
    assert code == 1 and out["ok"] is False
    assert db_problems(out) == [
        "the database has 7 features, the spec 8",
        'missing from the database: 7 "User can mark a task done and undo it"',
    ]
    assert out["database"] == {"path": DB, "features": 7, "matches": False}


def test_a_renamed_feature_is_named(tmp_path):
    project, payload = project_and_payload(tmp_path)
    stored = copy.deepcopy(payload)
    stored[5]["name"] = "User can create a task"
    bulk_created(project, stored)
    code, out = check_json(project)
    assert code == 1
    assert db_problems(out) == ['renamed: 6 "User can add a task" is "User can create a task" in the database']


def test_a_different_category_is_named(tmp_path):
    project, payload = project_and_payload(tmp_path)
    stored = copy.deepcopy(payload)
    stored[7]["category"] = "functional"
    bulk_created(project, stored)
    code, out = check_json(project)
    assert code == 1
    assert db_problems(out) == [
        'other categories: 8 "User can delete a task after confirming" is in Tasks in the spec, '
        "functional in the database"
    ]


def test_a_different_dependency_is_named(tmp_path):
    project, payload = project_and_payload(tmp_path)
    stored = copy.deepcopy(payload)
    stored[7]["depends_on_indices"] = [0, 1, 2, 3, 4, 6]  # 7 where the spec says 6
    bulk_created(project, stored)
    code, out = check_json(project)
    assert code == 1
    assert db_problems(out) == [
        'other dependencies: 8 "User can delete a task after confirming" depends on 1–6 in the spec, '
        "on 1–5, 7 in the database"
    ]


def test_an_extra_feature_is_named(tmp_path):
    project, payload = project_and_payload(tmp_path)
    stored = [*copy.deepcopy(payload), {**payload[5], "name": "User can share a list", "depends_on_indices": []}]
    bulk_created(project, stored)
    code, out = check_json(project)
    assert code == 1
    assert db_problems(out) == [
        "the database has 9 features, the spec 8",
        'only in the database: id 9 "User can share a list"',
    ]


def test_a_free_form_spec_is_compared_by_count(tmp_path):
    project = make(tmp_path, skill_written(30), AUTOFORGE_INITIALIZER.format(count=30), name="recipes")
    features_db(project, 28)
    code, out = check_json(project)
    assert code == 1 and db_problems(out) == ["the database has 28 features, the spec 30"]
    features_db(project, 2)  # the initializer's second batch
    code, out = check_json(project)
    assert code == 0 and out["database"] == {"path": DB, "features": 30, "matches": True}


def test_a_database_on_the_older_layout_is_found(tmp_path):
    project, payload = project_and_payload(tmp_path)
    bulk_created(project, payload[:-1], where="features.db")
    code, out = check_json(project)
    assert code == 1 and [p["file"] for p in out["problems"]] == ["features.db", "features.db"]


def test_a_corrupt_database_is_said_not_a_crash(tmp_path):
    project, _ = project_and_payload(tmp_path)
    db = project / DB
    db.parent.mkdir()
    db.write_bytes(b"SQLite format 3\0" + b"\xff" * 200)
    code, out = check_json(project)
    assert code == 1
    [message] = db_problems(out)
    assert message.startswith("can't be read, so it was not compared with the spec")
    assert out["database"] == {"path": DB, "features": None, "matches": None}
    assert db.read_bytes() == b"SQLite format 3\0" + b"\xff" * 200  # read, never written
    plain = run_check(project)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr


def test_a_locked_database_is_said(tmp_path):
    project, payload = project_and_payload(tmp_path)
    path = bulk_created(project, payload)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")  # AutoForge mid-write, in rollback-journal mode
        code, out = check_json(project)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert code == 1
    [message] = db_problems(out)
    assert "locked" in message and "try again" in message


def test_dependencies_are_read_as_autoforge_reads_them(tmp_path):
    path = features_db(tmp_path, 4)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE features SET dependencies = 'null' WHERE id = 1")  # SQLAlchemy's JSON None
        db.execute("UPDATE features SET dependencies = '[1, \"2\", true]' WHERE id = 2")  # only ints count
        db.execute("UPDATE features SET dependencies = 'not json' WHERE id = 3")
        db.execute("UPDATE features SET dependencies = '[3, 1]' WHERE id = 4")
    assert [row.dependencies for row in read_rows(path)] == [(), (1,), (), (3, 1)]


def test_a_database_from_before_dependencies_is_read(tmp_path):
    path = tmp_path / "features.db"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE features (id INTEGER PRIMARY KEY, priority INTEGER, category TEXT, name TEXT)")
        db.execute("INSERT INTO features VALUES (1, 1, 'Tasks', 'Add a task')")
    assert read_rows(path) == [Row(1, "Tasks", "Add a task")]
