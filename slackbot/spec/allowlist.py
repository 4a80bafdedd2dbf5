"""AutoForge's command allowlist, for the summary card: the commands a spec's stack
needs that AutoForge's bash hook refuses by default, and the lines that allow them
in the project's `.autoforge/allowed_commands.yaml`. Pure logic.

The bot never writes that file: widening a coding agent's shell is a person's call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

ALLOWLIST_FILE = ".autoforge/allowed_commands.yaml"

# AutoForge's default allowlist (ALLOWED_COMMANDS in its security.py). Its hook checks
# each command's first word against it, so `python -m pip` needs `python`. A test
# compares this copy with its code when a checkout is at hand.
AUTOFORGE_ALLOWS = frozenset({
    "ls", "cat", "head", "tail", "wc", "grep", "cp", "mkdir", "chmod", "pwd", "echo",
    "npm", "npx", "pnpm", "node", "git", "docker", "ps", "lsof", "sleep", "kill", "pkill",
    "curl", "mv", "rm", "touch", "sh", "bash", "init.sh", "playwright-cli",
})


@dataclass(frozen=True)
class Command:
    name: str
    description: str


def _commands(*pairs: tuple[str, str]) -> tuple[Command, ...]:
    return tuple(Command(name, description) for name, description in pairs)


PYTHON = _commands(
    ("python", "Python interpreter (also python -m pip)"),
    ("python3", "Python 3 interpreter"),
    ("pip", "Python package installer"),
    ("pip3", "Python package installer"),
)
# What a stack's words call for, in the order the card lists them: databases first.
STACK_COMMANDS: tuple[tuple[re.Pattern[str], tuple[Command, ...]], ...] = (
    (re.compile(r"postgres", re.I), _commands(("psql", "PostgreSQL client"))),
    (re.compile(r"sqlite", re.I), _commands(("sqlite3", "SQLite command-line shell"))),
    (re.compile(r"\bmysql\b|\bmariadb\b", re.I), _commands(("mysql", "MySQL client"))),
    (re.compile(r"\bmongo", re.I), _commands(("mongosh", "MongoDB shell"))),
    (re.compile(r"\bpython\b|\bdjango\b|\bflask\b|\bfastapi\b", re.I), PYTHON),
    (re.compile(r"\byarn\b", re.I), _commands(("yarn", "Yarn package manager"))),
    (re.compile(r"\bbun\b", re.I), _commands(("bun", "Bun runtime and package manager"))),
    (re.compile(r"\bdeno\b", re.I), _commands(("deno", "Deno runtime"))),
    (re.compile(r"\brust\b|\bactix\b|\baxum\b", re.I), _commands(("cargo", "Rust build tool"))),
    (re.compile(r"\bgolang\b|\bGo\b"), _commands(("go", "Go toolchain"))),
    (re.compile(r"\bruby\b|\brails\b", re.I), _commands(("ruby", "Ruby interpreter"), ("bundle", "Bundler"))),
    (re.compile(r"\bphp\b|\blaravel\b", re.I), _commands(("php", "PHP interpreter"), ("composer", "Composer"))),
)


def needed_commands(stack: str) -> list[Command]:
    """The commands the stack described in `stack` (the spec's technology_stack) needs
    that AutoForge refuses until its allowlist file names them, each once."""
    found: dict[str, Command] = {}
    for pattern, commands in STACK_COMMANDS:
        if pattern.search(stack):
            for command in commands:
                if command.name not in AUTOFORGE_ALLOWS:
                    found.setdefault(command.name, command)
    return list(found.values())


def allowlist_yaml(commands: Sequence[Command]) -> str:
    """The allowlist file's content in AutoForge's format (`version`, then `commands`
    with a `name` and `description` each); empty when nothing needs allowing."""
    if not commands:
        return ""
    lines = ["version: 1", "commands:"]
    for command in commands:
        lines += [f"  - name: {command.name}", f"    description: {command.description}"]
    return "\n".join(lines) + "\n"
