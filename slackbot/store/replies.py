"""The store's replies: people's messages (and their files) waiting for Claude, in
arrival order, and the events already seen, so a retried delivery is queued once."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

import aiosqlite

from ..events import Attachment
from .records import PendingReply, image_bytes, text_chars

log = logging.getLogger(__name__)

CHECKPOINT_TRIES = 5
CHECKPOINT_RETRY_SECONDS = 0.05


class Replies:
    """Queries of `SqliteStore` about waiting replies (it provides `db`)."""

    _accept_lock: asyncio.Lock  # check-then-insert of seen keys must not interleave

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
        """The reply's files and author are known: it may now be sent to Claude."""
        await self.db.execute(
            "UPDATE pending_replies SET text = ?, author = ?, file_count = ?, file_text_chars = ?, "
            "file_image_bytes = ?, ready = 1 WHERE id = ?",
            (text, author, len(attachments), text_chars(attachments), image_bytes(attachments), reply_id),
        )
        await self._commit_files(reply_id, attachments)

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
