"""Shared fixtures: the fake Anthropic API that the real `claude` CLI talks to,
and settings pointing the bot at temp folders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from slackbot.session import SessionSettings
from tests.fakes import anthropic as fa

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
async def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[fa.FakeAnthropic]:
    """A scripted model; the CLI (which inherits os.environ) is pointed at it, offline."""
    for var in fa.PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    async with fa.FakeAnthropic() as fake:
        for key, value in fa.cli_env(fake.base_url, tmp_path).items():
            monkeypatch.setenv(key, value)
        yield fake


@pytest.fixture
def session_settings() -> SessionSettings:
    skill_dir = REPO / ".claude"
    return SessionSettings(
        model="opus",
        skill_file=skill_dir / "commands" / "create-spec.md",
        templates_dir=skill_dir / "templates",
        max_turns=50,
    )
