"""The store's writes are each one transaction no other coroutine can touch: all
coroutines share one SQLite connection, so with SQLite's implicit transactions one
coroutine's rollback or commit took along another's half-done work. The same sequences
run on PostgreSQL, where each transaction has a connection of its own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from slackbot.events import Attachment
from slackbot.store import InterviewRecord, PostgresStore, SqliteStore
from slackbot.store.postgres_engine import PgWriter
from tests.conftest import reopen

Store = SqliteStore | PostgresStore


def wrap_executemany(store: Store, wrapper: Any) -> Any:
    """Route the store's `executemany` through `wrapper(real, sql, rows)`; the real one."""
    if isinstance(store, SqliteStore):
        real = store.db.executemany

        async def on_sqlite(sql: str, rows: Any) -> Any:
            return await wrapper(real, sql, rows)

        store.db.executemany = on_sqlite  # type: ignore[method-assign]
        return real
    original = PgWriter.executemany

    async def on_postgres(writer: PgWriter, sql: str, rows: Any) -> Any:
        return await wrapper(lambda s, r: original(writer, s, r), sql, rows)

    PgWriter.executemany = on_postgres  # type: ignore[method-assign]
    return original


@pytest.fixture(autouse=True)
def _restore_pg_writer():
    original = PgWriter.executemany
    yield
    PgWriter.executemany = original  # type: ignore[method-assign]


async def test_a_conflicting_name_claim_does_not_undo_a_reply_being_accepted_so_its_retry_is_refused(store):
    """A reply is accepted (its dedupe keys, then the reply, then one commit) while a
    project name is claimed that is already taken (an IntegrityError, then a rollback).
    The rollback landed between the keys and the commit: the reply was stored without
    its keys, and Slack's retry of the same event was queued as a second reply."""
    taken = await store.claim_name(InterviewRecord("C1", "1.0", "shop", "U1"))
    assert taken is None
    for n in range(10):  # each round is the same interleaving; a few make it plain
        ts, event = f"2.{n}", f"Ev{n}"
        accepted, existing = await asyncio.gather(
            store.accept_reply("C1", "1.0", "U2", f"reply {n}", ts, event),
            store.claim_name(InterviewRecord("C9", f"9.{n}", "shop", "U3")),
        )
        assert accepted is not None
        assert existing is not None and existing.thread_ts == "1.0"  # the name stays taken
        assert await store.accept_reply("C1", "1.0", "U2", f"reply {n}", ts, event) is None, (
            f"Slack's retry of {event} was accepted again"
        )
    store = await reopen(store)
    texts = [r.text for r in await store.pending_replies("C1", "1.0")]
    assert texts == [f"reply {n}" for n in range(10)]  # each reply stored once
    assert await store.accept_reply("C1", "1.0", "U2", "reply 0", "2.0", "Ev0") is None  # also after a restart
    await store.close()


class FailingFiles:
    """The real connection, except that storing a reply's files fails once (as a full
    disk would): the reply and its dedupe keys are already written by then."""

    def __init__(self, store: Store) -> None:
        self.failed = False
        wrap_executemany(store, self)

    async def __call__(self, real: Any, sql: str, rows: Any) -> Any:
        if "reply_files" in sql and not self.failed:
            self.failed = True
            raise OSError("disk full")
        return await real(sql, rows)


async def test_a_reply_whose_files_fail_to_store_leaves_nothing_behind_so_its_retry_is_accepted(store):
    """A reply's keys, the reply and its files are one write: if the files can't be
    stored, none of it is, and Slack's retry queues the reply with its files. Before,
    the keys and the reply stayed pending on the shared connection, the next commit (any
    coroutine's) published them without the files, and the retry was refused."""
    notes = Attachment("notes.md", "text/plain", b"# the plan\n")
    FailingFiles(store)
    with pytest.raises(OSError):
        await store.accept_reply("C1", "1.0", "U1", "see attached", "2.0", "Ev1", attachments=(notes,))
    await store.add_spend("C1", "1.0", "U1", "2026-01-01", 0.5)  # another coroutine's write commits
    retried = await store.accept_reply("C1", "1.0", "U1", "see attached", "2.0", "Ev1", attachments=(notes,))
    assert retried is not None, "Slack's retry was refused: the reply is lost"
    store = await reopen(store)
    (reply,) = await store.pending_replies("C1", "1.0")
    assert (reply.text, reply.file_count) == ("see attached", 1)
    assert await store.reply_files([reply.id]) == (notes,)
    await store.close()


