"""Files shared in a Slack Connect channel: the message event carries only a stub
(`{"id": "F…", "file_access": "check_file_info"}`, no name, size or URL), so the bot
asks `files.info` for the file (after the ack, with the bot token, through the
scheduler) and then downloads it as usual.

Through the real bot, the fake Slack (`FakeSlack.shared_file` makes the stub) and the
real `claude` CLI.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.fakes import anthropic as fa
from tests.test_attachments import TOKEN, interview_with_files, said_to_claude
from tests.test_downloads_at_shutdown import turns_with

NOTES = "".join(f"line {i:04d}: the bakery delivers bread every morning\n" for i in range(300)) + "THE LAST LINE\n"


async def test_a_text_file_shared_from_another_organisation_reaches_claude(start_bot):
    h = await start_bot()
    notes = h.slack.add_file(NOTES, "notes.txt", mimetype="text/plain")
    root_ts = await interview_with_files(h, [h.slack.shared_file(notes)])
    text = said_to_claude(h)
    assert "line 0000:" in text and "THE LAST LINE" in text
    assert "notes.txt" in text  # by its name, which only files.info told
    assert "couldn't pass on" not in h.slack.thread_text("C1", root_ts)
    (info,) = h.slack.calls_to("files.info")
    assert info.args["file"] == notes["id"] and info.token == TOKEN
    assert notes["id"] in h.slack.downloads_served


async def test_a_shared_file_and_an_ordinary_one_in_one_message_both_arrive(start_bot):
    h = await start_bot()
    shared = h.slack.add_file(NOTES, "shared.txt", mimetype="text/plain")
    own = h.slack.add_file("OUR OWN NOTES\n", "own.md", mimetype="text/markdown")
    await interview_with_files(h, [h.slack.shared_file(shared), own])
    text = said_to_claude(h)
    assert "THE LAST LINE" in text and "OUR OWN NOTES" in text
    assert [c.args["file"] for c in h.slack.calls_to("files.info")] == [shared["id"]]  # only for the stub


@pytest.mark.parametrize(
    ("error", "told"),
    [
        ("file_not_found", "Slack couldn't find it"),
        ("file_deleted", "Slack couldn't find it"),
        ("access_denied", "Slack didn't let me read it"),
        ("internal_error", "Slack didn't answer when I asked for it"),
    ],
)
async def test_a_shared_file_slack_wont_describe_is_named_in_the_thread(start_bot, error, told):
    h = await start_bot()
    notes = h.slack.add_file(NOTES, "notes.txt", mimetype="text/plain")
    h.slack.fail_next("files.info", error)
    root_ts = await interview_with_files(h, [h.slack.shared_file(notes)])
    thread = h.slack.thread_text("C1", root_ts)
    assert "I couldn't pass on every file" in thread
    assert f"the file shared from another organisation ({notes['id']}): {told}" in thread
    assert "attach it again" in thread or "paste" in thread  # what to do about it
    assert "line 0000:" not in said_to_claude(h)
    assert notes["id"] not in h.slack.downloads_served


async def test_files_info_rate_limited_once_is_asked_again(start_bot):
    h = await start_bot()
    notes = h.slack.add_file(NOTES, "notes.txt", mimetype="text/plain")
    h.slack.fail_next("files.info", "ratelimited")  # HTTP 429, Retry-After: 1
    root_ts = await interview_with_files(h, [h.slack.shared_file(notes)])
    assert "THE LAST LINE" in said_to_claude(h)
    assert "couldn't pass on" not in h.slack.thread_text("C1", root_ts)
    assert len(h.slack.calls_to("files.info")) == 2


async def test_a_shared_file_looked_up_when_the_bot_stops_reaches_claude_after_the_restart(start_bot):
    """The reply is stored (with the stub) before the ack; files.info is asked after it,
    so a restart while it is asked asks again and the file still arrives."""
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Go ahead."), fa.text("Noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Go ahead.")
    notes = h.slack.add_file(NOTES, "notes.txt", mimetype="text/plain")
    lookup = h.slack.hold_next("files.info")
    await h.slack.send_message("C1", "U1", "see the notes", thread_ts=root_ts, files=[h.slack.shared_file(notes)])
    await asyncio.wait_for(lookup.reached.wait(), 10)

    await h.restart()
    await h.wait_for_text("C1", root_ts, "Noted.", timeout=30)
    (said,) = turns_with(h, "see the notes")
    assert "line 0000:" in said and "THE LAST LINE" in said
    assert "couldn't pass on" not in h.slack.thread_text("C1", root_ts)
    lookup.release.set()
    assert len(h.slack.calls_to("files.info")) == 2
