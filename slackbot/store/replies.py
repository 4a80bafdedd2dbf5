"""The store's replies: people's messages (and their files) waiting for Claude, in
arrival order, and the events already seen, so a retried delivery is queued once."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from typing import Any

import aiosqlite

from ..events import Attachment
from .records import PendingReply, ReplyChange, image_bytes, text_chars

log = logging.getLogger(__name__)

CHECKPOINT_TRIES = 5
CHECKPOINT_RETRY_SECONDS = 0.05


def reword(stored: str, old: str | None, new: str) -> str:
    """A stored reply with its author's words `old` (at its start) replaced by `new`; the
    lines after them (telling Claude of files it doesn't get) stay. `old` not there: `new`."""
    if old is None or not stored.startswith(old):
        return new
    rest = stored[len(old):].lstrip("\n")
    return "\n".join(part for part in (new, rest) if part)


class Replies:
    """Queries of `SqliteStore` about waiting replies (it provides `db`)."""

    _accept_lock: asyncio.Lock  # check-then-insert of seen keys must not interleave
    _edited_while_held: dict[int, str]  # see _held_edits

    @property
    def db(self) -> aiosqlite.Connection:
        raise NotImplementedError

    async def accept_reply(
        self, channel: str, thread_ts: str, user_id: str, text: str, ts: str, event_id: str | None,
        author: str | None = None, attachments: tuple[Attachment, ...] = (), *, ready: bool = True,
        user_team: str | None = None,
    ) -> PendingReply | None:
        """Queue a reply unless its event or its message was seen before (Slack retries).

        With `ready=False` the reply holds its place in the thread's order while
        its files and author are still being fetched (`complete_reply`)."""
        async with self._accept_lock:
            if not await self._mark_seen(channel, ts, event_id):
                return None
            return await self._insert_reply(
                channel, thread_ts, user_id, text, ts, author, attachments, ready, user_team
            )

    async def queue_claimed_reply(
        self, channel: str, thread_ts: str, user_id: str, text: str, ts: str, author: str | None,
        user_team: str | None = None,
    ) -> PendingReply:
        """Queue a reply already claimed (seen) as a question's answer that came too late."""
        async with self._accept_lock:
            return await self._insert_reply(channel, thread_ts, user_id, text, ts, author, (), True, user_team)

    async def complete_reply(
        self, reply_id: int, text: str, author: str | None, attachments: tuple[Attachment, ...]
    ) -> None:
        """The reply's files and author are known: it may now be sent to Claude.

        `text` was made from the text the reply arrived with: an edit made while it was
        held replaces those words in it. A reply deleted while held stays deleted."""
        async with self._accept_lock:  # no edit between reading the stored words and the write
            arrived = self._held_edits().pop(reply_id, None)
            if arrived is not None:
                rows = await self.db.execute_fetchall("SELECT text FROM pending_replies WHERE id = ?", (reply_id,))
                row = next(iter(rows), None)
                text = reword(text, arrived, row[0]) if row is not None else text
            cursor = await self.db.execute(
                "UPDATE pending_replies SET text = ?, author = ?, file_count = ?, file_text_chars = ?, "
                "file_image_bytes = ?, ready = 1 WHERE id = ?",
                (text, author, len(attachments), text_chars(attachments), image_bytes(attachments), reply_id),
            )
            if cursor.rowcount == 0:  # deleted meanwhile: its files are not stored either
                await self.db.commit()
                return
            await self._commit_files(reply_id, attachments)

    async def edit_reply(
        self, channel: str, ts: str, previous: str | None, text: str, event_id: str | None = None
    ) -> ReplyChange:
        """Its author edited the message `ts` from `previous` to `text`. If it waits for
        Claude, those words change (the lines after them, on files Claude doesn't get, stay)."""
        async with self._accept_lock:
            if not await self._first_delivery(event_id):
                return ReplyChange.NONE  # a retried delivery: handled the first time
            rows = await self._waiting(channel, ts, "id, text, ready")
            if not rows:
                return await self._not_waiting(channel, ts)
            for reply_id, stored, ready in rows:
                if not ready:  # its completion rewrites the text it arrived with: remember that
                    self._held_edits().setdefault(reply_id, stored)
                await self.db.execute(
                    "UPDATE pending_replies SET text = ? WHERE id = ?", (reword(stored, previous, text), reply_id)
                )
            await self.db.commit()
        await self._empty_log()  # the words replaced leave the disk too
        return ReplyChange.APPLIED

    async def forget_reply(self, channel: str, ts: str, event_id: str | None = None) -> ReplyChange:
        """The message `ts` was deleted: if it waits for Claude, it goes, with its files."""
        async with self._accept_lock:
            if not await self._first_delivery(event_id):
                return ReplyChange.NONE  # a retried delivery: handled the first time
            ids = [row[0] for row in await self._waiting(channel, ts, "id")]
            if not ids:
                return await self._not_waiting(channel, ts)
            for reply_id in ids:
                self._held_edits().pop(reply_id, None)
            await self.db.executemany("DELETE FROM pending_replies WHERE id = ?", [(i,) for i in ids])
            await self.db.executemany("DELETE FROM reply_files WHERE reply_id = ?", [(i,) for i in ids])
            await self.db.commit()
        await self._empty_log()
        return ReplyChange.APPLIED

    async def _waiting(self, channel: str, ts: str, columns: str) -> list[tuple[Any, ...]]:
        """The stored rows of the reply `ts` still waiting: not yet carried by a turn (a
        thread's opening message is no reply)."""
        return [tuple(row) for row in await self.db.execute_fetchall(
            f"SELECT {columns} FROM pending_replies WHERE channel = ? AND ts = ? AND ts != thread_ts "
            "AND sent IS NULL", (channel, ts)
        )]

    async def _first_delivery(self, event_id: str | None) -> bool:
        """Whether this edit or delete event is new (Slack retries a delivery it thinks was
        missed, and a retried delete must not be taken for one Claude read); it is recorded
        as seen, committed with what it changes."""
        if event_id is None:
            return True
        key = f"event:{event_id}"
        if await self.db.execute_fetchall("SELECT 1 FROM seen WHERE key = ?", (key,)):
            return False
        await self.db.execute("INSERT INTO seen (key, seen_at) VALUES (?, ?)", (key, time.time()))
        return True

    async def _not_waiting(self, channel: str, ts: str) -> ReplyChange:
        """A message not waiting: SENT if it was passed on (seen), else NONE."""
        seen = await self.db.execute_fetchall("SELECT 1 FROM seen WHERE key = ?", (f"msg:{channel}:{ts}",))
        await self.db.commit()  # the event, seen
        return ReplyChange.SENT if seen else ReplyChange.NONE

    def _held_edits(self) -> dict[int, str]:
        """Held replies edited before their completion: id -> the text they arrived with.
        In memory only: after a restart no completion comes; such a reply goes to Claude
        as stored, its edit included."""
        edits: dict[int, str] | None = getattr(self, "_edited_while_held", None)
        if edits is None:
            edits = self._edited_while_held = {}
        return edits

    async def claim(self, channel: str, ts: str, event_id: str | None) -> bool:
        """Record a message as handled; False if it (or its event) was seen before."""
        async with self._accept_lock:
            fresh = await self._mark_seen(channel, ts, event_id)
            await self.db.commit()
            return fresh

    async def _mark_seen(self, channel: str, ts: str, event_id: str | None) -> bool:
        keys = [f"msg:{channel}:{ts}"] + ([f"event:{event_id}"] if event_id else [])
        if await self.db.execute_fetchall(f"SELECT 1 FROM seen WHERE key IN ({', '.join('?' * len(keys))})", keys):
            return False
        now = time.time()
        await self.db.executemany("INSERT INTO seen (key, seen_at) VALUES (?, ?)", [(k, now) for k in keys])
        return True

    async def _insert_reply(
        self, channel: str, thread_ts: str, user_id: str, text: str, ts: str, author: str | None,
        attachments: tuple[Attachment, ...], ready: bool, user_team: str | None = None,
    ) -> PendingReply:
        cursor = await self.db.execute(
            "INSERT INTO pending_replies (channel, thread_ts, user_id, text, ts, accepted_at, author, "
            "file_count, file_text_chars, file_image_bytes, ready, user_team) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (channel, thread_ts, user_id, text, ts, time.time(), author, len(attachments),
             text_chars(attachments), image_bytes(attachments), int(ready), user_team),
        )
        reply_id = cursor.lastrowid or 0
        await self._commit_files(reply_id, attachments)
        return PendingReply(
            reply_id, channel, thread_ts, user_id, text, ts, author, len(attachments), text_chars(attachments),
            image_bytes(attachments), ready, user_team,
        )

    async def _commit_files(self, reply_id: int, files: tuple[Attachment, ...]) -> None:
        """Store a reply's files with the reply's own change, in one commit."""
        await self._insert_files(reply_id, files)
        await self.db.commit()
        if files:  # their pages go to the database now, not into a growing log
            await self._empty_log()

    async def _insert_files(self, reply_id: int, files: tuple[Attachment, ...]) -> None:
        await self.db.executemany(
            "INSERT INTO reply_files (reply_id, position, name, mime, data) VALUES (?, ?, ?, ?, ?)",
            [(reply_id, n, f.name, f.mime, f.data) for n, f in enumerate(files)],
        )

    async def reply_files(self, reply_ids: list[int]) -> tuple[Attachment, ...]:
        """The files of these replies, in reply order: loaded for the turn that sends them."""
        if not reply_ids:
            return ()
        rows = await self.db.execute_fetchall(
            f"SELECT name, mime, data FROM reply_files WHERE reply_id IN ({', '.join('?' * len(reply_ids))}) "
            "ORDER BY reply_id, position",
            reply_ids,
        )
        return tuple(Attachment(name, mime, bytes(data)) for name, mime, data in rows)

    async def pending_replies(self, channel: str, thread_ts: str) -> list[PendingReply]:
        rows = await self.db.execute_fetchall(
            "SELECT id, channel, thread_ts, user_id, text, ts, author, file_count, file_text_chars, file_image_bytes, "
            "ready, user_team, sent, question_id, EXISTS (SELECT 1 FROM questions q WHERE q.id = question_id "
            "AND q.answered = 0) FROM pending_replies WHERE channel = ? AND thread_ts = ? ORDER BY id",
            (channel, thread_ts),
        )
        return [
            PendingReply(
                id=row[0], channel=row[1], thread_ts=row[2], user_id=row[3], text=row[4], ts=row[5],
                author=row[6], file_count=row[7], file_text_chars=row[8], file_image_bytes=row[9],
                ready=bool(row[10]), user_team=row[11], sent=row[12], question_id=row[13], held=bool(row[14]),
            )
            for row in rows
        ]

    async def held_bytes(self, channel: str, thread_ts: str, user_id: str) -> tuple[int, int]:
        """Bytes of files waiting for Claude: in this thread, and this person's in every thread."""
        ((thread, person),) = await self.db.execute_fetchall(
            "SELECT COALESCE(SUM(CASE WHEN p.channel = ? AND p.thread_ts = ? THEN length(f.data) END), 0), "
            "COALESCE(SUM(CASE WHEN p.user_id = ? THEN length(f.data) END), 0) "
            "FROM reply_files f JOIN pending_replies p ON p.id = f.reply_id",
            (channel, thread_ts, user_id),
        )
        return int(thread), int(person)

    async def threads_with_pending(self) -> list[tuple[str, str]]:
        rows = await self.db.execute_fetchall(
            "SELECT channel, thread_ts FROM pending_replies GROUP BY channel, thread_ts ORDER BY MIN(id)"
        )
        return [(row[0], row[1]) for row in rows]

    async def remove_replies(self, ids: list[int]) -> None:
        await self.db.executemany("DELETE FROM pending_replies WHERE id = ?", [(i,) for i in ids])
        await self.db.executemany("DELETE FROM reply_files WHERE reply_id = ?", [(i,) for i in ids])
        await self.db.commit()
        await self._empty_log()

    async def drop_pending(self, channel: str, thread_ts: str) -> None:
        """Forget a thread's unanswered replies (the interview was cancelled)."""
        await self.db.execute(
            "DELETE FROM reply_files WHERE reply_id IN "
            "(SELECT id FROM pending_replies WHERE channel = ? AND thread_ts = ?)",
            (channel, thread_ts),
        )
        await self.db.execute(
            "DELETE FROM pending_replies WHERE channel = ? AND thread_ts = ?", (channel, thread_ts)
        )
        await self.db.commit()
        await self._empty_log()

    async def _empty_log(self) -> None:
        """Move the write-ahead log into the database and truncate it to nothing.

        `secure_delete` zeroes a removed row in the database's pages, but the log still
        holds the row's earlier versions (the pages written when it was stored) until it
        is checkpointed and truncated; only then is a removed reply gone from disk.

        Never raises: the connection is shared, and a statement another coroutine has
        open (a cursor being read) makes SQLite refuse the checkpoint ("database table
        is locked"). That is retried briefly; failing that, the next removal empties it."""
        for attempt in range(CHECKPOINT_TRIES):
            try:
                row = next(iter(await self.db.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")), None)
                if row is None or not row[0]:
                    return
            except sqlite3.OperationalError as exc:
                if attempt == CHECKPOINT_TRIES - 1:
                    log.warning("the write-ahead log could not be emptied (%s); it is on the next removal", exc)
                    return
            await asyncio.sleep(CHECKPOINT_RETRY_SECONDS)
        log.warning("the write-ahead log could not be emptied (busy); it is on the next removal")
