"""GET /metrics: what an operator's Prometheus reads, in Socket Mode (on its own port) and
in HTTP mode (on the app's port), after a real turn through the fakes."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from slackbot.__main__ import parse_args
from slackbot.app import Bot
from slackbot.config import Settings
from tests.conftest import FAST_LIMITS, bot_env, process_env
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack, form_body, signed_headers

SECRET = "test-signing-secret"
GREETING = "Hello! What are we building?"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]  # (name, labels) -> value


async def scrape(url: str) -> Samples:
    """Every sample at `url`, by name and labels, as Prometheus would store it."""
    async with aiohttp.ClientSession() as client, client.get(url) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        text = await resp.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape_after_turn(url: str) -> Samples:
    """The metrics once the greeting turn is counted (the CLI's result arrives after its text)."""
    samples: Samples = {}

    async def counted() -> bool:
        samples.update(await scrape(url))
        return samples.get(("newspec_turns_total", ())) == 1

    for _ in range(300):
        if await counted():
            return samples
        await asyncio.sleep(0.05)
    raise AssertionError(f"no turn counted at {url}: {samples}")


def assert_after_one_turn(samples: Samples, model: fa.FakeAnthropic) -> None:
    assert samples[("newspec_turns_total", ())] == 1
    assert samples[("newspec_turn_duration_seconds_count", ())] == 1
    # The root message was refused once (429) and sent again: two calls, one rate-limited.
    post = (("method", "chat.postMessage"),)
    assert samples[("newspec_slack_calls_total", post)] >= 2
    assert samples[("newspec_slack_rate_limited_total", post)] == 1
    assert samples[("newspec_slack_calls_total", (("method", "chat.startStream"),))] >= 1
    # One CLI process stays live (idle) after its turn; nothing waits for a slot.
    assert samples[("newspec_interviews_live", ())] == 1
    assert samples[("newspec_interviews_waiting_on_people", ())] == 0
    assert samples[("newspec_interviews_queued", ())] == 0
    assert ("newspec_slack_queue_depth", ()) in samples
    assert samples[("newspec_slack_budget_share", ())] == 1  # one replica: the whole budget
    billed_in, billed_out = model.billed()
    assert samples[("newspec_model_tokens_total", (("kind", "output"),))] == billed_out
    assert samples[("newspec_model_tokens_total", (("kind", "input"),))] >= billed_in > 0
    assert samples[("newspec_model_cost_usd_total", ())] > 0


async def test_socket_mode_serves_metrics_on_its_own_port(start_bot):
    h = await start_bot()
    assert h.bot is not None
    port = await h.bot.start_metrics("127.0.0.1", 0)
    h.model.script(str(h.project("shop")), [fa.text(GREETING)])
    h.slack.fail_next("chat.postMessage", "ratelimited")  # the root message: Slack says wait 1 s
    root = await h.start_interview("shop")
    await h.wait_for_text("C1", root, GREETING)
    assert_after_one_turn(await scrape_after_turn(f"http://127.0.0.1:{port}/metrics"), h.model)


async def test_http_mode_serves_metrics_next_to_slack_events(model, tmp_path):
    async with FakeSlack() as slack:
        settings = Settings.from_env(
            {
                "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.api_url,
                "GENERATIONS_DIR": str(tmp_path / "generations"), "NEWSPEC_STATE_DIR": str(tmp_path / "state"),
            },
            mode="http",
        )
        bot = Bot(settings, min_interval=0.05, rate_limits=FAST_LIMITS)
        port = await bot.start_http("127.0.0.1", 0)
        try:
            model.script(str(settings.generations_dir / "shop"), [fa.text(GREETING)])
            slack.fail_next("chat.postMessage", "ratelimited")
            body = form_body(slack.slash_command_payload("shop"))
            async with aiohttp.ClientSession() as client, client.post(
                f"http://127.0.0.1:{port}/slack/events", data=body, headers=signed_headers(SECRET, body)
            ) as resp:
                assert resp.status == 200
            root = await slack.wait_for(lambda: next((m for m in slack.messages if "*shop*" in m.text), None))
            await slack.wait_for(lambda: GREETING in slack.thread_text("C1", root.ts))
            assert_after_one_turn(await scrape_after_turn(f"http://127.0.0.1:{port}/metrics"), model)
        finally:
            await bot.stop()


async def test_each_bot_has_its_own_metrics(start_bot, tmp_path):
    """Two bots in one process (as in these tests, or replicas in one test) never share counts."""
    first = await start_bot()
    (tmp_path / "generations2").mkdir()
    second = await start_bot(
        {"NEWSPEC_STATE_DIR": str(tmp_path / "state2"), "GENERATIONS_DIR": str(tmp_path / "generations2")}
    )
    assert first.bot is not None and second.bot is not None
    first_port = await first.bot.start_metrics("127.0.0.1", 0)
    second_port = await second.bot.start_metrics("127.0.0.1", 0)
    first.model.script(str(first.project("shop")), [fa.text(GREETING)])
    root = await first.start_interview("shop")
    await first.wait_for_text("C1", root, GREETING)
    await scrape_after_turn(f"http://127.0.0.1:{first_port}/metrics")
    other = await scrape(f"http://127.0.0.1:{second_port}/metrics")
    assert other[("newspec_turns_total", ())] == 0
    assert other[("newspec_interviews_live", ())] == 0


@pytest.mark.parametrize(
    ("argv", "port", "host"),
    [([], None, "127.0.0.1"), (["--metrics-port", "9464"], 9464, "127.0.0.1"),
     (["--metrics-port", "9464", "--metrics-host", "0.0.0.0"], 9464, "0.0.0.0")],
)
def test_metrics_port_is_off_unless_given_and_local_by_default(argv, port, host):
    args = parse_args(argv)
    assert (args.metrics_port, args.metrics_host) == (port, host)


async def test_the_console_command_serves_metrics_on_metrics_port(model, tmp_path):
    """`slackbot --metrics-port N` as an operator runs it: /metrics answers on 127.0.0.1:N."""
    with socket.socket() as probe:  # a free port for the bot to take (it is closed again at once)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with FakeSlack() as slack:
        env = process_env(**bot_env(slack, tmp_path))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "slackbot", "--metrics-port", str(port), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            await slack.wait_connected(timeout=30)
            samples: Samples = {}
            for _ in range(100):  # the metrics server starts just after the connection
                try:
                    samples = await scrape(f"http://127.0.0.1:{port}/metrics")
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert samples[("newspec_turns_total", ())] == 0
    assert samples[("newspec_interviews_live", ())] == 0
    assert process.returncode == 0, stderr.decode()[-2000:]


async def test_replicas_on_one_database_split_the_slack_budget_and_show_their_leases(
    start_bot, tmp_path, postgres_server
):
    """Two bots on one PostgreSQL database are two replicas: each spends half the
    workspace's Slack budget (the second waited for the first to count it), and each
    shows the replicas it sees live and the thread leases it holds."""
    url = postgres_server.fresh_database()
    replica = {"NEWSPEC_DATABASE_URL": url, "NEWSPEC_REPLICA_TIMEOUT": "1.5"}
    first = await start_bot(replica)
    assert first.bot is not None
    first_port = await first.bot.start_metrics("127.0.0.1", 0)
    first.model.script(str(first.project("shop")), [fa.text(GREETING)])
    root = await first.start_interview("shop")
    await first.wait_for_text("C1", root, GREETING)
    alone = await scrape(f"http://127.0.0.1:{first_port}/metrics")
    assert alone[("newspec_slack_budget_share", ())] == 1
    assert alone[("newspec_replicas_live", ())] == 1
    assert alone[("newspec_leases_held", ())] == 1  # the thread it answered in

    second = await start_bot({**replica, "NEWSPEC_STATE_DIR": str(tmp_path / "state2")})
    assert second.bot is not None
    second_port = await second.bot.start_metrics("127.0.0.1", 0)
    joined = await scrape(f"http://127.0.0.1:{second_port}/metrics")
    assert joined[("newspec_slack_budget_share", ())] == 0.5  # from its first Slack write on
    assert joined[("newspec_replicas_live", ())] == 2
    assert joined[("newspec_leases_held", ())] == 0
    both = await scrape(f"http://127.0.0.1:{first_port}/metrics")
    assert both[("newspec_slack_budget_share", ())] == 0.5  # it counted the newcomer before it spent
    assert both[("newspec_replicas_live", ())] == 2
