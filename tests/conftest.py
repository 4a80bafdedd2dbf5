"""Shared fixtures: the fake Anthropic API that the real `claude` CLI talks to,
settings pointing the bot at temp folders, and the store's engine.

Engines: tests run on SQLite. A test using the `store` fixture, and every test of a
module marked `both_engines`, runs on PostgreSQL too (a real server the tests start).
`NEWSPEC_TEST_DATABASE=postgres pytest` runs the whole suite on PostgreSQL, leaving out
the tests marked `sqlite_only` (they read the SQLite file itself)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from slackbot.app import Bot
from slackbot.claude.prompt import TURN_LEAD
from slackbot.claude.session import SessionSettings
from slackbot.config import Settings
from slackbot.slack.blocks import STOP_ACTION
from slackbot.slack.scheduler import RateLimits
from slackbot.store import PostgresStore, SqliteStore
from tests import postgres
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack, Message
from tests.postgres import PostgresServer

REPO = Path(__file__).resolve().parent.parent
FAST_LIMITS = RateLimits().faster(20)
ENGINES = ("sqlite", "postgres")
# The engine of every test, when set (the whole suite on PostgreSQL).
ONLY_ENGINE = os.environ.get("NEWSPEC_TEST_DATABASE", "").strip().lower() or None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Both engines for store tests and modules marked `both_engines`, unless one is chosen."""
    if "engine" not in metafunc.fixturenames or ONLY_ENGINE or metafunc.definition.get_closest_marker("sqlite_only"):
        return
    if "store" in metafunc.fixturenames or metafunc.definition.get_closest_marker("both_engines"):
        metafunc.parametrize("engine", ENGINES, indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if ONLY_ENGINE and ONLY_ENGINE != "sqlite":
        skip = pytest.mark.skip(reason="reads the SQLite file itself")
        for item in items:
            if item.get_closest_marker("sqlite_only"):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server per test worker, started when a test first needs it."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", None) or ONLY_ENGINE or "sqlite")


@pytest.fixture(autouse=True)
def database_url(engine: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    """A fresh PostgreSQL database for this test, or None on SQLite. `bot_env` hands it to
    every bot; it is kept in tests.postgres, the one module object both this conftest and
    the test modules that import `tests.conftest` (a second copy of it) see."""
    if engine == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    postgres.current_database = server.fresh_database()
    try:
        yield postgres.current_database
    finally:
        postgres.current_database = None


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

    def __init__(
        self, slack: FakeSlack, model: fa.FakeAnthropic, settings: Settings, limits_window: float | None = None
    ) -> None:
        self.slack, self.model, self.settings = slack, model, settings
        self.limits_window = limits_window or FAST_LIMITS.window  # seconds the budgets are counted over
        self.generations = settings.generations_dir
        self.bot: Bot | None = None

    def project(self, name: str) -> Path:
        return self.generations / name

    async def start(self) -> None:
        # A short update interval and budgets counted over 3 s instead of a
        # minute keep the suite fast; production uses 1 s and Slack's tiers. A
        # budget set in NEWSPEC_RATE_LIMITS is taken as it is.
        per_minute = {**FAST_LIMITS.per_minute, **dict(self.settings.rate_limits)}
        limits = dataclasses.replace(FAST_LIMITS, per_minute=per_minute, window=self.limits_window)
        self.bot = Bot(self.settings, min_interval=0.05, rate_limits=limits)
        connections = self.slack.connections_opened
        await self.bot.start_socket_mode()
        await self.slack.wait_for(
            lambda: self.slack.connections_opened > connections, what="socket mode connection"
        )
        await self.slack.wait_connected()

    async def stop(self, grace: float | None = None) -> None:
        if self.bot is not None:
            bot, self.bot = self.bot, None
            await bot.stop(grace)

    async def restart(self) -> None:
        """A clean, in-process restart: same Slack, same state dir, a new Bot."""
        await self.stop()
        await self.start()

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

    def answers(self, channel: str, thread_ts: str) -> list[Message]:
        """The bot's messages in a thread, leaving out the live status line (it has a Stop button)."""
        return [
            m for m in self.slack.thread(channel, thread_ts)
            if m.user == self.slack.bot_user_id and not is_status_line(m)
        ]

    async def settled(self, channel: str, thread_ts: str, text: str) -> list[Message]:
        """The thread's answer messages once `text` shows and every message in it is finished:
        no stream open, no Stop button left under a posted one."""
        await self.wait_for_text(channel, thread_ts, text)

        def finished() -> list[Message] | None:
            msgs = self.slack.thread(channel, thread_ts)
            if any(m.stream_state == "streaming" or is_status_line(m) for m in msgs):
                return None
            return self.answers(channel, thread_ts) or None

        return await self.slack.wait_for(finished, what="the answer's messages to be finished")

    async def wait_for_text(self, channel: str, thread_ts: str, text: str, timeout: float = 60) -> None:
        # Claude's words follow a CLI start (or a resume's), which beside a heavy test on the
        # other worker has taken over 15 s: a wait for that, not a timing threshold.
        await self.slack.wait_for(
            lambda: text in self.slack.thread_text(channel, thread_ts),
            timeout=timeout,
            what=f"{text!r} in thread {thread_ts}",
        )


def process_env(**settings: str) -> dict[str, str]:
    """The environment for the bot run as a subprocess: this test's (with the fake
    model's CLI settings) minus any Slack or newspec settings, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NEWSPEC_"))}
    return {**env, **settings}


def is_status_line(message: Message) -> bool:
    return any(
        element.get("action_id") == STOP_ACTION
        for block in message.blocks or []
        for element in block.get("elements", [])
    )


def bot_env(slack: FakeSlack, tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The bot's settings for a test: the fakes, temp folders, and this test's database."""
    database = {"NEWSPEC_DATABASE_URL": postgres.current_database} if postgres.current_database else {}
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": "xapp-test",
        "SLACK_API_URL": slack.api_url,
        "GENERATIONS_DIR": str(tmp_path / "generations"),
        "NEWSPEC_STATE_DIR": str(tmp_path / "state"),
        **database,
        **overrides,
    }
    if env.get("NEWSPEC_DATABASE_URL"):  # replicas' shared folder is set up beforehand
        Path(env["GENERATIONS_DIR"]).mkdir(parents=True, exist_ok=True)
    return env


