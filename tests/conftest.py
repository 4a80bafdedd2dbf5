"""Shared fixtures: the fake Anthropic API that the real `claude` CLI talks to,
and settings pointing the bot at temp folders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from slackbot.app import Bot
from slackbot.config import Settings
from slackbot.session import SessionSettings
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack

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


class Harness:
    """The bot as in production (its own Settings and Bot), wired to both fakes."""

    def __init__(self, slack: FakeSlack, model: fa.FakeAnthropic, bot: Bot, generations: Path) -> None:
        self.slack, self.model, self.bot, self.generations = slack, model, bot, generations

    def project(self, name: str) -> Path:
        return self.generations / name

    async def start_interview(self, name: str, *, user: str = "U1", channel: str = "C1") -> str:
        """Run `/newspec name`; return the ts of the thread's root message."""
        await self.slack.send_slash_command(name, user_id=user, channel_id=channel)
        root = await self.slack.wait_for(
            lambda: next(
                (m for m in self.slack.messages if m.channel == channel and f"*{name}*" in m.text), None
            ),
            what=f"root message for {name}",
        )
        return root.ts

    async def wait_for_text(self, channel: str, thread_ts: str, text: str, timeout: float = 15) -> None:
        await self.slack.wait_for(
            lambda: text in self.slack.thread_text(channel, thread_ts),
            timeout=timeout,
            what=f"{text!r} in thread {thread_ts}",
        )


@pytest.fixture
async def start_bot(
    model: fa.FakeAnthropic, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[Harness]]]:
    """Start a fake Slack (with the given options) and the bot connected to it."""
    started: list[Harness] = []

    async def start(**slack_options: object) -> Harness:
        slack = FakeSlack(**slack_options)  # type: ignore[arg-type]
        await slack.start()
        settings = Settings.from_env(
            {
                "SLACK_BOT_TOKEN": "xoxb-test",
                "SLACK_APP_TOKEN": "xapp-test",
                "SLACK_API_URL": slack.api_url,
                "GENERATIONS_DIR": str(tmp_path / "generations"),
                "NEWSPEC_STATE_DIR": str(tmp_path / "state"),
            }
        )
        # A short update interval keeps the suite fast; production uses 1 s.
        bot = Bot(settings, min_interval=0.05)
        harness = Harness(slack, model, bot, settings.generations_dir)
        started.append(harness)
        await bot.start_socket_mode()
        await slack.wait_connected()
        return harness

    yield start
    for harness in reversed(started):
        await harness.bot.stop()
        await harness.slack.stop()
