"""`SqliteStore`: the state store in one SQLite file in NEWSPEC_STATE_DIR.

Every write is committed before the call returns, so the bot acts only on state
that survives a crash. All coroutines share one connection, so each write is one
explicit transaction under a lock (`transaction()`), and each read waits for that lock
(`fetch()`): sqlite_engine.py explains the choice, transactions.py the rules for new methods.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import aiosqlite

from ..events import Attachment
from .channel_slots import ChannelSlots
from .delivery import Delivery
from .followups import Followups
from .interviews import Interviews
from .ledger import Ledger
from .migrations import MIGRATIONS
from .private import private_folder
from .records import image_bytes, text_chars
from .replicas import Replicas
from .replies import Replies
from .sessions import Transcripts
from .sqlite_engine import SqliteTransactions

# The write-ahead log is cut back to this after each checkpoint (files stored, replies
# removed and SQLite's own every 1,000 pages), so it can't keep a flood's high-water mark.
WAL_SIZE_LIMIT = 4 * 2**20


class SqliteStore(
    Interviews, Replies, Delivery, Ledger, Followups, Transcripts, Replicas, ChannelSlots, SqliteTransactions
):
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
        async with self.transaction():
            await self._move_legacy_files()
            await self._tidy_after_start(one_process=True)
            await self.forget_replicas()  # one process serves the file: earlier runs' leases are void

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


def _load_attachments(raw: str) -> tuple[Attachment, ...]:
    return tuple(Attachment(a["name"], a["mime"], base64.b64decode(a["data"])) for a in json.loads(raw))
