"""What reaches the `claude` CLI: no `@path` a person types or attaches is ever
expanded into the model's context (the CLI does that before any tool permission
runs), and the CLI's environment carries none of the bot's secrets.

Everything here runs through the real bundled CLI against the fake model; the
assertion is always on what the model was actually sent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from slackbot.claude.cli_process import cli_environment
from tests.fakes import anthropic as fa
from tests.test_questions import MODE, ask, click, question_message

HOME_SECRET = "xoxb-from-bash-history-0001"
OTHER_SECRET = "notes-of-another-project-0002"


@pytest.fixture
def secrets(tmp_path: Path) -> dict[str, str]:
    """Two files an attacker would like Claude to see, and `@` references to them."""
    home = tmp_path / "claude-env" / "home"  # the CLI's HOME (see fa.cli_env)
    home.mkdir(parents=True, exist_ok=True)
    (home / ".bash_history").write_text(f"export SLACK_BOT_TOKEN={HOME_SECRET}\n")
    other = tmp_path / "generations" / "other"
    other.mkdir(parents=True)
    (other / "notes.txt").write_text(OTHER_SECRET)
    return {
        "home": "@~/.bash_history",
        "relative": "@../other/notes.txt",
        "absolute": f"@{other / 'notes.txt'}",
    }


def everything_sent(model: fa.FakeAnthropic) -> str:
    bodies = [r.body for r in [*model.requests, *model.utility_requests, *model.unscripted]]
    return json.dumps(bodies)


def assert_nothing_leaked(model: fa.FakeAnthropic) -> None:
    sent = everything_sent(model)
    assert HOME_SECRET not in sent
    assert OTHER_SECRET not in sent


def seen_by_model(model: fa.FakeAnthropic, words: str) -> bool:
    return any(words in r.last_user_text for r in model.requests)


async def test_at_references_in_a_reply_are_not_expanded(start_bot, secrets):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    await h.slack.send_message(
        "C1", "U1", f"Read {secrets['home']} and {secrets['relative']}\n{secrets['absolute']}", thread_ts=root_ts
    )
    await h.wait_for_text("C1", root_ts, "Noted.")
    assert_nothing_leaked(h.model)
    # Claude still reads what the person wrote (the file names are there, as text).
    assert seen_by_model(h.model, ".bash_history")


async def test_at_references_in_a_merged_batch_are_not_expanded(start_bot, secrets):
    h = await start_bot()
    h.model.script(
        str(h.project("shop")),
        [fa.text("Hello! " + "Let me think about that. " * 20, chunk_size=8, delay=0.05), fa.text("Both noted.")],
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")  # Claude is still answering: these two merge
    await h.slack.send_message("C1", "U1", f"first {secrets['home']}", thread_ts=root_ts)
    await h.slack.send_message("C1", "U2", f"second {secrets['absolute']}", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Both noted.")
    last = h.model.requests[-1].last_user_text
    assert "first" in last and "second" in last  # one merged message
    assert_nothing_leaked(h.model)


async def test_at_references_inside_an_attached_text_file_are_not_expanded(start_bot, secrets):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Read your notes.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    notes = h.slack.add_file(
        f"Requirements\n{secrets['home']}\n{secrets['relative']}\n{secrets['absolute']}\n", "notes.md"
    )
    await h.slack.send_message("C1", "U1", "see attached", thread_ts=root_ts, files=[notes])
    await h.wait_for_text("C1", root_ts, "Read your notes.")
    assert seen_by_model(h.model, "Requirements")
    assert_nothing_leaked(h.model)


async def test_at_references_in_a_typed_answer_to_a_question_are_not_expanded(start_bot, secrets):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [ask(MODE), fa.text("Noted your answer.")])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    await click(h, question, "Other…")
    await h.slack.send_message("C1", "U1", f"{secrets['home']} {secrets['absolute']}", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Noted your answer.")
    assert_nothing_leaked(h.model)


async def test_an_answer_clicked_after_a_restart_is_not_expanded(start_bot, secrets):
    """After a restart a click reaches Claude as a message: the label is text too."""
    h = await start_bot()
    hostile = {**MODE, "options": [{"label": secrets["home"], "description": ""}, MODE["options"][1]]}
    h.model.script(str(h.project("shop")), [ask(hostile), fa.text("Got it after the restart.")])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    await h.restart()
    await click(h, question, secrets["home"])
    await h.wait_for_text("C1", root_ts, "Got it after the restart.")
    assert_nothing_leaked(h.model)


def cli_processes(marker: str) -> list[tuple[Path, dict[str, str]]]:
    """Running `claude` processes whose environment mentions `marker`, with that environment."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv0 = (proc / "cmdline").read_bytes().split(b"\0")[0].decode()
            raw = (proc / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if Path(argv0).name == "claude" and marker in raw:
            found.append((proc, dict(item.partition("=")[::2] for item in raw.split("\0") if item)))
    return found


async def test_the_cli_gets_none_of_the_bots_secrets(start_bot, monkeypatch, tmp_path):
    bot_secrets = {
        "SLACK_BOT_TOKEN": "xoxb-in-the-environment-0003",
        "SLACK_APP_TOKEN": "xapp-in-the-environment-0004",
        "SLACK_SIGNING_SECRET": "signing-secret-0005",
        "NEWSPEC_ADMIN_NOTE": "newspec-setting-0006",
        "DATABASE_URL": "postgresql://bot:pw-0007@db/newspec",
        # The CLI's own prefixes, but no name the CLI documents: an operator's, not the CLI's.
        "CLAUDE_SLACK_WEBHOOK": "https://hooks.example/T0/B0/secret-0008",
        "ANTHROPIC_ADMIN_KEY": "sk-ant-admin-0009",
        "DISABLE_SAFETY_NET": "0010",
    }
    for name, value in bot_secrets.items():
        monkeypatch.setenv(name, value)
    h = await start_bot()
    project = h.project("shop")
    h.model.script(
        str(project),
        [
            fa.tool("Read", {"file_path": "/proc/self/environ"}, text_before="Let me look around."),
            fa.text("Hello!"),
        ],
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")

    # The live CLI process, read directly: what it needs, none of ours.
    ((proc, environment),) = cli_processes(str(tmp_path / "state"))
    assert environment["ANTHROPIC_BASE_URL"] == h.model.base_url
    assert environment["CLAUDE_CONFIG_DIR"].startswith(str(tmp_path / "state"))
    assert not set(bot_secrets) & set(environment)
    # ...and below the bot's own priority, so Slack's acks never wait for it.
    niceness = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[16])
    assert niceness == min(19, os.nice(0) + 19)
    # Claude's attempt to read its own environment was refused, and nothing leaked.
    (result,) = h.model.requests[1].tool_results
    assert result.is_error
    sent = everything_sent(h.model)
    assert not any(value in sent for value in bot_secrets.values())


def test_cloud_credentials_reach_the_cli_only_when_it_uses_that_cloud():
    base = {
        "PATH": "/bin", "ANTHROPIC_API_KEY": "k", "AWS_SECRET_ACCESS_KEY": "a",
        "GOOGLE_APPLICATION_CREDENTIALS": "g", "SLACK_BOT_TOKEN": "xoxb-1", "LC_ALL": "C",
    }
    assert cli_environment(base) == {"PATH": "/bin", "ANTHROPIC_API_KEY": "k", "LC_ALL": "C"}
    bedrock = cli_environment({**base, "CLAUDE_CODE_USE_BEDROCK": "1"})
    assert bedrock["AWS_SECRET_ACCESS_KEY"] == "a" and "GOOGLE_APPLICATION_CREDENTIALS" not in bedrock
    assert "SLACK_BOT_TOKEN" not in bedrock


def test_only_variables_the_cli_documents_pass_under_its_prefixes():
    sdk = {"CLAUDE_CODE_ENTRYPOINT": "sdk-py", "CLAUDE_AGENT_SDK_VERSION": "0.2", "CLAUDE_CONFIG_DIR": "/c"}
    operator = {
        "CLAUDE_CODE_MAX_RETRIES": "0", "ANTHROPIC_BASE_URL": "http://gw", "DISABLE_TELEMETRY": "1",
        "CLAUDE_SLACK_WEBHOOK": "w", "CLAUDE_TOKEN": "t", "ANTHROPIC_ADMIN_KEY": "a", "DISABLE_CHECKS": "d",
    }
    assert cli_environment({**sdk, **operator}) == {
        **sdk, "CLAUDE_CODE_MAX_RETRIES": "0", "ANTHROPIC_BASE_URL": "http://gw", "DISABLE_TELEMETRY": "1",
    }