async def test_a_move_that_fails_halfway_leaves_the_interview_where_it_was(store):
    """Moving an interview to its thread moves it, its spend and its budget notes in one
    write. When the last step fails (the thread already has that note) the interview and
    its spend stay where they were, also after another coroutine's commit."""
    await store.add_interview(InterviewRecord("C1", "claiming:x", "shop", "U1"))
    await store.add_spend("C1", "claiming:x", "U1", "2026-01-01", 0.5)
    assert await store.note_once("C1", "claiming:x", "warn-cost:1.0")
    assert await store.note_once("C1", "1.0", "warn-cost:1.0")
    with pytest.raises(Exception, match=r"(?i)unique"):
        await store.move_interview("C1", "claiming:x", "1.0")
    await store.add_spend("C2", "5.0", "U2", "2026-01-01", 0.25)  # another coroutine's write commits
    store = await reopen(store)
    assert await store.get_interview("C1", "claiming:x") is not None
    assert await store.get_interview("C1", "1.0") is None
    assert await store.spent(thread=("C1", "claiming:x")) == pytest.approx(0.5)
    assert await store.spent(thread=("C1", "1.0")) == 0.0
    await store.close()


class ReadWhileFilesAreStored:
    """The real connection; as a reply's files are about to be stored, a turn starts
    reading the thread (and loading its replies' files), and gets as far as it can."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reader: asyncio.Task[list[tuple[str, tuple[Attachment, ...]]]] | None = None
        wrap_executemany(store, self)

    async def read_the_thread(self) -> list[tuple[str, tuple[Attachment, ...]]]:
        return [(r.text, await self.store.reply_files([r.id])) for r in await self.store.pending_replies("C1", "1.0")]

    async def __call__(self, real: Any, sql: str, rows: Any) -> Any:
        if "reply_files" in sql and self.reader is None:
            self.reader = asyncio.create_task(self.read_the_thread())
            await asyncio.sleep(0)  # the reader runs up to its first query (or the store's lock)
            if isinstance(self.store, SqliteStore):
                await self.store.db.execute("SELECT 1")  # queued after that query: it has run
            else:
                await asyncio.sleep(0.2)  # its own connection: its first query has run by now
        return await real(sql, rows)


async def test_a_turn_reading_the_thread_sees_a_reply_with_its_files_or_not_at_all(store):
    """With one connection a read saw another coroutine's uncommitted rows: a turn read
    the reply before its files were stored, and sent it to Claude without them."""
    notes = Attachment("notes.md", "text/plain", b"# the plan\n")
    reading = ReadWhileFilesAreStored(store)
    assert await store.accept_reply("C1", "1.0", "U1", "see attached", "2.0", "Ev1", attachments=(notes,))
    assert reading.reader is not None
    seen = await reading.reader
    if isinstance(store, SqliteStore):  # the read waited for the write's commit
        assert seen == [("see attached", (notes,))]
    else:  # the read ran beside the write, on what was committed before it
        assert seen in ([], [("see attached", (notes,))])


async def test_a_cancelled_write_leaves_it_whole_or_absent_and_the_store_working(store):
    """A write cancelled anywhere (a turn stopped) is rolled back, or committed whole if
    its commit was already on its way; the next write still gets a transaction of its own."""
    notes = Attachment("notes.md", "text/plain", b"# the plan\n")
    for n in range(12):
        ts, event = f"2.{n}", f"Ev{n}"
        task = asyncio.create_task(
            store.accept_reply("C1", "1.0", "U1", f"reply {n}", ts, event, attachments=(notes,))
        )
        for _ in range(n):  # cancel at a different point each round
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        # Slack's retry: queued if the cancelled one left nothing, refused if it was stored whole.
        await store.accept_reply("C1", "1.0", "U1", f"reply {n}", ts, event, attachments=(notes,))
        stored = [r for r in await store.pending_replies("C1", "1.0") if r.ts == ts]
        assert len(stored) == 1, f"round {n}: {len(stored)} replies stored"
        assert await store.reply_files([stored[0].id]) == (notes,)
    store = await reopen(store)
    assert len(await store.pending_replies("C1", "1.0")) == 12
    await store.close()
