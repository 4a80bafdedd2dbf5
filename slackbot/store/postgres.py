"""`PostgresStore`: the state store in a PostgreSQL database (NEWSPEC_DATABASE_URL).

The same mixins as `SqliteStore` over `postgres_engine`: several bot processes can share
one database. The schema is migrated on start-up, under the writers' lock, so processes
starting together migrate it once.

Removed rows (answered replies, a conversation deleted on Start over) leave the tables at
once and the disk when PostgreSQL reclaims their pages (autovacuum); the README says what
an operator does about that.
"""

from __future__ import annotations

import logging

import asyncpg

from .channel_slots import ChannelSlots
from .delivery import Delivery
from .followups import Followups
from .interviews import Interviews
from .ledger import Ledger
from .pg_migrations import PG_MIGRATIONS
from .postgres_engine import POOL_SIZE, WRITE_LOCK, PostgresTransactions, keep_session
from .replicas import WAKE_CHANNEL, OnWake, Replicas
from .replies import Replies
from .sessions import Transcripts

log = logging.getLogger(__name__)


class PostgresStore(
    Interviews, Replies, Delivery, Ledger, Followups, Transcripts, Replicas, ChannelSlots, PostgresTransactions
):
    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        super().__init__()
        self.url = url
        self.pool_size = pool_size
        self._listener: asyncpg.Connection | None = None  # LISTENs for wake-ups, outside the pool

    async def wake_owner(self, channel: str, thread_ts: str, note: str = "") -> None:
        await self.pool.execute("SELECT pg_notify($1, $2)", WAKE_CHANNEL, f"{channel} {thread_ts} {note}")

    async def listen_for_wakes(self, on_wake: OnWake) -> None:
        def heard(connection: object, pid: int, channel: str, payload: object) -> None:
            thread_channel, thread_ts, note = [*str(payload).split(" ", 2), "", ""][:3]
            if thread_ts:
                on_wake(thread_channel, thread_ts, note)
            else:
                log.warning("ignored a malformed wake-up %r", payload)

        if self._listener is None:
            self._listener = await asyncpg.connect(self.url)
        await self._listener.add_listener(WAKE_CHANNEL, heard)

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self.pool_size, reset=keep_session)
        await self._migrate()
        await self._tidy_after_start()

    async def close(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await listener.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _migrate(self) -> None:
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
            await connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            version = await connection.fetchval("SELECT max(version) FROM schema_version") or 0
            for number in range(version, len(PG_MIGRATIONS)):
                await connection.execute(PG_MIGRATIONS[number])
                await connection.execute("INSERT INTO schema_version (version) VALUES ($1)", number + 1)
