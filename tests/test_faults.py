"""Faults people must hear about in the thread: a dying CLI, Slack refusing things."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from tests.fakes import anthropic as fa
from tests.test_interview_flow import write_both


def claude_processes() -> list[int]:
    """PIDs of `claude` CLI processes started by this test process."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == me and b"claude" in cmdline:
            found.append(int(entry.name))
    return found


async def test_cli_death_mid_turn_is_reported_and_the_next_reply_resumes(start_bot):
    h = await start_bot()
    project = h.project("shop")
    in_turn = asyncio.Event()
    release = asyncio.Event()

    async def hang(request: fa.ModelRequest) -> fa.Turn:
        in_turn.set()
        await release.wait()
        return fa.text("never seen")

    def remembers(request: fa.ModelRequest) -> fa.Turn:
        history = " ".join(str(m.get("content")) for m in request.messages)
        assert "It is a shop" in history  # resumed: the earlier answer is still known
        return fa.text("Welcome back, still a shop.")

    h.model.script(str(project), [fa.text("What is it?"), hang, remembers])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What is it?")
    await h.slack.send_message("C1", "U1", "It is a shop", thread_ts=root_ts)
    await asyncio.wait_for(in_turn.wait(), 15)
    (pid,) = claude_processes()
    os.kill(pid, signal.SIGKILL)
    await h.wait_for_text("C1", root_ts, "The Claude process stopped unexpectedly")
    release.set()

    await h.slack.send_message("C1", "U1", "Are you there?", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Welcome back, still a shop.")
    assert "never seen" not in h.slack.thread_text("C1", root_ts)


async def test_refused_upload_says_where_the_files_are(start_bot):
    h = await start_bot(fail_methods={"files.completeUploadExternal": "not_allowed"})
    project = h.project("shop")
    h.model.script(str(project), [fa.text("Ready?"), *write_both(project)])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Ready?")
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Slack refused the upload (not_allowed)")
    assert str(project / "prompts") in h.slack.thread_text("C1", root_ts)
    assert (project / "prompts/app_spec.txt").is_file()


async def test_one_thread_failing_does_not_stop_another(start_bot):
    h = await start_bot()
    broken, fine = h.project("broken"), h.project("fine")
    h.model.script(str(broken), [fa.error(500)])
    h.model.script(str(fine), [fa.text("All good here.")])
    broken_ts = await h.start_interview("broken")
    await h.wait_for_text("C1", broken_ts, "Claude's service had an error")
    fine_ts = await h.start_interview("fine")
    await h.wait_for_text("C1", fine_ts, "All good here.")


async def test_a_rate_limited_slack_call_is_retried(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hello despite the 429.")])
    h.slack.fail_next("chat.postMessage", "ratelimited")  # HTTP 429 with Retry-After: 1
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello despite the 429.")
    posts = h.slack.calls_to("chat.postMessage")
    assert not posts[0].ok and posts[1].ok  # refused once, then retried by slack_sdk
    assert h.slack.ephemerals() == []  # nobody was told something failed
