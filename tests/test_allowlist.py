"""AutoForge's command allowlist: which commands a spec's stack needs that AutoForge's
bash hook refuses by default, and the lines that allow them in its
`.autoforge/allowed_commands.yaml`. Pure logic, plus an opt-in check against
AutoForge's own hook (set AUTOFORGE_SRC to a checkout of it)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from pathlib import Path

import pytest
import yaml

from slackbot.spec.allowlist import AUTOFORGE_ALLOWS, allowlist_yaml, needed_commands

NODE = "React 18 with Vite Node.js 20 with Express and TypeScript"
STACKS = {
    "sqlite": f"{NODE} SQLite via better-sqlite3, file at ./data/todo.db",
    "postgres": f"{NODE} PostgreSQL 16 in Docker",
    "python": "React 18 Python 3.12 with FastAPI PostgreSQL 16",
    "django": "Django templates Django 5 on Python MySQL 8",
    "stateless": f"{NODE} none - stateless application",
}


def names(stack: str) -> list[str]:
    return [command.name for command in needed_commands(stack)]


def test_each_database_needs_its_own_client():
    assert names(STACKS["sqlite"]) == ["sqlite3"]
    assert names(STACKS["postgres"]) == ["psql"]


def test_a_python_backend_needs_python_and_pip():
    assert names(STACKS["python"]) == ["psql", "python", "python3", "pip", "pip3"]
    assert names(STACKS["django"]) == ["mysql", "python", "python3", "pip", "pip3"]


def test_a_node_stack_without_a_database_needs_nothing():
    assert names(STACKS["stateless"]) == []
    assert allowlist_yaml([]) == ""


def test_only_commands_autoforge_refuses_by_default_are_listed():
    """npm, node and docker are on AutoForge's default list: never asked for."""
    for stack in STACKS.values():
        assert not set(names(stack)) & AUTOFORGE_ALLOWS
    assert {"npm", "node", "docker", "curl", "git"} <= AUTOFORGE_ALLOWS


def test_the_lines_are_autoforges_format():
    text = allowlist_yaml(needed_commands(STACKS["python"]))
    parsed = yaml.safe_load(text)
    assert parsed["version"] == 1
    assert [entry["name"] for entry in parsed["commands"]] == ["psql", "python", "python3", "pip", "pip3"]
    assert all(isinstance(entry["description"], str) and entry["description"] for entry in parsed["commands"])
    assert text.splitlines()[:3] == ["version: 1", "commands:", "  - name: psql"]


def autoforge_security():
    """AutoForge's own security module, from the checkout in AUTOFORGE_SRC (skipped without it)."""
    source = os.environ.get("AUTOFORGE_SRC")
    if not source or not (Path(source) / "security.py").is_file():
        pytest.skip("AUTOFORGE_SRC does not point at an AutoForge checkout")
    spec = importlib.util.spec_from_file_location("autoforge_security", Path(source) / "security.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["autoforge_security"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("stack", list(STACKS))
def test_autoforges_hook_refuses_them_until_our_lines_are_added(stack, tmp_path, monkeypatch):
    security = autoforge_security()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no organisation config of the machine's
    project = tmp_path / "project"
    project.mkdir()
    commands = needed_commands(STACKS[stack])

    def hook(command: str) -> dict:
        call = {"tool_name": "Bash", "tool_input": {"command": command}}
        return asyncio.run(security.bash_security_hook(call, context={"project_dir": str(project)}))

    assert AUTOFORGE_ALLOWS == security.ALLOWED_COMMANDS  # our copy of its default list is current
    for command in commands:
        assert hook(f"{command.name} --version").get("decision") == "block", command.name
    (project / ".autoforge").mkdir()
    (project / ".autoforge/allowed_commands.yaml").write_text(allowlist_yaml(commands) or "version: 1\n")
    for command in commands:
        assert hook(f"{command.name} --version") == {}, command.name
    if "python" in names(STACKS[stack]):
        assert hook("python -m pip install fastapi") == {}
