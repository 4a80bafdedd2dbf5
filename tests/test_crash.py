"""`kill -9` of the real bot process (and its CLI children) loses no answer."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.conftest import bot_env, process_env
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack
from tests.postgres import query_bot_database

pytestmark = pytest.mark.both_engines


async def nothing_pending(tmp_path: Path) -> bool:
    """The bot has recorded its last turn as answered (read from its state store)."""
    ((count,),) = await query_bot_database(tmp_path / "state", "SELECT COUNT(*) FROM pending_replies")
    return count == 0


async def launch(slack: FakeSlack, env: dict[str, str]) -> asyncio.subprocess.Process:
    connections = slack.connections_opened
    # A session of its own, so killing the group also kills the claude CLI children.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "slackbot", env=env, start_new_session=True,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    await slack.wait_for(lambda: slack.connections_opened > connections, timeout=30, what="bot connected")
    return process


async def greeted(slack: FakeSlack, greeting: str, name: str = "shop") -> str:
    """Run `/newspec name` in C1 and wait for Claude's `greeting` in the new thread; its ts."""
    await slack.send_slash_command(name, user_id="U1", channel_id="C1")
    root = await slack.wait_for(lambda: next((m for m in slack.messages if f"*{name}*" in m.text), None))
    await slack.wait_for(lambda: greeting in slack.thread_text("C1", root.ts), timeout=30)
    return root.ts


async def kill_9(process: asyncio.subprocess.Process) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


async def test_sigkill_between_and_during_turns(model, tmp_path: Path):
    started, release = asyncio.Event(), asyncio.Event()

    async def held(request: fa.ModelRequest) -> fa.Turn:
        started.set()
        await release.wait()
        return fa.text("never delivered")

    def answers_after_restart(request: fa.ModelRequest) -> fa.Turn:
        history = json.dumps(request.messages)
        assert "We sell bread" in history and "What do you sell?" in history  # earlier turns
        # The reply caught by the crash, once: sent again, or (if the CLI had written it
        # to its transcript before it died) already there, and Claude told to carry on.
        assert history.count("Cakes too") == 1
        return fa.text("Bread and cakes, got it.")

    async with FakeSlack() as slack:
        env = process_env(**bot_env(slack, tmp_path))
        project = tmp_path / "generations" / "shop"
        model.script(
            str(project), [fa.text("What do you sell?"), fa.text("Bread, noted."), held, answers_after_restart]
        )

        process = await launch(slack, env)
        try:
            root_ts = await greeted(slack, "What do you sell?")
            await slack.send_message("C1", "U1", "We sell bread", thread_ts=root_ts)
            await slack.wait_for(lambda: "Bread, noted." in slack.thread_text("C1", root_ts))
            await slack.wait_for(lambda: nothing_pending(tmp_path), what="the turn to be recorded")
            await kill_9(process)  # between turns

            process = await launch(slack, env)
            await slack.send_message("C1", "U1", "Cakes too", thread_ts=root_ts)
            await asyncio.wait_for(started.wait(), 30)
            await kill_9(process)  # during a turn
            release.set()

            process = await launch(slack, env)
            await slack.wait_for(lambda: "Bread and cakes, got it." in slack.thread_text("C1", root_ts), timeout=30)
            assert "never delivered" not in slack.thread_text("C1", root_ts)
            model.verify()
        finally:
            if process.returncode is None:
                await kill_9(process)
