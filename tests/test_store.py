"""The state store keeps interviews, unanswered replies and seen events across restarts."""

from __future__ import annotations

import asyncio

import pytest

from slackbot.store import InterviewRecord, SqliteStore, Status
from tests.conftest import reopen


async def test_interviews_survive_a_reopen(store):
    await store.add_interview(InterviewRecord("C1", "1.0", "shop", "U1", team_id="T1"))
    await store.update_interview(
        "C1", "1.0", session_id="abc", status=Status.COMPLETE,
        spec_written=("prompts/app_spec.txt",), spec_reported=True, uploads=1,
    )
    store = await reopen(store)
    record = await store.get_interview("C1", "1.0")
    assert record is not None
    assert (record.name, record.session_id, record.status, record.uploads) == ("shop", "abc", Status.COMPLETE, 1)
    assert record.spec_written == ("prompts/app_spec.txt",) and record.spec_reported
    assert (await store.find_by_name("shop")).thread_ts == "1.0"
    assert [r.name for r in await store.list_interviews("T1")] == ["shop"]
    assert await store.list_interviews("T2") == []
    await store.close()


async def test_cancelled_interviews_free_the_name(store):
    await store.add_interview(InterviewRecord("C1", "1.0", "shop", "U1", status=Status.CANCELLED))
    assert await store.find_by_name("shop") is None


async def test_replies_are_deduplicated_by_event_and_by_message(store):
    first = await store.accept_reply("C1", "1.0", "U1", "hello", "2.0", "Ev1")
    assert first is not None
    assert await store.accept_reply("C1", "1.0", "U1", "hello", "2.0", "Ev1") is None  # retry
    assert await store.accept_reply("C1", "1.0", "U1", "hello", "2.0", "Ev2") is None  # same ts
    assert await store.accept_reply("C1", "1.0", "U1", "other", "3.0", "Ev1") is None  # same event
    store = await reopen(store)
    assert await store.accept_reply("C1", "1.0", "U1", "hello", "2.0", "Ev9") is None  # after restart
    assert [r.text for r in await store.pending_replies("C1", "1.0")] == ["hello"]
    await store.close()


async def test_pending_replies_stay_until_answered_in_order(store):
    for n, text in enumerate(["one", "two", "three"]):
        await store.accept_reply("C1", "1.0", "U1", text, f"2.{n}", None)
    await store.accept_reply("C2", "5.0", "U1", "elsewhere", "6.0", None)
    store = await reopen(store)
    pending = await store.pending_replies("C1", "1.0")
    assert [r.text for r in pending] == ["one", "two", "three"]
    assert await store.threads_with_pending() == [("C1", "1.0"), ("C2", "5.0")]
    await store.remove_replies([pending[0].id])
    assert [r.text for r in await store.pending_replies("C1", "1.0")] == ["two", "three"]
    await store.close()


async def test_opening_twice_keeps_the_schema_and_data(store):
    await store.add_interview(InterviewRecord("C1", "1.0", "shop", "U1"))
    store = await reopen(store)
    store = await reopen(store)
    assert await store.get_interview("C1", "1.0") is not None
    await store.close()


async def test_files_wait_in_their_own_table_and_leave_with_their_reply(store):
    from slackbot.events import Attachment

    sketch = Attachment("sketch.png", "image/png", b"\x89PNG" + b"\0" * 100)
    notes = Attachment("notes.md", "text/plain", "# Notës\n".encode() * 10)
    first = await store.accept_reply("C1", "1.0", "U1", "see attached", "1.1", None, attachments=(sketch, notes))
    second = await store.accept_reply("C1", "1.0", "U1", "and this", "1.2", None, attachments=(notes,))
    (a, b) = await store.pending_replies("C1", "1.0")
    # A turn counts text by the characters Claude reads, images by their bytes.
    assert (a.file_count, a.file_text_chars, a.file_image_bytes, b.file_count) == (2, 80, sketch.size, 1)
    assert await store.reply_files([first.id, second.id]) == (sketch, notes, notes)
    await store.remove_replies([first.id])
    assert await store.reply_files([first.id]) == ()
    await store.drop_pending("C1", "1.0")
    assert await store.reply_files([second.id]) == ()


