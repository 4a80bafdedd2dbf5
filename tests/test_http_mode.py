"""HTTP mode: the same app served over aiohttp, with Slack's request signatures checked."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest

from slackbot.app import Bot
from slackbot.config import Settings
from tests.conftest import FAST_LIMITS
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack, form_body, signed_headers

SECRET = "test-signing-secret"


@pytest.fixture
async def http_bot(model, tmp_path):
    async with FakeSlack() as slack:
        settings = Settings.from_env(
            {
                "SLACK_BOT_TOKEN": "xoxb-test",
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": slack.api_url,
                "GENERATIONS_DIR": str(tmp_path / "generations"),
                "NEWSPEC_STATE_DIR": str(tmp_path / "state"),
            },
            mode="http",
        )
        bot = Bot(settings, min_interval=0.05, rate_limits=FAST_LIMITS)
        port = await bot.start_http("127.0.0.1", 0)
        try:
            yield slack, f"http://127.0.0.1:{port}/slack/events", settings
        finally:
            await bot.stop()


async def _post(url: str, body: str, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as client, client.post(url, data=body, headers=headers) as resp:
        return resp.status


async def test_signed_command_starts_an_interview(http_bot, model):
    slack, url, settings = http_bot
    model.script(str(settings.generations_dir / "shop"), [fa.text("Hello over HTTP!")])
    body = form_body(slack.slash_command_payload("shop"))
    assert await _post(url, body, signed_headers(SECRET, body)) == 200
    root = await slack.wait_for(lambda: next((m for m in slack.messages if "*shop*" in m.text), None))
    await slack.wait_for(lambda: "Hello over HTTP!" in slack.thread_text("C1", root.ts))

    event = slack.message_event_payload("C1", "U1", "an answer", thread_ts=root.ts)
    model.script(str(settings.generations_dir / "shop"), [fa.text("Thanks for the answer.")])
    raw = json.dumps(event)
    assert await _post(url, raw, signed_headers(SECRET, raw)) == 200
    await slack.wait_for(lambda: "Thanks for the answer." in slack.thread_text("C1", root.ts))


@pytest.mark.parametrize("problem", ["unsigned", "wrong-secret", "stale"])
async def test_bad_signatures_are_rejected_with_no_side_effect(http_bot, model, problem):
    slack, url, settings = http_bot
    body = form_body(slack.slash_command_payload("shop"))
    headers = {
        "unsigned": {"Content-Type": "application/x-www-form-urlencoded"},
        "wrong-secret": signed_headers("not-the-secret", body),
        "stale": signed_headers(SECRET, body, timestamp=int(time.time()) - 6 * 60),
    }[problem]
    assert await _post(url, body, headers) == 401
    assert slack.messages == [] and model.requests == []
    assert not (settings.generations_dir / "shop").exists()
