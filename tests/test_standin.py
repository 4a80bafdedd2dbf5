"""The benchmarks' stand-in for the `claude` CLI (benchmarks/standin.py), run through the
bot's transport seam (NEWSPEC_CLAUDE_TRANSPORT): it speaks the Agent SDK's protocol well
enough that a whole interview runs on it, with no CLI process, so the load simulation
(benchmarks/simulate.py) measures the bot's own work."""

from __future__ import annotations

import pytest

from slackbot.claude.transport import TRANSPORT_VAR
from tests.test_interview_flow import prompt_for, spec_for

pytestmark = pytest.mark.both_engines


async def test_an_interview_on_the_standin_runs_to_both_files_uploaded(start_bot, monkeypatch):
    monkeypatch.setenv(TRANSPORT_VAR, "benchmarks.standin:make_transport")
    monkeypatch.setenv("NEWSPEC_STANDIN_TURNS", "2")
    monkeypatch.setenv("NEWSPEC_STANDIN_TOKENS", "20")
    monkeypatch.setenv("NEWSPEC_STANDIN_RATE", "400")
    h = await start_bot()
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Let's spec **shop**")
    await h.wait_for_text("C1", root_ts, "What next?")
    await h.slack.send_message("C1", "U1", "A web shop for our bakery.", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "shop-t1-0000")
    await h.slack.send_message("C1", "U1", "That's all, write it.", thread_ts=root_ts)

    await h.slack.wait_for(lambda: len(h.slack.uploads) == 2, timeout=30, what="both spec files uploaded")
    uploaded = {u.filename: u.text for u in h.slack.uploads}
    assert uploaded == {"app_spec.txt": spec_for("shop"), "initializer_prompt.md": prompt_for("shop")}
    await h.slack.wait_for(
        lambda: "Spec ready" in h.slack.message("C1", root_ts).visible_text, what="the root: ready"
    )
    assert "Both files are written" in h.slack.thread_text("C1", root_ts)
    assert not h.model.requests  # no claude CLI ran: the model was never called