async def test_files_queued_by_an_older_version_are_moved_on_open(tmp_path):
    import base64
    import json
    import sqlite3

    from slackbot.store.migrations import MIGRATIONS as _MIGRATIONS

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the schema as version 5 left it, with one queued file
        for number, script in enumerate(_MIGRATIONS[:5]):
            db.executescript(f"BEGIN; {script} PRAGMA user_version = {number + 1}; COMMIT;")
        legacy = json.dumps([{"name": "n.md", "mime": "text/plain", "data": base64.b64encode(b"hello").decode()}])
        db.execute(
            "INSERT INTO pending_replies (channel, thread_ts, user_id, text, ts, accepted_at, attachments) "
            "VALUES ('C1', '1.0', 'U1', 'see file', '1.1', 0, ?)", (legacy,),
        )
    store = SqliteStore(path)
    await store.open()
    try:
        (reply,) = await store.pending_replies("C1", "1.0")
        assert (reply.file_count, reply.file_text_chars) == (1, 5)
        (file,) = await store.reply_files([reply.id])
        assert (file.name, file.data) == ("n.md", b"hello")
    finally:
        await store.close()


async def test_spend_is_summed_by_day_person_and_thread_across_a_reopen(store):
    await store.add_interview(InterviewRecord("C1", "claiming:x", "shop", "U1"))
    await store.add_spend("C1", "claiming:x", "U1", "2026-01-01", 0.5)
    await store.move_interview("C1", "claiming:x", "1.0")  # spend follows the interview to its thread
    await store.add_spend("C1", "1.0", "U2", "2026-01-01", 0.25)
    await store.add_spend("C2", "2.0", "U1", "2026-01-02", 1.0)
    assert await store.note_once("C1", "1.0", "warn-cost:1.0")
    store = await reopen(store)
    assert await store.spent() == pytest.approx(1.75)
    assert await store.spent(day="2026-01-01") == pytest.approx(0.75)
    assert await store.spent(day="2026-01-01", user_id="U1") == pytest.approx(0.5)
    assert await store.spent(user_id="U1") == pytest.approx(1.5)
    assert await store.spent(thread=("C1", "1.0")) == pytest.approx(0.75)
    assert await store.spent(day="2026-01-03") == 0.0
    assert not await store.note_once("C1", "1.0", "warn-cost:1.0")  # said once, also after a reopen
    assert await store.note_once("C1", "1.0", "warn-cost:2.0")
    await store.close()


async def test_files_waiting_are_measured_per_thread_and_per_person_across_threads(store):
    from slackbot.events import Attachment

    def files(size: int) -> tuple[Attachment, ...]:
        return (Attachment("a.png", "image/png", bytes(size)),)

    await store.accept_reply("C1", "1.0", "U1", "one", "1.1", None, attachments=files(100))
    await store.accept_reply("C1", "1.0", "U2", "two", "1.2", None, attachments=files(20))
    answered = await store.accept_reply("C2", "2.0", "U1", "three", "2.1", None, attachments=files(3))
    assert await store.held_bytes("C1", "1.0", "U1") == (120, 103)
    assert await store.held_bytes("C2", "2.0", "U2") == (3, 20)
    await store.remove_replies([answered.id])  # delivered: no longer waiting
    assert await store.held_bytes("C2", "2.0", "U1") == (0, 100)


async def test_reads_and_writes_from_many_coroutines_at_once_never_trip_over_each_other(store):
    """All coroutines share one connection: a statement left open across an await (a
    checkpoint or a read between its execute and its fetch) made another coroutine's
    commit fail with "SQL statements in progress" (a turn failed over it)."""
    from slackbot.events import Attachment

    await store.add_question("q1", "C1", "1.0", {"id": "q1", "items": []})

    async def one(n: int) -> None:
        person = f"U{n % 3}"
        reply = await store.accept_reply(
            "C1", "1.0", person, f"reply {n}", f"1.{n:04d}", f"Ev{n}",
            attachments=(Attachment("a.txt", "text/plain", b"x" * 5000),), ready=False,
        )
        assert reply is not None
        await store.pending_replies("C1", "1.0")
        await store.threads_with_pending()
        await store.complete_reply(reply.id, f"reply {n}", "Ana", ())
        await store.reply_files([reply.id])
        await store.held_bytes("C1", "1.0", person)
        await store.get_question("q1")
        await store.add_spend("C1", "1.0", person, "2026-01-01", 0.01)
        await store.spent(user_id=person)
        assert await store.accept_reply("C1", "1.0", person, "again", f"1.{n:04d}", None) is None  # seen
        await store.remove_replies([reply.id])

    await asyncio.gather(*(one(n) for n in range(100)))
    assert await store.pending_replies("C1", "1.0") == []
    assert await store.spent() == pytest.approx(1.0)
