"""The SQLite engine of the store: one shared connection, one coroutine at a time.

All coroutines share ONE aiosqlite connection, and a transaction belongs to the
connection, not to a coroutine. With SQLite's implicit transactions a method that
awaited between its statements left them pending on the connection, where another
coroutine's COMMIT published them half done, or its ROLLBACK undid them (a reply was
stored without its dedupe keys, and Slack's retry was queued again).

The choice: a lock around explicit transactions, rather than a connection per operation.
aiosqlite runs a connection's statements one at a time on its own thread anyway, so the
lock costs little: it only keeps one coroutine's statements together. Connections per
operation would each cost a thread and the pragmas, writers on them would meet
SQLITE_BUSY (SQLite has one writer per file regardless) and need timeouts and retries,
and emptying the write-ahead log needs no reader open on any connection.

So `transaction()` is BEGIN IMMEDIATE … COMMIT under the lock (a SAVEPOINT when nested),
and `fetch` waits for the same lock: with one connection a read would otherwise see
another coroutine's uncommitted rows. (A second, read-only connection would keep reads
apart too, but a read open on it makes the checkpoint that erases removed replies from
disk fail.) `self.db` used directly bypasses all this: only within these helpers.

The connection runs in autocommit mode (`isolation_level=None`): Python's sqlite3 never
opens a transaction on its own, so only these helpers do.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite

from .transactions import Transactions

log = logging.getLogger(__name__)

CHECKPOINT_TRIES = 5
CHECKPOINT_RETRY_SECONDS = 0.05


class SqliteTransactions(Transactions):
    """The connection, its lock and the helpers every store method goes through."""

    integrity_errors = (sqlite3.IntegrityError,)

    def __init__(self) -> None:
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None  # the task holding `_lock`
        self._depth = 0  # transaction blocks open in the holder: 1 is BEGIN, more are SAVEPOINTs

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the state store is not open")
        return self._db

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        """Hold the connection for this task (again, if it holds it already)."""
        task = asyncio.current_task()
        if task is not None and self._holder is task:
            yield
            return
        async with self._lock:
            self._holder = task
            try:
                yield
            finally:
                self._holder = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One all-or-nothing write that no other coroutine's commit or rollback touches."""
        async with self._exclusive():
            if self._depth:
                name = f"nested_{self._depth}"
                begin, commit, undo = f"SAVEPOINT {name}", f"RELEASE {name}", f"ROLLBACK TO {name}; RELEASE {name}"
            else:
                begin, commit, undo = "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"
            self._depth += 1
            try:
                # Inside the try: a statement is queued before any cancellation can land,
                # so even a cancelled BEGIN or COMMIT runs, and the undo after it then
                # leaves the connection as it found it.
                await self.db.execute(begin)
                yield self.db
                await self.db.execute(commit)
            except BaseException:
                await self._undo(undo)
                raise
            finally:
                self._depth -= 1

    async def _undo(self, statements: str) -> None:
        """Roll back; never raises over the error being handled (SQLite may have rolled
        back already, or the connection is closed)."""
        for statement in statements.split("; "):
            if self._db is None:
                return
            try:
                await self._db.execute(statement)
            except (sqlite3.Error, ValueError) as exc:
                log.debug("%s: %s", statement, exc)

    async def fetch(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """A read that sees only committed rows (or, in a transaction, that transaction's)."""
        async with self._exclusive():
            return list(await self.db.execute_fetchall(sql, params))

    async def _empty_log(self) -> None:
        """Move the write-ahead log into the database and truncate it to nothing.

        `secure_delete` zeroes a removed row in the database's pages, but the log still
        holds the row's earlier versions (the pages written when it was stored) until it
        is checkpointed and truncated; only then is a removed reply gone from disk. So it
        runs after the removal's transaction, never in one (it would keep the rows).

        Never raises: a statement still open on the connection (a cursor someone reads
        outside `fetch`) makes SQLite refuse it ("database table is locked"). That is
        retried briefly, without holding the lock while waiting; failing that, the next
        removal empties it."""
        if self._depth and self._holder is asyncio.current_task():
            raise RuntimeError("the write-ahead log is emptied after a transaction, not in it")
        for attempt in range(CHECKPOINT_TRIES):
            try:
                async with self._exclusive():
                    rows = await self.db.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
                row = next(iter(rows), None)
                if row is None or not row[0]:
                    return
            except sqlite3.OperationalError as exc:
                if attempt == CHECKPOINT_TRIES - 1:
                    log.warning("the write-ahead log could not be emptied (%s); it is on the next removal", exc)
                    return
            await asyncio.sleep(CHECKPOINT_RETRY_SECONDS)
        log.warning("the write-ahead log could not be emptied (busy); it is on the next removal")
