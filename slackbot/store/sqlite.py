"""`SqliteStore`: the state store in one SQLite file in NEWSPEC_STATE_DIR.

Every write is committed before the call returns, so the bot acts only on state
that survives a crash.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiosqlite

from ..events import Attachment
from ..private import private_folder
from .ledger import Ledger
from .migrations import MIGRATIONS
from .records import InterviewRecord, PendingReply, Status, StoredQuestion

# Slack retries within minutes; a week of keys is plenty and keeps the table small.
SEEN_RETENTION_SECONDS = 7 * 24 * 3600
_COLUMNS = (
    "channel, thread_ts, name, started_by, team_id, session_id, status, created_at, "
    "updated_at, spec_written, spec_reported, uploads, cost_usd, input_tokens, output_tokens, model_turns, "
    "session_cost_usd, model"
)
_UPDATABLE = frozenset(
    {
        "session_id", "status", "updated_at", "spec_written", "spec_reported", "uploads", "team_id",
        "cost_usd", "input_tokens", "output_tokens", "model_turns", "session_cost_usd", "model",
    }
)


class SqliteStore(Ledger):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        # Check-then-insert of seen keys must not interleave between coroutines.
        self._accept_lock = asyncio.Lock()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the state store is not open")
        return self._db

    async def open(self) -> None:
        # People's answers live here: readable by the bot's user only (SQLite gives
        # its -wal and -shm files the database file's permissions).
        private_folder(self.path.parent)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        self.path.chmod(0o600)
        self._db = await aiosqlite.connect(self.path)
        # Deleted rows (answers, attachments) are overwritten, not left in free pages.
        await self.db.execute("PRAGMA secure_delete=ON")
        await self.db.execute("PRAGMA journal_mode=WAL")
        await self.db.execute("PRAGMA synchronous=FULL")
        await self._migrate()
        await self._move_legacy_files()
        # Replies held for enrichment by a run that stopped: nothing will complete them
        # now, so they go to Claude as they are (their text was stored on arrival).
        await self.db.execute("UPDATE pending_replies SET ready = 1 WHERE ready = 0")
        await self.db.execute(
            "DELETE FROM seen WHERE seen_at < ?", (time.time() - SEEN_RETENTION_SECONDS,)
        )
        await self.db.commit()

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _migrate(self) -> None:
        async with self.db.execute("PRAGMA user_version") as cursor:
            (version,) = await cursor.fetchone()  # type: ignore[misc]
        for number in range(version, len(MIGRATIONS)):
            await self.db.executescript(
                f"BEGIN; {MIGRATIONS[number]} PRAGMA user_version = {number + 1}; COMMIT;"
            )

    async def _move_legacy_files(self) -> None:
        """Files queued by an older version (base64 in a JSON column) move to reply_files."""
        async with self.db.execute(
            "SELECT id, attachments FROM pending_replies WHERE attachments != '[]'"
        ) as cursor:
            rows = await cursor.fetchall()
        for reply_id, raw in rows:
            files = _load_attachments(raw)
            await self._insert_files(reply_id, files)
            await self.db.execute(
                "UPDATE pending_replies SET attachments = '[]', file_count = ?, file_text_bytes = ? WHERE id = ?",
                (len(files), _text_bytes(files), reply_id),
            )

    # -- interviews --------------------------------------------------------

    async def add_interview(self, record: InterviewRecord) -> None:
        await self.db.execute(
            f"INSERT INTO interviews ({_COLUMNS}) VALUES ({', '.join('?' * 18)})",
            (
                record.channel, record.thread_ts, record.name, record.started_by, record.team_id,
                record.session_id, str(record.status), record.created_at, record.updated_at,
                json.dumps(list(record.spec_written)), int(record.spec_reported), record.uploads,
                record.cost_usd, record.input_tokens, record.output_tokens, record.model_turns,
                record.session_cost_usd, record.model,
            ),
        )
        await self.db.commit()

    async def claim_name(self, record: InterviewRecord) -> InterviewRecord | None:
        """Add the interview unless its project already has an open one (atomic: a unique
        index); then return that one instead."""
        try:
            await self.add_interview(record)
        except sqlite3.IntegrityError:
            await self.db.rollback()
            return await self.find_by_name(record.name)
        return None

    async def move_interview(self, channel: str, old_ts: str, new_ts: str) -> None:
        """The claimed interview got its thread: key it by the root message's ts."""
        await self.db.execute(
            "UPDATE interviews SET thread_ts = ? WHERE channel = ? AND thread_ts = ?", (new_ts, channel, old_ts)
        )
        for table in ("spend", "budget_notes"):
            await self.db.execute(
                f"UPDATE {table} SET thread_ts = ? WHERE channel = ? AND thread_ts = ?", (new_ts, channel, old_ts)
            )
        await self.db.commit()

    async def remove_interview(self, channel: str, thread_ts: str) -> None:
        """Give a claimed name back (its thread could not be opened)."""
        await self.db.execute("DELETE FROM interviews WHERE channel = ? AND thread_ts = ?", (channel, thread_ts))
        await self.db.commit()

    async def get_interview(self, channel: str, thread_ts: str) -> InterviewRecord | None:
        rows = await self._select("WHERE channel = ? AND thread_ts = ?", (channel, thread_ts))
        return rows[0] if rows else None

    async def find_by_name(self, name: str, *, include_cancelled: bool = False) -> InterviewRecord | None:
        """The newest interview of that project that was not cancelled (or, with
        `include_cancelled`, the newest of all). Names that differ only in case are
        the same project: they share a folder on macOS and Windows."""
        params: tuple[str, ...]
        if include_cancelled:
            where, params = "WHERE lower(name) = lower(?)", (name,)
        else:
            where, params = "WHERE lower(name) = lower(?) AND status != ?", (name, str(Status.CANCELLED))
        # rowid breaks ties between interviews created within the same clock tick.
        rows = await self._select(f"{where} ORDER BY created_at DESC, rowid DESC LIMIT 1", params)
        return rows[0] if rows else None

    async def list_interviews(self, team_id: str | None = None) -> list[InterviewRecord]:
        if team_id is None:
            return await self._select("ORDER BY updated_at DESC", ())
        return await self._select("WHERE team_id = ? ORDER BY updated_at DESC", (team_id,))

    async def update_interview(self, channel: str, thread_ts: str, **changes: Any) -> None:
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        changes.setdefault("updated_at", time.time())
        if "spec_written" in changes:
            changes["spec_written"] = json.dumps(list(changes["spec_written"]))
        if "status" in changes:
            changes["status"] = str(changes["status"])
        assignments = ", ".join(f"{column} = ?" for column in changes)
        await self.db.execute(
            f"UPDATE interviews SET {assignments} WHERE channel = ? AND thread_ts = ?",
            (*changes.values(), channel, thread_ts),
        )
        await self.db.commit()

    async def _select(self, where: str, params: tuple[Any, ...]) -> list[InterviewRecord]:
        async with self.db.execute(f"SELECT {_COLUMNS} FROM interviews {where}", params) as cursor:
            rows = await cursor.fetchall()
        return [
            InterviewRecord(
                channel=row[0], thread_ts=row[1], name=row[2], started_by=row[3], team_id=row[4],
                session_id=row[5], status=Status(row[6]), created_at=row[7], updated_at=row[8],
                spec_written=tuple(json.loads(row[9])), spec_reported=bool(row[10]), uploads=row[11],
                cost_usd=row[12], input_tokens=row[13], output_tokens=row[14], model_turns=row[15],
                session_cost_usd=row[16], model=row[17],
            )
            for row in rows
        ]

    # -- replies -------------------------------------------------------------

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
            "UPDATE pending_replies SET text = ?, author = ?, file_count = ?, file_text_bytes = ?, ready = 1 "
            "WHERE id = ?",
            (text, author, len(attachments), _text_bytes(attachments), reply_id),
        )
        await self._insert_files(reply_id, attachments)
        await self.db.commit()

    async def claim(self, channel: str, ts: str, event_id: str | None) -> bool:
        """Record a message as handled; False if it (or its event) was seen before."""
        async with self._accept_lock:
            fresh = await self._mark_seen(channel, ts, event_id)
            await self.db.commit()
            return fresh

    async def _mark_seen(self, channel: str, ts: str, event_id: str | None) -> bool:
        keys = [f"msg:{channel}:{ts}"] + ([f"event:{event_id}"] if event_id else [])
        async with self.db.execute(
            f"SELECT 1 FROM seen WHERE key IN ({', '.join('?' * len(keys))})", keys
        ) as cursor:
            if await cursor.fetchone() is not None:
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
            "file_count, file_text_bytes, ready, user_team) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (channel, thread_ts, user_id, text, ts, time.time(), author, len(attachments),
             _text_bytes(attachments), int(ready), user_team),
        )
        reply_id = cursor.lastrowid or 0
        await self._insert_files(reply_id, attachments)
        await self.db.commit()
        return PendingReply(
            reply_id, channel, thread_ts, user_id, text, ts, author, len(attachments), _text_bytes(attachments),
            ready, user_team,
        )

    async def _insert_files(self, reply_id: int, files: tuple[Attachment, ...]) -> None:
        await self.db.executemany(
            "INSERT INTO reply_files (reply_id, position, name, mime, data) VALUES (?, ?, ?, ?, ?)",
            [(reply_id, n, f.name, f.mime, f.data) for n, f in enumerate(files)],
        )

    async def reply_files(self, reply_ids: list[int]) -> tuple[Attachment, ...]:
        """The files of these replies, in reply order: loaded for the turn that sends them."""
        if not reply_ids:
            return ()
        async with self.db.execute(
            f"SELECT name, mime, data FROM reply_files WHERE reply_id IN ({', '.join('?' * len(reply_ids))}) "
            "ORDER BY reply_id, position",
            reply_ids,
        ) as cursor:
            return tuple(Attachment(name, mime, bytes(data)) for name, mime, data in await cursor.fetchall())

    async def pending_replies(self, channel: str, thread_ts: str) -> list[PendingReply]:
        async with self.db.execute(
            "SELECT id, channel, thread_ts, user_id, text, ts, author, file_count, file_text_bytes, ready, user_team "
            "FROM pending_replies WHERE channel = ? AND thread_ts = ? ORDER BY id",
            (channel, thread_ts),
        ) as cursor:
            return [
                PendingReply(
                    id=row[0], channel=row[1], thread_ts=row[2], user_id=row[3], text=row[4], ts=row[5],
                    author=row[6], file_count=row[7], file_text_bytes=row[8], ready=bool(row[9]), user_team=row[10],
                )
                for row in await cursor.fetchall()
            ]

    async def threads_with_pending(self) -> list[tuple[str, str]]:
        async with self.db.execute(
            "SELECT channel, thread_ts FROM pending_replies GROUP BY channel, thread_ts ORDER BY MIN(id)"
        ) as cursor:
            return [(row[0], row[1]) for row in await cursor.fetchall()]

    async def remove_replies(self, ids: list[int]) -> None:
        await self.db.executemany("DELETE FROM pending_replies WHERE id = ?", [(i,) for i in ids])
        await self.db.executemany("DELETE FROM reply_files WHERE reply_id = ?", [(i,) for i in ids])
        await self.db.commit()

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

    # -- questions -------------------------------------------------------------

    async def add_question(
        self, question_id: str, channel: str, thread_ts: str, payload: dict[str, Any]
    ) -> None:
        await self.db.execute(
            "INSERT OR REPLACE INTO questions (id, channel, thread_ts, payload, answered, created_at) "
            "VALUES (?, ?, ?, ?, 0, ?)",
            (question_id, channel, thread_ts, json.dumps(payload), time.time()),
        )
        await self.db.commit()

    async def get_question(self, question_id: str) -> StoredQuestion | None:
        async with self.db.execute(
            "SELECT id, channel, thread_ts, payload, answered FROM questions WHERE id = ?", (question_id,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return StoredQuestion(row[0], row[1], row[2], json.loads(row[3]), bool(row[4]))

    async def claim_answer(self, question_id: str, item: int) -> bool:
        """Take the right to answer one item of a question; False if it was answered already."""
        cursor = await self.db.execute(
            "INSERT OR IGNORE INTO question_answers (question_id, item) VALUES (?, ?)", (question_id, item)
        )
        await self.db.commit()
        return cursor.rowcount == 1

    async def answered_items(self, question_id: str) -> set[int]:
        async with self.db.execute(
            "SELECT item FROM question_answers WHERE question_id = ?", (question_id,)
        ) as cursor:
            return {row[0] for row in await cursor.fetchall()}

    async def mark_question_answered(self, question_id: str) -> None:
        await self.db.execute("UPDATE questions SET answered = 1 WHERE id = ?", (question_id,))
        await self.db.commit()


def _text_bytes(files: tuple[Attachment, ...]) -> int:
    return sum(f.size for f in files if not f.is_image)


def _load_attachments(raw: str) -> tuple[Attachment, ...]:
    return tuple(Attachment(a["name"], a["mime"], base64.b64decode(a["data"])) for a in json.loads(raw))
