"""HTTP mode: the same app served over aiohttp, with Slack's request signatures checked."""

from __future__ import annotations

import json
import logging
import time

import aiohttp
import pytest

from slackbot.app import Bot
from slackbot.config import Settings
from slackbot.slack.http_mode import SLACK_WINDOW_SECONDS, ReplayGuard
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


# -- checked before anything is parsed, replays refused, nothing leaked ------------------

# 100k nested lists: enough to overflow a recursive JSON parser, well under the 1 MB cap.
NESTED_JSON = '{"type": "event_callback", "event": ' + "[" * 100_000 + "]" * 100_000 + "}"


async def _send(url: str, body: str | bytes, headers: dict[str, str]) -> tuple[int, str, str]:
    """(status, content type, body) as the caller sees them."""
    async with aiohttp.ClientSession() as client, client.post(url, data=body, headers=headers) as resp:
        return resp.status, resp.content_type, await resp.text()


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def _bad_headers(problem: str, body: str) -> dict[str, str]:
    now = int(time.time())
    json_type = {"Content-Type": "application/json"}
    return {
        "unsigned": json_type,
        "wrong-secret": signed_headers("not-the-secret", body),
        "stale": signed_headers(SECRET, body, timestamp=now - 6 * 60),
        "future": signed_headers(SECRET, body, timestamp=now + 6 * 60),
        "timestamp-not-a-number": {**signed_headers(SECRET, body), "X-Slack-Request-Timestamp": "soon"},
        "signature-not-ascii": {**signed_headers(SECRET, body), "X-Slack-Signature": "v0=é"},
    }[problem]


BAD = ["unsigned", "wrong-secret", "stale", "future", "timestamp-not-a-number", "signature-not-ascii"]


@pytest.mark.parametrize("problem", BAD)
async def test_a_bad_request_is_refused_before_its_body_is_parsed(http_bot, model, caplog, problem):
    slack, url, _ = http_bot
    status, content_type, text = await _send(url, NESTED_JSON, _bad_headers(problem, NESTED_JSON))
    assert (status, content_type) == (401, "text/plain") and len(text) < 100
    assert _errors(caplog) == []  # no traceback: the parser never saw the body
    assert slack.messages == [] and model.requests == []


@pytest.mark.parametrize("problem", BAD)
async def test_bad_signatures_are_rejected_with_no_side_effect(http_bot, model, caplog, problem):
    slack, url, settings = http_bot
    body = form_body(slack.slash_command_payload("shop"))
    headers = {**_bad_headers(problem, body), "Content-Type": "application/x-www-form-urlencoded"}
    status, content_type, text = await _send(url, body, headers)
    assert (status, content_type) == (401, "text/plain") and "{" not in text and len(text) < 100
    assert _errors(caplog) == []
    assert slack.messages == [] and slack.response_posts == [] and model.requests == []
    assert not (settings.generations_dir / "shop").exists()


async def test_a_body_that_is_not_utf8_is_refused(http_bot, caplog):
    slack, url, _ = http_bot
    body = b'{"type": "event_callback", "x": "\xff\xfe"}'
    headers = signed_headers(SECRET, "placeholder", content_type="application/json")
    status, _, _ = await _send(url, body, headers)
    assert status == 401 and _errors(caplog) == [] and slack.messages == []


async def test_a_replayed_command_is_refused_and_runs_once(http_bot, model):
    slack, url, settings = http_bot
    model.script(str(settings.generations_dir / "shop"), [fa.text("Hello once.")])
    body = form_body(slack.slash_command_payload("shop"))
    headers = signed_headers(SECRET, body)
    assert (await _send(url, body, headers))[0] == 200
    root = await slack.wait_for(lambda: next((m for m in slack.messages if "*shop*" in m.text), None))
    await slack.wait_for(lambda: "Hello once." in slack.thread_text("C1", root.ts))

    status, content_type, _ = await _send(url, body, headers)  # byte-for-byte the same request
    assert (status, content_type) == (401, "text/plain")
    # The front door answers a replay with 401 before handing anything to Bolt (no listener,
    # no ack, no task is started for it), so by this response it has set nothing off.
    assert [m.ts for m in slack.messages if "*shop*" in m.text] == [root.ts]
    assert slack.response_posts == [] and len(model.requests) == 1  # no "already has an interview"


async def test_slacks_retry_is_not_a_replay(http_bot, model):
    slack, url, _ = http_bot
    event = slack.message_event_payload("C1", "U1", "hello, not in a thread")
    raw = json.dumps(event)
    first = signed_headers(SECRET, raw, timestamp=int(time.time()) - 2)
    assert (await _send(url, raw, first))[0] == 200
    # Slack's retry: the same body, a new timestamp and signature, and X-Slack-Retry-Num.
    retry = {**signed_headers(SECRET, raw), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert (await _send(url, raw, retry))[0] == 200
    assert (await _send(url, raw, retry))[0] == 401  # the retry itself, replayed


async def test_healthz_says_only_that_the_bot_is_up(http_bot):
    _, url, _ = http_bot
    base = url.rsplit("/slack/events", 1)[0]
    async with aiohttp.ClientSession() as client, client.get(f"{base}/healthz") as resp:
        assert resp.status == 200
        assert await resp.text() == '{"ok": true}'


def test_replay_guard_forgets_pairs_once_slack_would_refuse_them_anyway():
    now = [1_000_000.0]
    guard = ReplayGuard(clock=lambda: now[0])
    for i in range(1000):
        assert guard.first_time(str(int(now[0])), f"v0={i}")
    assert not guard.first_time(str(int(now[0])), "v0=7")
    now[0] += SLACK_WINDOW_SECONDS  # still inside the window: still remembered
    assert not guard.first_time(str(1_000_000), "v0=7")
    now[0] += 2 * SLACK_WINDOW_SECONDS  # long past it: all forgotten, so memory stays bounded
    assert guard.first_time(str(int(now[0])), "v0=new") and len(guard) == 1
