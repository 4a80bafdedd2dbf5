"""The PostgreSQL engine of the store: a pool of connections, one writer at a time.

Reads run on any pooled connection at once (PostgreSQL shows each only committed rows).
A write transaction takes a connection of its own and, first thing, a transaction-level
advisory lock that every writer of the database takes: one write at a time across all
the bot's processes, as SQLite's one writer per file gives the embedded engine. So a
transaction that reads, then writes, acts on what it read (the mixins rely on that), and
no statement meets a serialization failure to retry. Writes are short (no Slack, no model
inside them), so the lock is held for a few round trips.

A transaction belongs to the task that opened it: a nested block in the same task is a
SAVEPOINT on its connection, and `fetch` in that task reads through it.

The mixins' SQL uses `?` placeholders (SQLite's); they become `$1, $2, …` here.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from .transactions import StoreUnavailable, Transactions

# The advisory lock every write transaction holds (any constant both sides agree on).
WRITE_LOCK = 0x6E657773  # "news"
# Connections per process: a few writers queue on the lock anyway; readers share the rest.
POOL_SIZE = 10

# A `?` outside quotes (the mixins put no `?` in string literals or identifiers).
_PLACEHOLDER = re.compile(r"'[^']*'|\?")

Connection = asyncpg.Connection | PoolConnectionProxy


@lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """SQLite's `?` placeholders as PostgreSQL's `$1, $2, …`."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group() != "?":
            return match.group()
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


@dataclass(frozen=True)
class _Done:
    rowcount: int


def _rowcount(status: str) -> int:
    """The rows a command touched, from its status ("INSERT 0 1", "UPDATE 3", "DELETE 0")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


class PgWriter:
    """A transaction's connection, spoken to as the mixins speak to aiosqlite."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> _Done:
        status = await self.connection.execute(numbered(sql), *(parameters or ()))
        return _Done(_rowcount(status))

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> _Done:
        batch = [tuple(p) for p in parameters]
        if batch:
            await self.connection.executemany(numbered(sql), batch)
        return _Done(-1)  # asyncpg does not count them

    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] | None = None) -> list[asyncpg.Record]:
        return list(await self.connection.fetch(numbered(sql), *(parameters or ())))


class PostgresTransactions(Transactions):
    """The pool, and which task holds which transaction's connection."""

    integrity_errors = (asyncpg.UniqueViolationError,)

    def __init__(self) -> None:
        self._pool: asyncpg.Pool | None = None
        self._held: dict[asyncio.Task[Any] | None, Connection] = {}
        self._depth: dict[asyncio.Task[Any] | None, int] = {}  # savepoints open in each held transaction

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the state store is not open")
        return self._pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgWriter]:
        with _reachable():
            async with self._transaction() as writer:
                yield writer

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[PgWriter]:
        task = asyncio.current_task()
        held = self._held.get(task)
        if held is not None:
            async with self._savepoint(held):
                yield PgWriter(held)
            return
        async with self.pool.acquire() as connection:
            # One round trip opens the transaction and takes the lock (a simple query may
            # hold several statements); asyncpg's transaction() would spend one on each.
            await connection.execute(f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})")
            self._held[task], self._depth[task] = connection, 0
            try:
                yield PgWriter(connection)
            except BaseException:
                await _undo(connection, "ROLLBACK")
                raise
            else:
                await connection.execute("COMMIT")
            finally:
                del self._held[task], self._depth[task]

    @asynccontextmanager
    async def _savepoint(self, connection: Connection) -> AsyncIterator[None]:
        """A nested block in the task's own transaction: undone alone if it raises."""
        task = asyncio.current_task()
        self._depth[task] += 1
        name = f"s{self._depth[task]}"
        try:
            await connection.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                await _undo(connection, f"ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}")
                raise
            await connection.execute(f"RELEASE SAVEPOINT {name}")
        finally:
            self._depth[task] -= 1

    async def fetch(self, sql: str, params: Iterable[Any] = ()) -> Sequence[asyncpg.Record]:
        held = self._held.get(asyncio.current_task())
        source = held if held is not None else self.pool
        with _reachable():
            return list(await source.fetch(numbered(sql), *params))


async def _undo(connection: Connection, sql: str) -> None:
    """Roll back after a failure; a connection lost meanwhile is closed by the pool on
    release (which rolls back whatever is still open), so the first error is the one raised."""
    if connection.is_closed():
        return
    try:
        await connection.execute(sql)
    except _UNREACHABLE:
        pass


async def keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset of a connection handed back: nothing beyond asyncpg's own rollback
    of a transaction left open. The bot's pooled connections change no session state (no
    SET, LISTEN, cursor or session-level lock: the write lock is per transaction), so
    asyncpg's default reset would cost a round trip of four statements on every release."""


# What asyncpg raises when the server can't be reached, is shutting down or starting up
# (operator intervention), or the connection was lost (an interface error on a closed one).
_UNREACHABLE = (
    ConnectionError, socket.gaierror, TimeoutError,
    asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError, asyncpg.InterfaceError,
)


@contextmanager
def _reachable() -> Iterator[None]:
    """Connection failures as the store's `StoreUnavailable` (statement errors pass as they are)."""
    try:
        yield
    except _UNREACHABLE as exc:
        raise StoreUnavailable(f"the database is unreachable: {exc}") from exc
