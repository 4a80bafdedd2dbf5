"""`slackbot check DIR --json`, run as people run it (the console script, in a
subprocess): one JSON object whose `features` is the payload AutoForge's
`feature_create_bulk` takes, with exactly `feature_count` items."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO
from tests.test_interview_flow import prompt_for, spec_for
from tests.test_validate import (
    AUTOFORGE_INITIALIZER,
    OMIT,
    category,
    feature,
    infrastructure,
    itemised,
    make,
    skill_written,
)

SCRIPT = Path(sys.executable).with_name("slackbot")  # .venv/bin/slackbot, the [project.scripts] entry
FIELDS = ("category", "name", "description", "steps")
MAX_DEPENDENCIES = 20  # AutoForge's MAX_DEPENDENCIES_PER_FEATURE


def run_check(project: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "slackbot"]
    return subprocess.run(
        [*command, "check", str(project), *flags], capture_output=True, text=True, timeout=60, cwd=REPO
    )


def check_json(project: Path) -> tuple[int, dict[str, Any]]:
    done = run_check(project, "--json")
    return done.returncode, json.loads(done.stdout)  # the whole output is one JSON object


def bulk_refusal(features: list[dict[str, Any]]) -> str | None:
    """What AutoForge's feature_create_bulk would refuse, checked in its order
    (our code, its rules), plus non-empty fields and the lengths its schema,
    NOT NULL columns and `feature_create` intend; None when it would create them all."""
    for i, item in enumerate(features):
        if not all(key in item for key in FIELDS):
            return f"index {i}: missing required fields"
        if not all(isinstance(item[key], str) and item[key].strip() for key in FIELDS[:3]):
            return f"index {i}: empty category, name or description"
        if len(item["category"]) > 100 or len(item["name"]) > 255:  # String(100), String(255)
            return f"index {i}: category or name longer than AutoForge stores"
        if not item["steps"] or not all(isinstance(s, str) and s.strip() for s in item["steps"]):
            return f"index {i}: no steps"
        indices = item.get("depends_on_indices", [])
        if len(indices) > MAX_DEPENDENCIES:
            return f"index {i}: {len(indices)} dependencies"
        if len(indices) != len(set(indices)):
            return f"index {i}: duplicate dependencies"
        for index in indices:
            if not isinstance(index, int) or index < 0:
                return f"index {i}: invalid dependency {index}"
            if index >= i:
                return f"index {i}: forward reference to {index}"
    return None


def test_the_example_spec_gives_the_bulk_payload(tmp_path):
    code, out = check_json(make(tmp_path, spec_for("shop"), prompt_for("shop")))
    assert code == 0
    assert out["ok"] is True and out["problems"] == [] and out["feature_count"] == 8
    features = out["features"]
    assert len(features) == out["feature_count"]
    assert all(set(item) == {*FIELDS, "depends_on_indices"} for item in features)
    assert bulk_refusal(features) is None
    # AutoForge's infrastructure tier: first, no dependencies; everything after depends on it.
    assert [item["category"] for item in features[:5]] == ["Infrastructure"] * 5
    assert all(item["depends_on_indices"] == [] for item in features[:5])
    assert all({0, 1, 2, 3, 4} <= set(item["depends_on_indices"]) for item in features[5:])


def test_a_large_spec_converts_feature_for_feature(tmp_path):
    rng = random.Random(13)
    tasks, expected = [], []
    for i in range(6, 131):  # 5 Infrastructure + 125 more: an advanced-tier app
        earlier = rng.sample(range(6, i), k=min(i - 6, rng.randint(0, 6)))
        tasks.append(feature(i, f"User can do thing {i}", depends_on=", ".join(map(str, earlier)) if earlier else OMIT))
        expected.append(sorted({0, 1, 2, 3, 4} | {e - 1 for e in earlier}))
    groups = [category(f"Area {n}", *tasks[n : n + 25]) for n in range(0, len(tasks), 25)]
    spec = itemised(infrastructure(), *groups)
    code, out = check_json(make(tmp_path, spec, prompt_for("shop", 130)))
    assert code == 0 and out["ok"] and out["feature_count"] == 130
    features = out["features"]
    assert len(features) == 130 and bulk_refusal(features) is None
    assert [item["depends_on_indices"] for item in features[5:]] == expected
    assert [item["name"] for item in features[5:]] == [f"User can do thing {i}" for i in range(6, 131)]
    assert features[30]["category"] == "Area 25"


def test_problems_name_the_feature(tmp_path):
    spec = itemised(
        infrastructure(),
        category("Tasks", feature(6, depends_on="7"), feature(7, "User can edit a task", steps=OMIT)),
    )
    code, out = check_json(make(tmp_path, spec, prompt_for("shop", 7)))
    assert code == 1 and out["ok"] is False
    assert [(p["file"], p["feature"]) for p in out["problems"]] == [("app_spec.txt", 6), ("app_spec.txt", 7)]
    first = out["problems"][0]["text"]
    assert first.startswith('app_spec.txt: feature 6 ("User can do a thing"): depends on feature 7')
    assert "move feature 7 before this one" in out["problems"][0]["message"]
    assert out["feature_count"] == 7 and len(out["features"]) == 7  # what could be read, for a tool to inspect


def test_a_free_form_spec_passes_with_no_feature_list(tmp_path):
    project = make(tmp_path, skill_written(30), AUTOFORGE_INITIALIZER.format(count=30), name="recipes")
    code, out = check_json(project)
    assert code == 0 and out["ok"] is True
    assert out["feature_count"] == 30 and out["features"] == []
    assert any("derive its 30 features" in note for note in out["notes"])


def test_a_spec_in_the_autoforge_folder(tmp_path):
    project = make(tmp_path, spec_for("shop"), prompt_for("shop"), folder=".autoforge/prompts")
    code, out = check_json(project)
    assert code == 0 and out["ok"] and len(out["features"]) == out["feature_count"] == 8


def test_a_missing_project(tmp_path):
    code, out = check_json(tmp_path / "nothing-here")
    assert code == 1 and out["ok"] is False and out["features"] == [] and out["feature_count"] is None
    assert [p["file"] for p in out["problems"]] == ["app_spec.txt", "initializer_prompt.md"]


def test_plain_check_still_prints_for_people(tmp_path):
    good = run_check(make(tmp_path, spec_for("shop"), prompt_for("shop")))
    assert good.returncode == 0
    assert good.stdout.strip().endswith(f"shop: the spec looks buildable (8 features, in {tmp_path / 'shop/prompts'})")
    bad = run_check(make(tmp_path, spec_for("blog"), prompt_for("blog", 3), name="blog"))
    assert bad.returncode == 1
    assert bad.stdout.splitlines() == [
        "- initializer_prompt.md: says exactly 3 where the spec's feature count is 8",
        "blog: 1 problem",
    ]
