"""The comparison of AutoForge's stored features with the spec's bulk payload, on its own."""

from __future__ import annotations

from typing import Any

from slackbot.spec.feature_compare import Row, compare


def payload(*names: str, deps: dict[int, list[int]] | None = None) -> list[dict[str, Any]]:
    deps = deps or {}
    return [
        {"category": "Tasks", "name": name, "description": "d", "steps": ["s"], "depends_on_indices": deps.get(i, [])}
        for i, name in enumerate(names)
    ]


def stored(features: list[dict[str, Any]], first_id: int = 1) -> list[Row]:
    """Rows as feature_create_bulk writes them on a database whose next id is `first_id`."""
    rows = []
    for i, item in enumerate(features):
        dependencies = tuple(first_id + d for d in sorted(item["depends_on_indices"]))
        rows.append(Row(first_id + i, item["category"], item["name"], dependencies))
    return rows


NAMES = ("Add a task", "Edit a task", "Delete a task", "Archive a task", "Share a list")
DEPS = {1: [0], 2: [0], 3: [0, 1], 4: [0]}


def test_the_same_features_match_whatever_ids_they_got():
    features = payload(*NAMES, deps=DEPS)
    assert compare(features, stored(features)) == []
    assert compare(features, stored(features, first_id=40)) == []  # an earlier batch took ids 1..39


def test_whitespace_in_names_does_not_count():
    features = payload(*NAMES)
    rows = stored(features)
    rows[0] = Row(1, "Tasks", "  Add  a task ")
    assert compare(features, rows) == []


def test_a_missing_feature_and_the_counts():
    features = payload(*NAMES, deps=DEPS)
    rows = stored([f for i, f in enumerate(features) if i != 2])
    rows = [Row(r.id, r.category, r.name, tuple(d for d in r.dependencies if d <= 2)) for r in rows]
    assert compare(features, rows) == [
        "the database has 4 features, the spec 5",
        'missing from the database: 3 "Delete a task"',
    ]


def test_a_rename_beside_a_missing_feature():
    features = payload(*NAMES)
    rows = stored(payload("Add a task", "Edit one task", "Archive a task", "Share a list"))
    assert compare(features, rows) == [
        "the database has 4 features, the spec 5",
        'missing from the database: 3 "Delete a task"',
        'renamed: 2 "Edit a task" is "Edit one task" in the database',
    ]


def test_extra_features_are_named_by_their_database_id():
    features = payload(*NAMES)
    rows = [*stored(features), Row(6, "Tasks", "Print a list")]
    assert compare(features, rows) == [
        "the database has 6 features, the spec 5",
        'only in the database: id 6 "Print a list"',
    ]


def test_a_moved_feature_is_not_missing():
    features = payload(*NAMES)
    order = [0, 1, 3, 4, 2]
    rows = [Row(n + 1, "Tasks", NAMES[i]) for n, i in enumerate(order)]
    assert compare(features, rows) == ['in another order in the database: 3 "Delete a task" is id 5']


def test_categories_and_dependencies_in_the_spec_ids():
    features = payload(*NAMES, deps=DEPS)
    rows = stored(features)
    rows[3] = Row(4, "functional", NAMES[3], (1,))  # lost its dependency on 2
    rows[4] = Row(5, "Tasks", NAMES[4], (1, 99))  # 99: a row that is gone
    assert compare(features, rows) == [
        'other categories: 4 "Archive a task" is in Tasks in the spec, functional in the database',
        'other dependencies: 4 "Archive a task" depends on 1, 2 in the spec, on 1 in the database; '
        '5 "Share a list" depends on 1 in the spec, on 1 in the database (and on id 99, which no row has)',
    ]


def test_long_lists_are_cut():
    features = payload(*(f"Feature {n}" for n in range(1, 13)))
    assert compare(features, stored(features[:2])) == [
        "the database has 2 features, the spec 12",
        'missing from the database: 3 "Feature 3"; 4 "Feature 4"; 5 "Feature 5"; 6 "Feature 6"; '
        '7 "Feature 7"; and 5 more',
    ]


def test_a_free_form_spec_compares_only_the_count():
    rows = [Row(i, "functional", f"Thing {i}") for i in range(1, 29)]
    assert compare([], rows, stated=30) == ["the database has 28 features, the spec 30"]
    assert compare([], rows, stated=28) == []
    assert compare([], rows, stated=None) == []


def test_an_empty_database_is_missing_everything():
    features = payload(*NAMES[:2])
    assert compare(features, []) == [
        "the database has 0 features, the spec 2",
        'missing from the database: 1 "Add a task"; 2 "Edit a task"',
    ]
