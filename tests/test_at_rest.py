"""What the bot keeps on disk: private to its user, deleted answers really gone,
each interview's transcript in its own folder and removed after the retention period."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
from claude_agent_sdk import project_key_for_directory

from slackbot.claude.retention import expire_transcripts, transcript_dir, transcripts_root
from slackbot.events import Attachment
from slackbot.store import SqliteStore
from tests.fakes import anthropic as fa

pytestmark = pytest.mark.sqlite_only


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_state_is_private_and_each_interview_has_its_own_transcript_folder(start_bot, tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)  # as an older install (or a usual umask) left it
    state.chmod(0o755)
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hello!")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    assert mode(state) == 0o700
    assert mode(state / "newspec.db") == 0o600
    own = transcript_dir(state, "C1", root_ts)
    assert mode(own) == 0o700 and mode(transcripts_root(state)) == 0o700
    # The conversation's transcript lives in its own folder (written as the turn ends).
    await h.slack.wait_for(lambda: list(own.rglob("*.jsonl")), what="the transcript")


def raw_and_quoted(words: str) -> tuple[bytes, bytes]:
    """`words` (with quotes in them) as a pending reply's row holds them, and as Claude's
    transcript in the store does (JSON, the quotes escaped): the first shows only while a
    reply waits, the second while the conversation lives."""
    return words.encode(), json.dumps(words)[1:-1].encode()


async def start_over(h, name: str, first_ts: str, greeting: str) -> None:
    """Cancel the interview in `first_ts`, then start `name` over in a new thread."""
    from tests.test_interview_flow import prompt_for, spec_for

    project = h.project(name)
    await h.slack.send_action("newspec_cancel", user_id="U1", channel_id="C1", message_ts=first_ts)
    await h.wait_for_text("C1", first_ts, "cancelled this interview")
    (project / "prompts" / "app_spec.txt").write_text(spec_for(name))
    (project / "prompts" / "initializer_prompt.md").write_text(prompt_for(name))
    await h.slack.send_slash_command(name, user_id="U1", channel_id="C1")
    offer = await h.slack.wait_for(
        lambda: next((e for e in h.slack.ephemerals(user="U1") if "finished spec" in e.text), None)
    )
    button = next(e for b in offer.blocks if b["type"] == "actions" for e in b["elements"]
                  if e["text"]["text"] == "Start over")
    await h.slack.send_action(button["action_id"], button["value"], user_id="U1", channel_id="C1")
    await h.slack.wait_for(lambda: any(greeting in m.text for m in h.slack.messages), what="the new thread")


async def test_an_answered_reply_leaves_no_trace_in_the_database(start_bot, tmp_path):
    """The pending reply's row leaves no trace once answered. Claude's transcript, which
    the store keeps so a conversation can resume anywhere, holds people's words as long
    as the CLI's own transcript on disk would: until "Start over" (or retention)."""
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Noted."), fa.text("Fresh start!")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    marker = 'our-launch-codes-"' + "q" * 400 + '"'  # a row big enough to leave a visible trace
    as_row, in_transcript = raw_and_quoted(marker)
    await h.slack.send_message("C1", "U1", marker, thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Noted.")
    await h.stop()  # closing checkpoints the write-ahead log into the database file
    assert as_row not in on_disk(tmp_path / "state")
    assert in_transcript in on_disk(tmp_path / "state")  # the conversation lives on

    await h.start()
    await start_over(h, "shop", root_ts, "Fresh start!")
    await h.stop()
    assert b"q" * 400 not in on_disk(tmp_path / "state")


def on_disk(folder: Path) -> bytes:
    """The database, its write-ahead log and its shared-memory index, byte for byte."""
    return b"".join(p.read_bytes() for p in sorted(folder.glob("newspec.db*")))


async def test_an_answered_reply_and_its_file_are_gone_from_disk_while_the_bot_runs(start_bot, tmp_path):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Noted."), fa.text("Fresh start!")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    marker, in_file = 'our-launch-codes-"' + "q" * 400 + '"', 'the-vault-"combination"-' + "w" * 400
    notes = h.slack.add_file(in_file + "\n", "notes.txt", mimetype="text/plain")
    await h.slack.send_message("C1", "U1", marker, thread_ts=root_ts, files=[notes])
    await h.wait_for_text("C1", root_ts, "Noted.")
    assert in_file in h.model.requests[-1].last_user_text  # it was stored, and delivered
    rows = (raw_and_quoted(marker)[0], raw_and_quoted(in_file)[0])

    def gone(*words: bytes) -> bool:  # the store is still open: no close has checkpointed it
        disk = on_disk(tmp_path / "state")
        return not any(w in disk for w in words)

    # The removal commits, then empties the log: wait for the whole removal, not its first half.
    await h.slack.wait_for(lambda: gone(*rows), what="the answered reply to leave the database and its log")
    assert await h.bot.store.pending_replies("C1", root_ts) == []
    # Claude's transcript in the store goes with the conversation, and out of the log too.
    await start_over(h, "shop", root_ts, "Fresh start!")
    await h.slack.wait_for(lambda: gone(b"q" * 400, b"w" * 400), what="the transcript to leave the database")


@pytest.mark.parametrize("removal", ["answered", "cancelled"])
async def test_a_removed_reply_leaves_neither_the_database_nor_its_log(tmp_path, removal):
    store = SqliteStore(tmp_path / "newspec.db")
    await store.open()
    try:
        marker = "our-launch-codes-" + "q" * 400
        kept = await store.accept_reply("C1", "1.0", "U1", "still waiting " + "k" * 400, "2.0", None)
        gone = await store.accept_reply(
            "C1", "3.0", "U1", marker, "4.0", None, attachments=(Attachment("a.txt", "text/plain", b"F" * 9000),)
        )
        assert kept is not None and gone is not None
        assert marker.encode() in on_disk(tmp_path)
        if removal == "answered":
            await store.remove_replies([gone.id])
        else:
            await store.drop_pending("C1", "3.0")
        disk = on_disk(tmp_path)
        assert marker.encode() not in disk and b"F" * 9000 not in disk
        assert b"still waiting " + b"k" * 400 in disk  # what is still waiting is kept
    finally:
        await store.close()


async def test_a_removal_while_another_read_is_open_never_fails_and_the_next_one_empties_the_log(tmp_path):
    """The connection is shared: a cursor another coroutine is reading makes SQLite refuse
    the checkpoint ("database table is locked"). The removal still succeeds (a turn must
    not fail over it), and the log is emptied by the next removal."""
    store = SqliteStore(tmp_path / "newspec.db")
    await store.open()
    try:
        first_marker, second_marker = "first-secret-" + "a" * 400, "second-secret-" + "b" * 400
        first = await store.accept_reply("C1", "1.0", "U1", first_marker, "2.0", None)
        second = await store.accept_reply("C1", "1.0", "U1", second_marker, "3.0", None)
        for n in range(50):
            await store.accept_reply("C2", "1.0", "U2", f"other {n}", f"9.{n}", None)
        assert first is not None and second is not None
        async with store.db.execute("SELECT id FROM pending_replies") as reading:
            await reading.fetchone()  # a read under way, as another coroutine's would be
            await store.remove_replies([first.id])  # raised before
        assert await store.pending_replies("C1", "1.0") == [second]
        await store.remove_replies([second.id])
        disk = on_disk(tmp_path)
        assert first_marker.encode() not in disk and second_marker.encode() not in disk
    finally:
        await store.close()


def test_transcripts_untouched_for_the_retention_period_are_deleted(tmp_path):
    old, fresh, live = (transcript_dir(tmp_path, "C1", ts) for ts in ("1.0", "2.0", "3.0"))
    for folder in (old, fresh, live):
        (folder / "projects").mkdir(parents=True)
        (folder / "projects" / "s.jsonl").write_text("{}")
    month_ago = time.time() - 31 * 86_400
    for folder in (old, live):
        for path in (folder, folder / "projects", folder / "projects" / "s.jsonl"):
            os.utime(path, (month_ago, month_ago))
    expired = expire_transcripts(tmp_path, 30 * 86_400, keep=[live])
    assert expired == [old]
    assert not old.exists() and fresh.exists() and live.exists()


async def test_starting_over_deletes_the_earlier_conversation(start_bot, tmp_path):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Fresh start!")])
    first_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", first_ts, "Hello!")
    earlier = transcript_dir(tmp_path / "state", "C1", first_ts)
    await h.slack.wait_for(lambda: list(earlier.rglob("*.jsonl")), what="the first transcript")
    first = await h.bot.store.find_by_name("shop")
    assert first is not None and first.session_id
    key = project_key_for_directory(h.project("shop"))
    # Mirrored into the store as well (the SDK writes its mirror in the background).

    async def mirrored() -> bool:
        return [session_id for session_id, _, _ in await h.bot.store.transcript_sessions(key)] == [first.session_id]

    await h.slack.wait_for(mirrored, what="the first transcript in the store")
    await start_over(h, "shop", first_ts, "Fresh start!")
    assert not earlier.exists()
    # The store's copy went with it: only the new conversation's is there.
    assert first.session_id not in [session_id for session_id, _, _ in await h.bot.store.transcript_sessions(key)]
