"""How a session starts its `claude` CLI: the bot's settings for sessions, the SDK
options of one process, and the spend limit the CLI enforces itself. Knows the
Agent SDK, nothing of Slack."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_agent_sdk import ClaudeAgentOptions, HookMatcher
from claude_agent_sdk.types import SessionStore

from ..config import Settings
from .cli_process import bundled_cli, write_launcher
from .confine import ALLOWED_TOOLS
from .transport import TransportFactory, transport_factory

log = logging.getLogger(__name__)

SESSION_TOOLS = sorted(ALLOWED_TOOLS)
MAX_MESSAGE_BYTES = 128 * 2**20
OVER_BUDGET = "error_max_budget_usd"  # the result subtype of a turn the CLI's spend limit stopped
# Rounding between the CLI's totals and the store's sums: not a change of budget.
CENTS_NOISE = 1e-6


@dataclass(frozen=True)
class SessionSettings:
    """What every session needs from the bot's configuration."""

    model: str
    skill_file: Path
    templates_dir: Path
    max_turns: int
    turn_timeout: float = 600.0  # seconds without any output before a turn is interrupted
    # The launcher that starts the CLI without the bot's secrets (see cli_process);
    # None runs the SDK's default (only for tests of the session alone).
    cli_path: Path | None = None
    # What sessions talk to instead of the CLI (a benchmark's stand-in, see transport.py).
    transport: TransportFactory | None = None

    @classmethod
    def for_bot(cls, settings: Settings) -> SessionSettings:
        """The bot's sessions: its model and skill, and a CLI launcher in its state folder."""
        launcher = write_launcher(settings.state_dir / "bin", bundled_cli(), settings.cli_niceness)
        return cls(
            model=settings.claude_model,
            skill_file=settings.skill_file,
            templates_dir=settings.templates_dir,
            max_turns=settings.max_turns,
            turn_timeout=settings.turn_timeout_seconds,
            cli_path=launcher,
            transport=transport_factory(),
        )

    def system_prompt(self, project_dir: Path) -> str:
        skill = self.skill_file.read_text(encoding="utf-8")
        return skill.replace("$ARGUMENTS", str(project_dir)).replace("$TEMPLATES", str(self.templates_dir))


@dataclass(frozen=True)
class SpendCap:
    """The limit one CLI process was started with (`--max-budget-usd`), a second line of
    defence behind the store's budgets, which stop a turn from starting.

    The CLI counts its limit from the process's start, while the total it reports runs
    over the whole conversation (kept across resume); so a process is started with what
    the budgets leave, and what it may still spend is that less its spend since."""

    limit: float | None = None  # None: no limit
    total_at_start: float = 0.0  # the conversation's running total when the process started

    def left(self, total: float) -> float | None:
        return None if self.limit is None else self.limit - (total - self.total_at_start)

    def outdated(self, wanted: float | None, total: float) -> bool:
        """Whether the process must be restarted for its limit to be `wanted` (what the
        budgets leave now), given the conversation's running `total`."""
        left = self.left(total)
        if wanted is None or left is None:
            return (wanted is None) != (left is None)
        # Too tight (a budget was raised, a new day began): the CLI would stop a turn the
        # budgets allow. Far too loose (a budget was lowered, or others spent a shared daily
        # budget): restart. A little loose is kept, so that interviews sharing a daily
        # budget don't restart their CLI at every turn; the store's check still holds.
        return wanted > left + CENTS_NOISE or wanted < left / 2


ToolCheck = Callable[..., Awaitable[Any]]


def build_options(
    settings: SessionSettings, project_dir: Path, *, env: dict[str, str], session_id: str | None, model: str,
    spend_limit: float | None, can_use_tool: ToolCheck, guard_hook: ToolCheck,
    session_store: SessionStore | None = None,
) -> ClaudeAgentOptions:
    """The options of one CLI process for this project's conversation; with
    `session_store`, every entry of its transcript is mirrored there (see resume.py for
    how a resume loads it back)."""
    return ClaudeAgentOptions(
        cli_path=settings.cli_path,
        env=env,
        system_prompt=settings.system_prompt(project_dir),
        cwd=str(project_dir),
        model=model,
        tools=list(SESSION_TOOLS),
        include_partial_messages=True,
        max_turns=settings.max_turns,
        max_budget_usd=spend_limit,
        resume=session_id,
        can_use_tool=can_use_tool,
        hooks={"PreToolUse": [HookMatcher(matcher=None, hooks=[guard_hook], on_failure="block")]},
        # Ignore user/project settings files: they could add hooks or tools.
        setting_sources=[],
        # Room for oversized tool calls to be parsed, and then refused by our
        # guard, instead of killing the session's message reader.
        max_buffer_size=MAX_MESSAGE_BYTES,
        stderr=lambda line: log.debug("claude[%s]: %s", project_dir.name, line),
        session_store=session_store,
        # Each entry goes to the store as the CLI reports it, not once per turn: a process
        # killed mid-turn (or right after it) leaves what it wrote in the store, so a resume
        # on any machine has it and `delivered` sees it. (The SDK also flushes before it
        # hands over each result, so a turn's end is stored before the bot records the turn.)
        session_store_flush="eager",
    )