@pytest.fixture
async def start_bot(
    model: fa.FakeAnthropic, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[Harness]]]:
    """Start a fake Slack (with the given options) and the bot connected to it.

    `env` adds or overrides the bot's environment settings.
    """
    started: list[Harness] = []

    async def start(
        env: dict[str, str] | None = None, *, limits_window: float | None = None, **slack_options: object
    ) -> Harness:
        slack = FakeSlack(**slack_options)  # type: ignore[arg-type]
        await slack.start()
        settings = Settings.from_env(bot_env(slack, tmp_path, **(env or {})))
        harness = Harness(slack, model, settings, limits_window)
        started.append(harness)
        await harness.start()
        return harness

    yield start
    for harness in reversed(started):
        await harness.stop(grace=0)
        await harness.slack.stop()


def people_said(request: fa.ModelRequest) -> str:
    """What people said in a turn, as the model got it: after the lead every turn starts with."""
    text = request.last_user_text
    assert text.startswith(TURN_LEAD + "\n\n"), text[:200]
    return text.removeprefix(TURN_LEAD + "\n\n")


@pytest.fixture
async def store(tmp_path: Path, database_url: str | None) -> AsyncIterator[SqliteStore | PostgresStore]:
    """The real state store: SQLite in this test's own folder, or its own PostgreSQL database."""
    store = PostgresStore(database_url) if database_url else SqliteStore(tmp_path / "state.db")
    await store.open()
    yield store
    await store.close()


def bot_store(tmp_path: Path) -> SqliteStore | PostgresStore:
    """The store a bot started by `start_bot` in this test uses (not opened)."""
    if postgres.current_database:
        return PostgresStore(postgres.current_database)
    return SqliteStore(tmp_path / "state" / "newspec.db")


async def reopen(store: SqliteStore | PostgresStore) -> SqliteStore | PostgresStore:
    """The same database opened anew, as after a restart."""
    await store.close()
    again = PostgresStore(store.url) if isinstance(store, PostgresStore) else SqliteStore(store.path)
    await again.open()
    return again


def held(started: asyncio.Event, release: asyncio.Event, answer: str) -> fa.Step:
    """A model turn that starts, then waits for the test to release it."""

    async def step(request: fa.ModelRequest) -> fa.Turn:
        started.set()
        await release.wait()
        return fa.text(answer)

    return step
