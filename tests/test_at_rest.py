"""What the bot keeps on disk: private to its user, deleted answers really gone,
each interview's transcript in its own folder and removed after the retention period."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

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


async def test_an_answered_reply_leaves_no_trace_in_the_database(start_bot, tmp_path):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    marker = "our-launch-codes-" + "q" * 400  # a row big enough to leave a visible trace
    await h.slack.send_message("C1", "U1", marker, thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Noted.")
    await h.stop()  # closing checkpoints the write-ahead log into the database file
    on_disk = b"".join(p.read_bytes() for p in (tmp_path / "state").glob("newspec.db*"))
    assert marker.encode() not in on_disk


def on_disk(folder: Path) -> bytes:
    """The database, its write-ahead log and its shared-memory index, byte for byte."""
    return b"".join(p.read_bytes() for p in sorted(folder.glob("newspec.db*")))


async def test_an_answered_reply_and_its_file_are_gone_from_disk_while_the_bot_runs(start_bot, tmp_path):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    marker, in_file = "our-launch-codes-" + "q" * 400, "the-vault-combination-" + "w" * 400
    notes = h.slack.add_file(in_file + "\n", "notes.txt", mimetype="text/plain")
    await h.slack.send_message("C1", "U1", marker, thread_ts=root_ts, files=[notes])
    await h.wait_for_text("C1", root_ts, "Noted.")
    assert in_file in h.model.requests[-1].last_user_text  # it was stored, and delivered

    def gone() -> bool:  # the store is still open: no close has checkpointed it
        disk = on_disk(tmp_path / "state")
        return marker.encode() not in disk and in_file.encode() not in disk

    # The removal commits, then empties the log: wait for the whole removal, not its first half.
    await h.slack.wait_for(gone, what="the answered reply to leave the database and its log")
    assert await h.bot.store.pending_replies("C1", root_ts) == []


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
    from tests.test_interview_flow import prompt_for, spec_for

    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [fa.text("Hello!"), fa.text("Fresh start!")])
    first_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", first_ts, "Hello!")
    earlier = transcript_dir(tmp_path / "state", "C1", first_ts)
    await h.slack.wait_for(lambda: list(earlier.rglob("*.jsonl")), what="the first transcript")
    await h.slack.send_action("newspec_cancel", user_id="U1", channel_id="C1", message_ts=first_ts)
    await h.wait_for_text("C1", first_ts, "cancelled this interview")
    (project / "prompts" / "app_spec.txt").write_text(spec_for("shop"))
    (project / "prompts" / "initializer_prompt.md").write_text(prompt_for("shop"))

    await h.slack.send_slash_command("shop", user_id="U1", channel_id="C1")
    offer = await h.slack.wait_for(
        lambda: next((e for e in h.slack.ephemerals(user="U1") if "finished spec" in e.text), None)
    )
    start_over = next(e for b in offer.blocks if b["type"] == "actions" for e in b["elements"]
                      if e["text"]["text"] == "Start over")
    await h.slack.send_action(start_over["action_id"], start_over["value"], user_id="U1", channel_id="C1")
    await h.slack.wait_for(lambda: any("Fresh start!" in m.text for m in h.slack.messages), what="new thread")
    assert not earlier.exists()
