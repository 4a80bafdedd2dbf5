"""Our output through AutoForge's REAL code: its `feature_create_bulk` on the payloads
`slackbot check DIR --json` accepts (and one it refuses), its layout migration and
root-copy step followed by a revision through our `root_copy.refresh`, and the empty
features database its orchestrator creates. Opt-in: nothing of AutoForge's is kept in
this repository; the tests import it from a checkout named by AUTOFORGE_SRC and skip
without it (or without the packages its code needs).

AutoForge needs SQLAlchemy 2 and mcp 1.x (its feature server imports
`mcp.server.fastmcp`, which mcp 2 removed), so run these in a separate venv:

    git --git-dir=<mirror of leonvanzyl/autocoder> archive HEAD | tar -x -C /tmp/af-src
    python3 -m venv /tmp/af-venv
    /tmp/af-venv/bin/pip install -e '.[test]' 'sqlalchemy>=2' 'mcp<2'
    AUTOFORGE_SRC=/tmp/af-src /tmp/af-venv/bin/python -m pytest tests/test_autoforge_real.py -n 0

Without AUTOFORGE_SRC (e.g. `.venv/bin/python -m pytest tests/test_autoforge_real.py`) they skip.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from slackbot.spec import root_copy
from slackbot.spec.files import find_features, spec_paths
from tests.test_check_json import check_json
from tests.test_features_exist import bulk_created
from tests.test_handoff import revised_spec
from tests.test_interview_flow import prompt_for, spec_for
from tests.test_validate import OMIT, category, feature, infrastructure, itemised, make

DB = ".autoforge/features.db"


def autoforge(module: str) -> ModuleType:
    """One of AutoForge's own modules, imported from the checkout in AUTOFORGE_SRC (skipped without it)."""
    source = os.environ.get("AUTOFORGE_SRC")
    if not source or not (Path(source) / "mcp_server/feature_mcp.py").is_file():
        pytest.skip("AUTOFORGE_SRC does not point at an AutoForge checkout")
    if source not in sys.path:
        sys.path.append(source)  # its modules import each other as top-level modules (api, prompts, ...)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        pytest.skip(f"AutoForge's {module} needs {exc.name} (sqlalchemy 2, mcp<2): see this file's docstring")


@pytest.fixture
def bulk(monkeypatch):
    """Calls AutoForge's feature_create_bulk on a project's features database, created by its own
    create_database (the database its MCP server opens in its lifespan, from PROJECT_DIR).

    Importing mcp_server.feature_mcp only builds the FastMCP object; the server starts in
    `__main__`. The tool is the module's plain function (FastMCP's decorator returns it), and its
    database session maker is the module global the server's lifespan sets: we set that global
    for the call instead of starting the stdio server."""
    server = autoforge("mcp_server.feature_mcp")
    database = autoforge("api.database")
    engines = []

    def create(project: Path, features: list[dict[str, Any]]) -> dict[str, Any]:
        engine, session_maker = database.create_database(project)
        engines.append(engine)
        monkeypatch.setattr(server, "_engine", engine)
        monkeypatch.setattr(server, "_session_maker", session_maker)
        # The payload crosses MCP as JSON: give the tool what JSON gives it.
        return json.loads(server.feature_create_bulk(json.loads(json.dumps(features))))

    yield create
    for engine in engines:
        engine.dispose()


def rows(project: Path) -> list[tuple[Any, ...]]:
    """What a features database holds, as AutoForge stored it (dependencies decoded from JSON)."""
    with closing(sqlite3.connect(project / DB)) as db:
        found = db.execute(
            "SELECT id, priority, category, name, description, steps, dependencies, passes, in_progress"
            " FROM features ORDER BY priority"
        ).fetchall()
    return [(*row[:5], json.loads(row[5]), json.loads(row[6]) if row[6] else None, *row[7:]) for row in found]


