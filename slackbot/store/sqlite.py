"""`SqliteStore`: the state store in one SQLite file in NEWSPEC_STATE_DIR.

Every write is committed before the call returns, so the bot acts only on state
that survives a crash. All coroutines share one connection, so each write is one
explicit transaction under a lock (`transaction()`), and each read waits for that lock
(`fetch()`): transactions.py explains the choice and the rules for new methods.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiosqlite

from ..events import Attachment
from .delivery import Delivery
from .followups import Followups
from .ledger import Ledger
from .migrations import MIGRATIONS
from .private import private_folder
from .records import InterviewRecord, Status, image_bytes, text_chars
from .replies import Replies
from .sessions import Transcripts
from .transactions import Transactions

# Slack retries within minutes; a week of keys is plenty and keeps the table small.
SEEN_RETENTION_SECONDS = 7 * 24 * 3600
# The write-ahead log is cut back to this after each checkpoint (files stored, replies
# removed and SQLite's own every 1,000 pages), so it can't keep a flood's high-water mark.
WAL_SIZE_LIMIT = 4 * 2**20
_COLUMNS = (
    "channel, thread_ts, name, started_by, team_id, session_id, status, created_at, "
    "updated_at, spec_written, spec_reported, uploads, cost_usd, input_tokens, output_tokens, model_turns, "
    "session_cost_usd, model, upload_pending, turn_payer, turn_by"
)
_UPDATABLE = frozenset(
    {
        "session_id", "status", "updated_at", "spec_written", "spec_reported", "uploads", "team_id",
        "cost_usd", "input_tokens", "output_tokens", "model_turns", "session_cost_usd", "model", "upload_pending",
        "turn_payer", "turn_by",
    }
)


class SqliteStore(Replies, Delivery, Ledger, Followups, Transcripts, Transactions):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    async def open(self) -> None:
        # People's answers live here: readable by the bot's user only (SQLite gives
        # its -wal and -shm files the database file's permissions).
        private_folder(self.path.parent)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        self.path.chmod(0o600)
        # Autocommit mode: only `transaction()` opens transactions (never Python's sqlite3).
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        async with self._exclusive():  # outside a transaction: the journal mode can't change in one
            # Deleted rows (answers, attachments) are overwritten, not left in free pages.
            await self.db.execute("PRAGMA secure_delete=ON")
            await self.db.execute("PRAGMA journal_mode=WAL")
            await self.db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            await self.db.execute("PRAGMA synchronous=FULL")
        await self._migrate()
        async with self.transaction() as db:
            await self._move_legacy_files()
            # Replies held for enrichment by a run that stopped: those without files go to
            # Claude as they are (their text was stored on arrival); those with files stay
            # held, for `Interviews.open` to fetch the files again (`held_downloads`).
            await db.execute("UPDATE pending_replies SET ready = 1 WHERE ready = 0 AND slack_files = '[]'")
            await db.execute("DELETE FROM seen WHERE seen_at < ?", (time.time() - SEEN_RETENTION_SECONDS,))

    async def close(self) -> None:
        async with self._exclusive():  # not in the middle of another coroutine's transaction
            if self._db is not None:
                await self._db.close()
                self._db = None

    async def _migrate(self) -> None:
        """Each migration in its own transaction; a script, so not in `transaction()`:
        executescript commits whatever transaction is open before it runs."""
        async with self._exclusive():
            ((version,),) = await self.fetch("PRAGMA user_version")
            for number in range(version, len(MIGRATIONS)):
                try:
                    await self.db.executescript(
                        f"BEGIN IMMEDIATE; {MIGRATIONS[number]} PRAGMA user_version = {number + 1}; COMMIT;"
                    )
                except BaseException:
                    await self._undo("ROLLBACK")  # a failed script stops with its transaction open
                    raise

    async def _move_legacy_files(self) -> None:
        """Files queued by an older version (base64 in a JSON column) move to reply_files."""
        async with self.transaction() as db:
            rows = await self.fetch("SELECT id, attachments FROM pending_replies WHERE attachments != '[]'")
            for reply_id, raw in rows:
                files = _load_attachments(raw)
                await self._insert_files(reply_id, files)
                await db.execute(
                    "UPDATE pending_replies SET attachments = '[]', file_count = ?, file_text_chars = ?, "
                    "file_image_bytes = ? WHERE id = ?",
                    (len(files), text_chars(files), image_bytes(files), reply_id),
                )

    # -- interviews --------------------------------------------------------

    async def add_interview(self, record: InterviewRecord) -> None:
        async with self.transaction() as db:
            await db.execute(
                f"INSERT INTO interviews ({_COLUMNS}) VALUES ({', '.join('?' * 21)})",
                (
                    record.channel, record.thread_ts, record.name, record.started_by, record.team_id,
                    record.session_id, str(record.status), record.created_at, record.updated_at,
                    json.dumps(list(record.spec_written)), int(record.spec_reported), record.uploads,
                    record.cost_usd, record.input_tokens, record.output_tokens, record.model_turns,
                    record.session_cost_usd, record.model, int(record.upload_pending), record.turn_payer,
                    record.turn_by,
                ),
            )

    async def claim_name(self, record: InterviewRecord) -> InterviewRecord | None:
        """Add the interview unless its project already has an open one (atomic: a unique
        index); then return that one instead. One transaction: the insert that failed is
        undone alone (its savepoint), and the open one can't end before it is read."""
        async with self.transaction():
            try:
                await self.add_interview(record)
            except sqlite3.IntegrityError:
                return await self.find_by_name(record.name)
        return None

    async def move_interview(self, channel: str, old_ts: str, new_ts: str) -> None:
        """The claimed interview got its thread: key it by the root message's ts."""
        async with self.transaction() as db:
            for table in ("interviews", "spend", "budget_notes"):
                await db.execute(
                    f"UPDATE {table} SET thread_ts = ? WHERE channel = ? AND thread_ts = ?", (new_ts, channel, old_ts)
                )

    async def remove_interview(self, channel: str, thread_ts: str) -> None:
        """Give a claimed name back (its thread could not be opened)."""
        async with self.transaction() as db:
            await db.execute("DELETE FROM interviews WHERE channel = ? AND thread_ts = ?", (channel, thread_ts))

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
        async with self.transaction() as db:
            await db.execute(
                f"UPDATE interviews SET {assignments} WHERE channel = ? AND thread_ts = ?",
                (*changes.values(), channel, thread_ts),
            )

    async def _select(self, where: str, params: tuple[Any, ...]) -> list[InterviewRecord]:
        rows = await self.fetch(f"SELECT {_COLUMNS} FROM interviews {where}", params)
        return [
            InterviewRecord(
                channel=row[0], thread_ts=row[1], name=row[2], started_by=row[3], team_id=row[4],
                session_id=row[5], status=Status(row[6]), created_at=row[7], updated_at=row[8],
                spec_written=tuple(json.loads(row[9])), spec_reported=bool(row[10]), uploads=row[11],
                cost_usd=row[12], input_tokens=row[13], output_tokens=row[14], model_turns=row[15],
                session_cost_usd=row[16], model=row[17], upload_pending=bool(row[18]), turn_payer=row[19],
                turn_by=row[20],
            )
            for row in rows
        ]


def _load_attachments(raw: str) -> tuple[Attachment, ...]:
    return tuple(Attachment(a["name"], a["mime"], base64.b64decode(a["data"])) for a in json.loads(raw))
