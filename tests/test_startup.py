"""Starting the bot as an operator would: `python -m slackbot`."""

import subprocess
import sys

import pytest

from tests.conftest import bot_env, process_env
from tests.fakes import anthropic as fa


def _run(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = process_env(**env_extra)
    return subprocess.run(
        [sys.executable, "-m", "slackbot", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_missing_bot_token_stops_with_one_line_and_exit_2():
    result = _run({})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SLACK_BOT_TOKEN" in lines[0] and "xoxb-" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [("NEWSPEC_RATE_LIMITS", "chat.update=0"), ("NEWSPEC_IDLE_MINUTES", "nan"), ("NEWSPEC_CLI_NICE", "²")],
)
def test_a_setting_that_would_stop_the_bot_is_refused_at_start_up(variable, value):
    """Nothing starts (so nothing can divide by zero later): one line naming the variable, exit 2."""
    result = _run({
        "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_APP_TOKEN": "xapp-test",
        "SLACK_API_URL": "http://127.0.0.1:9/api/", variable: value,
    })
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], result.stderr


def test_http_mode_asks_for_the_signing_secret():
    result = _run({"SLACK_BOT_TOKEN": "xoxb-test"}, "--http", "--port", "0")
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET" in result.stderr and "Traceback" not in result.stderr


async def test_the_console_command_serves_slack_and_stops_cleanly_on_sigterm(model, tmp_path):
    """`python -m slackbot` as an operator runs it: Socket Mode to Slack, a greeting, exit 0."""
    import asyncio
    import signal

    from tests.fakes.slack import FakeSlack

    async with FakeSlack() as slack:
        env = process_env(**bot_env(slack, tmp_path))
        model.script(str(tmp_path / "generations" / "demo"), [fa.text("Hello from a real process!")])
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "slackbot", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            await slack.wait_connected(timeout=30)
            await slack.send_slash_command("demo", user_id="U1", channel_id="C1")
            root = await slack.wait_for(lambda: next((m for m in slack.messages if "*demo*" in m.text), None))
            await slack.wait_for(
                lambda: "Hello from a real process!" in slack.thread_text("C1", root.ts), timeout=30
            )
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, stderr.decode()[-2000:]
        assert b"Traceback" not in stderr
        assert b"will be unused" not in stderr  # Bolt's warning about SLACK_BOT_TOKEN, at every start


def test_a_database_url_without_a_shared_generations_dir_stops_start_up():
    """Replicas on one database must share their project folders: say so and exit 2, before connecting anywhere."""
    env = process_env(
        SLACK_BOT_TOKEN="xoxb-test", SLACK_APP_TOKEN="xapp-test", SLACK_API_URL="http://127.0.0.1:9/api/",
        NEWSPEC_DATABASE_URL="postgresql://newspec:secret@127.0.0.1:9/newspec",
    )
    env.pop("GENERATIONS_DIR", None)
    result = subprocess.run([sys.executable, "-m", "slackbot"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "GENERATIONS_DIR" in lines[0] and "shared" in lines[0], result.stderr
    assert "secret" not in result.stderr
