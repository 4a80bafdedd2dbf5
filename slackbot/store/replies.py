"""The store's replies: people's messages (and their files) waiting for Claude, in
arrival order, and the events already seen, so a retried delivery is queued once."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..events import Attachment
from .records import PendingReply, ReplyChange, image_bytes, text_chars
from .transactions import Transactions

# A waiting reply as `_reply` reads it: a question it answers holds it while parts are open.
_REPLY_COLUMNS = (
    "id, channel, thread_ts, user_id, text, ts, author, file_count, file_text_chars, file_image_bytes, "
    "ready, user_team, sent, question_id, EXISTS (SELECT 1 FROM questions q WHERE q.id = question_id "
    "AND q.answered = 0), question_item"
)
# A held reply without files goes to Claude as it is: its text was stored on arrival.
_RELEASE = "UPDATE pending_replies SET ready = 1, held_by = NULL"
# A held reply whose replica is no longer live (one parameter: the oldest beat still live).
_ORPHANED_HOLD = "ready = 0 AND (held_by IS NULL OR held_by NOT IN (SELECT id FROM replicas WHERE seen_at >= ?))"
# Slack retries within minutes; a week of keys is plenty and keeps the table small.
SEEN_RETENTION_SECONDS = 7 * 24 * 3600


def reword(stored: str, old: str | None, new: str) -> str:
    """A stored reply with its author's words `old` (at its start) replaced by `new`; the
    lines after them (telling Claude of files it doesn't get) stay. `old` not there: `new`."""
    if old is None or not stored.startswith(old):
        return new
    rest = stored[len(old):].lstrip("\n")
    return "\n".join(part for part in (new, rest) if part)


class Replies(Transactions):
    """The store's queries about waiting replies."""

    _edited_while_held: dict[int, str]  # see _held_edits

    async def _tidy_after_start(self, *, one_process: bool) -> None:
        """What a run that stopped left behind, put right as the store opens. On a database
        one process serves, every reply held now was held by a run that stopped: those
        without files go to Claude as they are (their text was stored on arrival); those
        with files stay held, for a replica to fetch again (`adopt_holds`). Shared by
        replicas, a reply held by a live one is its own (`adopt_holds` again)."""
        async with self.transaction() as db:
            if one_process:
                await db.execute(f"{_RELEASE} WHERE ready = 0 AND slack_files = '[]'")
            await db.execute("DELETE FROM seen WHERE seen_at < ?", (time.time() - SEEN_RETENTION_SECONDS,))

    async def accept_reply(
        self, channel: str, thread_ts: str, user_id: str, text: str, ts: str, event_id: str | None,
        author: str | None = None, attachments: tuple[Attachment, ...] = (), *, ready: bool = True,
        user_team: str | None = None, slack_files: Sequence[Mapping[str, Any]] = (), held_by: str | None = None,
    ) -> PendingReply | None:
        """Queue a reply unless its event or its message was seen before (Slack retries).

        With `ready=False` the reply holds its place in the thread's order while
        its files and author are still being fetched (`complete_reply`) by the replica
        `held_by`; `slack_files`, what fetching its files takes, is kept with it until then
        (see `adopt_holds`).
        The keys, the reply and its files are one transaction: stored all, or none (then a
        retry is new)."""
        async with self.transaction():
            if not await self._mark_seen(channel, ts, event_id):
                return None
            reply = await self._insert_reply(
                channel, thread_ts, user_id, text, ts, author, attachments, ready, user_team, slack_files,
                None if ready else held_by,
            )
        await self._flush_files(attachments)
        return reply

    async def queue_claimed_reply(
        self, channel: str, thread_ts: str, user_id: str, text: str, ts: str, author: str | None,
        user_team: str | None = None,
    ) -> PendingReply:
        """Queue a reply already claimed (seen) as a question's answer that came too late."""
        return await self._insert_reply(channel, thread_ts, user_id, text, ts, author, (), True, user_team)

    async def complete_reply(
        self, reply_id: int, text: str, author: str | None, attachments: tuple[Attachment, ...],
        held_by: str | None = None,
    ) -> bool:
        """The reply's files and author are known: it may now be sent to Claude (its file
        list is no longer needed). False if it is gone: deleted, or its interview cancelled;
        or no longer held (by `held_by`, if given): another replica took it over, taking
        this one for dead.

        `text` was made from the text the reply arrived with: an edit made while it was
        held replaces those words in it. A reply deleted while held stays deleted, and
        none of its files are stored."""
        async with self.transaction() as db:  # no edit between reading the stored words and the write
            arrived = self._held_edits().pop(reply_id, None)
            if arrived is not None:
                row = next(iter(await self.fetch("SELECT text FROM pending_replies WHERE id = ?", (reply_id,))), None)
                text = reword(text, arrived, row[0]) if row is not None else text
            mine = "" if held_by is None else " AND held_by = ?"
            cursor = await db.execute(
                "UPDATE pending_replies SET text = ?, author = ?, file_count = ?, file_text_chars = ?, "
                f"file_image_bytes = ?, ready = 1, slack_files = '[]', held_by = NULL WHERE id = ? AND ready = 0{mine}",
                (text, author, len(attachments), text_chars(attachments), image_bytes(attachments), reply_id,
                 *([] if held_by is None else [held_by])),
            )
            if cursor.rowcount == 0:  # deleted (or taken over) meanwhile: its files are not stored either
                return False
            await self._insert_files(reply_id, attachments)
        await self._flush_files(attachments)
        return True

    async def adopt_holds(self, replica_id: str, timeout: float) -> list[tuple[PendingReply, list[dict[str, Any]]]]:
        """Replies held by a replica no longer live (its last beat older than `timeout`; on
        SQLite, any earlier run), in arrival order: those without files are released to
        Claude as they are (returned ready, for their thread to be woken); those with files
        become `replica_id`'s, returned with what fetching those files again takes."""
        # Every replica asks at every beat, and there is almost never any: a plain read says
        # so without the write lock every writer waits on. The transaction reads again.
        if not await self.fetch(f"SELECT 1 FROM pending_replies WHERE {_ORPHANED_HOLD} LIMIT 1",
                                (time.time() - timeout,)):
            return []
        async with self.transaction() as db:  # reads, then writes: no other replica adopts them too
            rows = await self.fetch(
                f"SELECT {_REPLY_COLUMNS}, slack_files FROM pending_replies WHERE {_ORPHANED_HOLD} ORDER BY id",
                (time.time() - timeout,),
            )
            adopted = [(_reply(row), json.loads(row[-1])) for row in rows]
            released = [(reply.id,) for reply, files in adopted if not files]
            await db.executemany(f"{_RELEASE} WHERE id = ?", released)
            await db.executemany(
                "UPDATE pending_replies SET held_by = ? WHERE id = ?",
                [(replica_id, reply.id) for reply, files in adopted if files],
            )
        return [(replace(reply, ready=not files), files) for reply, files in adopted]

    async def edit_reply(
        self, channel: str, ts: str, previous: str | None, text: str, event_id: str | None = None,
        *, unchanged_only: bool = False,
    ) -> ReplyChange:
        """Its author edited the message `ts` from `previous` to `text`. If it waits for
        Claude, those words change (the lines after them, on files Claude doesn't get, stay).
        `unchanged_only`: a stored reply that no longer starts with `previous` is left alone."""
        async with self.transaction() as db:
            if not await self._first_delivery(event_id):
                return ReplyChange.NONE  # a retried delivery: handled the first time
            rows = await self._waiting(channel, ts, "id, text, ready")
            if not rows:
                return await self._not_waiting(channel, ts)
            for reply_id, stored, ready in rows:
                if unchanged_only and (previous is None or not stored.startswith(previous)):
                    continue
                if not ready:  # its completion rewrites the text it arrived with: remember that
                    self._held_edits().setdefault(reply_id, stored)
                await db.execute(
                    "UPDATE pending_replies SET text = ? WHERE id = ?", (reword(stored, previous, text), reply_id)
                )
        await self._empty_log()  # the words replaced leave the disk too
        return ReplyChange.APPLIED

    async def forget_reply(self, channel: str, ts: str, event_id: str | None = None) -> ReplyChange:
        """The message `ts` was deleted: if it waits for Claude, it goes, with its files."""
        async with self.transaction() as db:
            if not await self._first_delivery(event_id):
                return ReplyChange.NONE  # a retried delivery: handled the first time
            ids = [row[0] for row in await self._waiting(channel, ts, "id")]
            if not ids:
                return await self._not_waiting(channel, ts)
            for reply_id in ids:
                self._held_edits().pop(reply_id, None)
            await db.executemany("DELETE FROM pending_replies WHERE id = ?", [(i,) for i in ids])
            await db.executemany("DELETE FROM reply_files WHERE reply_id = ?", [(i,) for i in ids])
        await self._empty_log()
        return ReplyChange.APPLIED

    async def _waiting(self, channel: str, ts: str, columns: str) -> list[tuple[Any, ...]]:
        """The stored rows of the reply `ts` still waiting: not yet carried by a turn (a
        thread's opening message is no reply)."""
        return [tuple(row) for row in await self.fetch(
            f"SELECT {columns} FROM pending_replies WHERE channel = ? AND ts = ? AND ts != thread_ts "
            "AND sent IS NULL", (channel, ts)
        )]

    async def _first_delivery(self, event_id: str | None) -> bool:
        """Whether this edit or delete event is new (Slack retries a delivery it thinks was
        missed, and a retried delete must not be taken for one Claude read); it is recorded
        as seen, in the caller's transaction."""
        if event_id is None:
            return True
        key = f"event:{event_id}"
        if await self.fetch("SELECT 1 FROM seen WHERE key = ?", (key,)):
            return False
        async with self.transaction() as db:
            await db.execute("INSERT INTO seen (key, seen_at) VALUES (?, ?)", (key, time.time()))
        return True

    async def _not_waiting(self, channel: str, ts: str) -> ReplyChange:
        """A message not waiting: SENT if it was passed on (seen), else NONE."""
        seen = await self.fetch("SELECT 1 FROM seen WHERE key = ?", (f"msg:{channel}:{ts}",))
        return ReplyChange.SENT if seen else ReplyChange.NONE

    def _held_edits(self) -> dict[int, str]:
        """Held replies edited before their completion: id -> the text they arrived with.
        In memory only: after a restart no completion comes; such a reply goes to Claude
        as stored, its edit included."""
        edits: dict[int, str] | None = getattr(self, "_edited_while_held", None)
        if edits is None:
            edits = self._edited_while_held = {}
        return edits

    async def _mark_seen(self, channel: str, ts: str, event_id: str | None) -> bool:
        """Check and insert the keys in one transaction: two deliveries can't both be new."""
        keys = [f"msg:{channel}:{ts}"] + ([f"event:{event_id}"] if event_id else [])
        async with self.transaction() as db:
            if await self.fetch(f"SELECT 1 FROM seen WHERE key IN ({', '.join('?' * len(keys))})", keys):
                return False
            now = time.time()
            await db.executemany("INSERT INTO seen (key, seen_at) VALUES (?, ?)", [(k, now) for k in keys])
        return True

    async def _insert_reply(
        self, channel: str, thread_ts: str, user_id: str, text: str, ts: str, author: str | None,
        attachments: tuple[Attachment, ...], ready: bool, user_team: str | None = None,
        slack_files: Sequence[Mapping[str, Any]] = (), held_by: str | None = None,
    ) -> PendingReply:
        async with self.transaction() as db:
            ((reply_id,),) = await db.execute_fetchall(
                "INSERT INTO pending_replies (channel, thread_ts, user_id, text, ts, accepted_at, author, "
                "file_count, file_text_chars, file_image_bytes, ready, user_team, slack_files, held_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (channel, thread_ts, user_id, text, ts, time.time(), author, len(attachments),
                 text_chars(attachments), image_bytes(attachments), int(ready), user_team,
                 json.dumps([dict(f) for f in slack_files]), held_by),
            )
            await self._insert_files(reply_id, attachments)
        return PendingReply(
            reply_id, channel, thread_ts, user_id, text, ts, author, len(attachments), text_chars(attachments),
            image_bytes(attachments), ready, user_team,
        )

    async def _flush_files(self, files: tuple[Attachment, ...]) -> None:
        """After the transaction that stored files: their pages go to the database now,
        not into a growing log."""
        if files:
            await self._empty_log()

    async def _insert_files(self, reply_id: int, files: tuple[Attachment, ...]) -> None:
        """A reply's files, stored with the reply's own change (the caller's transaction)."""
        async with self.transaction() as db:
            await db.executemany(
                "INSERT INTO reply_files (reply_id, position, name, mime, data) VALUES (?, ?, ?, ?, ?)",
                [(reply_id, n, f.name, f.mime, f.data) for n, f in enumerate(files)],
            )

    async def reply_files(self, reply_ids: list[int]) -> tuple[Attachment, ...]:
        """The files of these replies, in reply order: loaded for the turn that sends them."""
        if not reply_ids:
            return ()
        rows = await self.fetch(
            f"SELECT name, mime, data FROM reply_files WHERE reply_id IN ({', '.join('?' * len(reply_ids))}) "
            "ORDER BY reply_id, position",
            reply_ids,
        )
        return tuple(Attachment(name, mime, bytes(data)) for name, mime, data in rows)

    async def pending_replies(self, channel: str, thread_ts: str) -> list[PendingReply]:
        rows = await self.fetch(
            f"SELECT {_REPLY_COLUMNS} FROM pending_replies WHERE channel = ? AND thread_ts = ? ORDER BY id",
            (channel, thread_ts),
        )
        return [_reply(row) for row in rows]

    async def held_bytes(self, channel: str, thread_ts: str, user_id: str) -> tuple[int, int]:
        """Bytes of files waiting for Claude: in this thread, and this person's in every thread."""
        ((thread, person),) = await self.fetch(
            "SELECT COALESCE(SUM(CASE WHEN p.channel = ? AND p.thread_ts = ? THEN length(f.data) END), 0), "
            "COALESCE(SUM(CASE WHEN p.user_id = ? THEN length(f.data) END), 0) "
            "FROM reply_files f JOIN pending_replies p ON p.id = f.reply_id",
            (channel, thread_ts, user_id),
        )
        return int(thread), int(person)

    async def threads_with_pending(self) -> list[tuple[str, str]]:
        rows = await self.fetch(
            "SELECT channel, thread_ts FROM pending_replies GROUP BY channel, thread_ts ORDER BY MIN(id)"
        )
        return [(row[0], row[1]) for row in rows]

    async def remove_replies(self, ids: list[int]) -> None:
        async with self.transaction() as db:
            await db.executemany("DELETE FROM pending_replies WHERE id = ?", [(i,) for i in ids])
            await db.executemany("DELETE FROM reply_files WHERE reply_id = ?", [(i,) for i in ids])
        await self._empty_log()

    async def drop_pending(self, channel: str, thread_ts: str) -> None:
        """Forget a thread's unanswered replies (the interview was cancelled)."""
        async with self.transaction() as db:
            await db.execute(
                "DELETE FROM reply_files WHERE reply_id IN "
                "(SELECT id FROM pending_replies WHERE channel = ? AND thread_ts = ?)",
                (channel, thread_ts),
            )
            await db.execute("DELETE FROM pending_replies WHERE channel = ? AND thread_ts = ?", (channel, thread_ts))
        await self._empty_log()


def _reply(row: Any) -> PendingReply:
    """A row selected with `_REPLY_COLUMNS` first."""
    return PendingReply(
        id=row[0], channel=row[1], thread_ts=row[2], user_id=row[3], text=row[4], ts=row[5],
        author=row[6], file_count=row[7], file_text_chars=row[8], file_image_bytes=row[9],
        ready=bool(row[10]), user_team=row[11], sent=row[12], question_id=row[13], held=bool(row[14]),
        question_item=row[15],
    )
