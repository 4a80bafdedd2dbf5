"""Starting the bot as an operator would: `python -m slackbot`."""

import os
import subprocess
import sys


def _run(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NEWSPEC_"))}
    env.update(env_extra)
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


def test_http_mode_asks_for_the_signing_secret():
    result = _run({"SLACK_BOT_TOKEN": "xoxb-test"}, "--http", "--port", "0")
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET" in result.stderr and "Traceback" not in result.stderr
