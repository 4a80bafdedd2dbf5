"""What the bot holds is bounded and let go (issue 11, item 2; issue 12, item 8):
one connection pool for Slack, everything closed on stop, a bounded name cache,
and no spurious warning at start-up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Self

import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from slackbot.app import Bot
from slackbot.config import Settings
from slackbot.slack.people import DisplayNames
from slackbot.slack.scheduler import SchedulerClosed
from tests.conftest import FAST_LIMITS
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack


class CountingSlack:
    """A minimal Slack Web API that answers ok and notes which client connection each call came on."""

    def __init__(self) -> None:
        self.connections: set[object] = set()
        self.calls = 0
        self._runner: web.AppRunner | None = None
        self.api_url = ""

    async def api(self, request: web.Request) -> web.Response:
        self.calls += 1
        self.connections.add(request.transport.get_extra_info("peername") if request.transport else None)
        return web.json_response({"ok": True, "channel": "C1", "ts": f"1700000000.{self.calls:06d}"})

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/api/{method}", self.api)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.api_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/api/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def http_settings(api_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret", "SLACK_API_URL": api_url,
            "GENERATIONS_DIR": str(tmp_path / "generations"), "NEWSPEC_STATE_DIR": str(tmp_path / "state"),
        },
        mode="http",
    )


@pytest.fixture
async def counting_slack() -> AsyncIterator[CountingSlack]:
    async with CountingSlack() as slack:
        yield slack


async def test_slack_calls_share_one_connection_pool_closed_on_stop(counting_slack, tmp_path):
    bot = Bot(http_settings(counting_slack.api_url, tmp_path), rate_limits=FAST_LIMITS)
    await bot.start_http("127.0.0.1", 0)
    session = bot.http_session
    try:
        assert session is not None
        assert bot.app.client.session is session and bot.scheduler.client.session is session
        for n in range(10):  # Bolt's client (reads) and the scheduler's (writes), in turn
            await bot.app.client.auth_test()
            await bot.scheduler.post(channel=f"C{n}", text="hello")
    finally:
        await bot.stop()
    assert counting_slack.calls == 20
    # Keep-alive: one connection (two at most, if one was dropped), not one per call.
    assert len(counting_slack.connections) <= 2, counting_slack.connections
    assert session.closed


async def test_stop_interrupted_midway_still_closes_what_comes_after(start_bot, model, tmp_path):
    """Even if stopping is cancelled while turns are finishing, Slack writes and the
    connection pool are still closed (nothing is left open, nothing hangs)."""
    release = asyncio.Event()

    async def slow_answer(request: fa.ModelRequest) -> fa.Turn:
        await release.wait()
        return fa.text("Too late.")

    harness = await start_bot()
    model.script(str(harness.project("slow")), [slow_answer])
    await harness.start_interview("slow")
    await model.wait_for_requests(1, key=str(harness.project("slow")))  # the turn is running
    bot = harness.bot
    assert bot is not None and bot.http_session is not None
    session = bot.http_session
    stopping = asyncio.create_task(bot.stop(grace=60))  # waits for the running turn
    await harness.slack.wait_for(lambda: not harness.slack.connected, what="Socket Mode closed")
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(stopping, 15)
    release.set()
    assert session.closed
    with pytest.raises(SchedulerClosed):
        await bot.scheduler.post(channel="C1", text="after stop")


async def test_no_unused_token_warning_when_the_token_is_in_the_environment(
    counting_slack, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    caplog.set_level(logging.WARNING)
    bot = Bot(http_settings(counting_slack.api_url, tmp_path), rate_limits=FAST_LIMITS)
    await bot.start_http("127.0.0.1", 0)
    await bot.stop()
    assert not [r for r in caplog.records if "will be unused" in r.getMessage()]
    assert bot.app.client.token == "xoxb-test"  # the settings' token, as before


async def test_display_names_are_bounded_and_renames_show_after_they_expire():
    async with FakeSlack() as slack:
        for n in range(1, 5):
            slack.add_user(f"U{n}", display_name=f"person{n}")
        names = DisplayNames(AsyncWebClient(token="xoxb-test", base_url=slack.api_url), ttl_seconds=0.3, max_entries=3)

        def lookups() -> int:
            return len(slack.calls_to("users.info"))

        assert [await names.get(f"U{n}") for n in (1, 2, 3, 4)] == ["person1", "person2", "person3", "person4"]
        assert lookups() == 4
        assert [await names.get(u) for u in ("U4", "U3", "U2")] == ["person4", "person3", "person2"]
        assert lookups() == 4  # the three most recent are remembered
        assert await names.get("U1") == "person1"
        assert lookups() == 5  # the fourth was forgotten: at most three are kept

        slack.add_user("U1", display_name="renamed")

        async def renamed() -> bool:
            return await names.get("U1") == "renamed"

        await slack.wait_for(renamed, timeout=5, what="the new name after the cache entry expired")
