"""The finished spec reaches the thread exactly once, even when the bot is killed in the
middle of uploading it: the real bot process (kill -9), the fake Slack holding the upload's
calls, and the fake model writing the spec."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import bot_env, process_env
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack
from tests.test_crash import greeted, kill_9, launch
from tests.test_interview_flow import prompt_for, spec_for, write_both

SUMMARY = "ready to build"  # in the completion message, which carries the files


async def killed_while_uploading(slack: FakeSlack, model: fa.FakeAnthropic, tmp_path: Path, method: str) -> str:
    """An interview whose spec upload is held at `method` when the bot is killed; Slack
    then answers the held call (to nobody), and the bot starts again. The thread's ts."""
    env = process_env(**bot_env(slack, tmp_path))
    project = tmp_path / "generations" / "shop"
    model.script(str(project), [fa.text("Shall I write it?"), *write_both(project)])
    gate = slack.hold_next(method)
    process = await launch(slack, env)
    try:
        root_ts = await greeted(slack, "Shall I write it?")
        await slack.send_message("C1", "U1", "Yes, write it.", thread_ts=root_ts)
        await asyncio.wait_for(gate.reached.wait(), 30)
    finally:
        await kill_9(process)
    gate.release.set()  # Slack goes on with the call, as it would
    await asyncio.sleep(0)
    return root_ts


async def restarted(slack: FakeSlack, tmp_path: Path) -> asyncio.subprocess.Process:
    return await launch(slack, process_env(**bot_env(slack, tmp_path)))


async def test_a_kill_before_slack_has_the_files_uploads_them_at_the_next_start(model, tmp_path: Path):
    async with FakeSlack() as slack:
        root_ts = await killed_while_uploading(slack, model, tmp_path, "files.getUploadURLExternal")
        assert slack.uploads == []  # nothing reached the thread
        process = await restarted(slack, tmp_path)
        try:
            await slack.wait_for(lambda: SUMMARY in slack.thread_text("C1", root_ts), timeout=30, what="the card")
            uploads = {u.filename: u.content.decode() for u in slack.uploads}
            assert uploads == {"app_spec.txt": spec_for("shop"), "initializer_prompt.md": prompt_for("shop")}
            assert all(u.thread_ts == root_ts for u in slack.uploads) and len(slack.uploads) == 2
        finally:
            await kill_9(process)


async def test_a_kill_after_slack_took_the_upload_does_not_upload_again(model, tmp_path: Path):
    async with FakeSlack() as slack:
        root_ts = await killed_while_uploading(slack, model, tmp_path, "files.completeUploadExternal")
        await slack.wait_for(lambda: len(slack.uploads) == 2, what="Slack finishing the upload")
        process = await restarted(slack, tmp_path)
        try:
            await slack.wait_for(lambda: SUMMARY in slack.thread_text("C1", root_ts), timeout=30, what="the card")
            assert len(slack.uploads) == 2  # the files once, not again
            assert len([m for m in slack.thread("C1", root_ts) if m.files]) == 1
        finally:
            await kill_9(process)
