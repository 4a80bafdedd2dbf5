"""Private notes where Slack can't show them privately: an ephemeral to someone who is
not in the channel, and a response_url past its uses or its half hour.

Through the real bot, the fake Slack (which refuses both as Slack does) and the real
`claude` CLI.
"""

from __future__ import annotations

import logging

from tests.fakes import anthropic as fa


async def test_a_note_for_someone_outside_the_channel_is_logged_and_not_shown_to_others(start_bot, caplog):
    # Owner-only: whatever U7 says gets a note. U7 answers in the thread without being in the channel.
    h = await start_bot(env={"NEWSPEC_THREAD_OWNER_ONLY": "1"}, members={"C1": {"U1"}})
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Bread, noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    caplog.set_level(logging.WARNING)

    await h.slack.send_message("C1", "U7", "I want cakes too", thread_ts=root_ts)
    refused = await h.slack.wait_for(lambda: [c for c in h.slack.calls_to("chat.postEphemeral") if c.response])
    assert refused[0].response.get("error") == "user_not_in_channel"
    await h.slack.send_message("C1", "U1", "we sell bread", thread_ts=root_ts)
    await h.settled("C1", root_ts, "Bread, noted.")  # the interview goes on

    assert h.slack.ephemerals() == [] and "owner-only" not in h.slack.thread_text("C1", root_ts)
    assert "cakes" not in str(h.model.requests)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    told = [r.getMessage() for r in caplog.records if "U7" in r.getMessage()]
    assert any("user_not_in_channel" in line for line in told), told
