"""`kill -9` between acking `/newspec` and posting its thread (the root post waiting on
Slack's budget, say): the command is not lost; the thread opens after the restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import bot_env, process_env
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack
from tests.test_crash import kill_9, launch

pytestmark = pytest.mark.both_engines


def is_root_of(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda args: "thread_ts" not in args and f"*{name}*" in str(args.get("text", ""))


async def test_a_newspec_acked_before_a_kill_opens_its_thread_after_the_restart(model, tmp_path: Path):
    async with FakeSlack() as slack:
        # A short replica timeout: the killed run's claim is taken as abandoned sooner.
        env = process_env(**bot_env(slack, tmp_path, NEWSPEC_REPLICA_TIMEOUT="3"))
        model.script(str(tmp_path / "generations" / "shop"), [fa.text("Hello, shop! What does it do?")])
        root_post = slack.hold_next("chat.postMessage", is_root_of("shop"))

        process = await launch(slack, env)
        try:
            await slack.send_slash_command("shop", user_id="U1", channel_id="C1")
            await slack.wait_for(root_post.reached.is_set, what="the root post to reach Slack")
            await kill_9(process)  # acked and claimed; its root never lands
            slack.disconnect_next("chat.postMessage")
            root_post.release.set()

            process = await launch(slack, env)
            root = await slack.wait_for(
                lambda: next((m for m in slack.messages if "*shop*" in m.text and not m.thread_ts), None),
                timeout=60, what="the thread to open after the restart",
            )
            await slack.wait_for(lambda: "Hello, shop!" in slack.thread_text("C1", root.ts), timeout=60)
            roots = [m for m in slack.messages if "*shop*" in m.text and not m.thread_ts]
            assert len(roots) == 1  # opened once
            model.verify()
        finally:
            if process.returncode is None:
                await kill_9(process)