def expected_rows(features: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Our payload as AutoForge should store it on an empty database: ids and priorities 1..N in
    order, each depends_on_indices as the sorted ids of those features, NULL when there are none."""
    return [
        (i, i, item["category"], item["name"], item["description"], item["steps"],
         sorted(d + 1 for d in item["depends_on_indices"]) or None, 0, 0)
        for i, item in enumerate(features, 1)
    ]


def generated_spec(seed: int) -> tuple[str, int]:
    """A random itemised spec (5 Infrastructure features, then up to 60 more in a few categories,
    each depending on up to 6 earlier non-Infrastructure ones) and its feature count."""
    rng = random.Random(seed)
    total = rng.randint(6, 65)
    tasks = []
    for i in range(6, total + 1):
        earlier = rng.sample(range(6, i), k=min(i - 6, rng.randint(0, 6)))
        name = f"User can do thing {i}"
        name += " & see it <at once>" if i % 7 == 0 else " — “ünïcode” ✓" if i % 5 == 0 else ""
        tasks.append(feature(i, name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
                             depends_on=", ".join(map(str, earlier)) if earlier else OMIT))
    size = rng.randint(3, 20)
    groups = [category(f"Area {n}", *tasks[n : n + size]) for n in range(0, len(tasks), size)]
    return itemised(infrastructure(), *groups), total


def accepted_payload(project: Path) -> list[dict[str, Any]]:
    code, out = check_json(project)
    assert code == 0 and out["ok"], out["problems"]
    return out["features"]


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_feature_create_bulk_creates_exactly_our_payload(tmp_path, bulk, seed):
    if seed is None:  # the example spec, as the bot writes it
        project = make(tmp_path, spec_for("shop"), prompt_for("shop"))
    else:
        spec, total = generated_spec(seed)
        project = make(tmp_path, spec, prompt_for("shop", total))
    payload = accepted_payload(project)
    answer = bulk(project, payload)
    assert answer == {"created": len(payload), "with_dependencies": sum(1 for f in payload if f["depends_on_indices"])}
    assert rows(project) == expected_rows(payload)
    # Our stand-in for AutoForge in the other tests stores the same rows as the real thing.
    ours = tmp_path / "ours"
    bulk_created(ours, payload)
    assert rows(ours) == rows(project)
    # And our check reads AutoForge's database back as matching the spec.
    code, out = check_json(project)
    assert code == 0 and out["database"] == {"path": DB, "features": len(payload), "matches": True}


def test_a_payload_our_check_refuses_is_refused_by_feature_create_bulk(tmp_path, bulk):
    # Infrastructure written in <depends_on>: the initializer adds all five anyway, so 2 appears twice.
    spec = itemised(infrastructure(), category("Tasks", feature(6), feature(7, depends_on="2, 6")))
    project = make(tmp_path, spec, prompt_for("shop", 7))
    code, out = check_json(project)
    assert code == 1 and [p["feature"] for p in out["problems"]] == [7]
    assert out["features"][6]["depends_on_indices"] == [0, 1, 1, 2, 3, 4, 5]
    answer = bulk(project, out["features"])
    assert answer == {"error": "Feature at index 6 has duplicate dependencies"}
    assert rows(project) == []  # the whole batch refused


def test_layout_migration_root_copy_then_a_revision(tmp_path):
    paths = autoforge("autoforge_paths")
    prompts = autoforge("prompts")
    project = make(tmp_path, spec_for("shop"), prompt_for("shop"))  # as the bot leaves it
    # AutoForge's start (autonomous_agent_demo.py), then its initializer's first step (agent.py).
    assert "prompts/ -> .autoforge/prompts/" in paths.migrate_project_layout(project)
    prompts.migrate_project_to_current(project)
    prompts.copy_spec_to_project(project)
    live = project / ".autoforge/prompts/app_spec.txt"
    assert spec_paths(project)[0] == live == paths.get_prompts_dir(project) / "app_spec.txt"
    assert (project / "app_spec.txt").read_text() == spec_for("shop")
    assert check_json(project)[0] == 0

    live.write_text(revised_spec())  # the revision, where the bot's Claude writes it
    (live.parent / "initializer_prompt.md").write_text(prompt_for("shop", 9))
    prompts.copy_spec_to_project(project)  # AutoForge never copies over an existing root copy
    assert (project / "app_spec.txt").read_text() == spec_for("shop")
    assert check_json(project)[0] == 1
    said = root_copy.refresh(project)
    assert said == f"Refreshed `{project / 'app_spec.txt'}`, {root_copy.AGENTS_READ}, with this spec."
    assert (project / "app_spec.txt").read_text() == revised_spec() == prompts.get_app_spec(project)
    assert check_json(project)[0] == 0
    assert paths.migrate_project_layout(project) == []  # its next start leaves it as it is


@pytest.mark.parametrize("engine_open", [True, False], ids=["orchestrator-running", "orchestrator-stopped"])
def test_the_orchestrators_empty_database_then_its_bulk_create(tmp_path, bulk, engine_open):
    database = autoforge("api.database")
    project = make(tmp_path, spec_for("shop"), prompt_for("shop"))
    engine, _ = database.create_database(project)  # what parallel_orchestrator.py does first
    assert (project / DB).is_file()
    if not engine_open:
        engine.dispose()
    found = find_features(project)
    assert not found.exist and found.unreadable is None
    bulk(project, accepted_payload(project))
    if not engine_open:
        engine.dispose()
    found = find_features(project)
    assert found.exist and found.unreadable is None
