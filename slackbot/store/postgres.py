"""`PostgresStore`: the state store in a PostgreSQL database (NEWSPEC_DATABASE_URL).

The same mixins as `SqliteStore` over `postgres_engine`: several bot processes can share
one database. The schema is migrated on start-up, under the writers' lock, so processes
starting together migrate it once.

Removed rows (answered replies, a conversation deleted on Start over) leave the tables at
once and the disk when PostgreSQL reclaims their pages (autovacuum); the README says what
an operator does about that.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

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
# Seconds before listening for wake-ups again after losing the connection, doubling up to the most.
RELISTEN_FIRST_DELAY = 0.25
RELISTEN_MAX_DELAY = 15.0


class PostgresStore(
    Interviews, Replies, Delivery, Ledger, Followups, Transcripts, Replicas, ChannelSlots, PostgresTransactions
):
    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        super().__init__()
        self.url = url
        self.pool_size = pool_size
        self._listener: asyncpg.Connection | None = None  # LISTENs for wake-ups, outside the pool
        self._relisten: asyncio.Task[None] | None = None  # LISTENs again after losing `_listener`
        self._on_wake: OnWake = lambda channel, thread_ts, note: None
        self._on_missed: Callable[[], None] = lambda: None

    async def wake_owner(self, channel: str, thread_ts: str, note: str = "") -> None:
        await self.pool.execute("SELECT pg_notify($1, $2)", WAKE_CHANNEL, f"{channel} {thread_ts} {note}")

    async def listen_for_wakes(self, on_wake: OnWake, on_missed: Callable[[], None] = lambda: None) -> None:
        self._on_wake, self._on_missed = on_wake, on_missed
        if self._listener is None:
            await self._listen()

    async def _listen(self) -> None:
        listener = await asyncpg.connect(self.url, server_settings={"application_name": "newspec wake-ups"})
        try:
            await listener.add_listener(WAKE_CHANNEL, self._heard)
        except BaseException:
            listener.terminate()
            raise
        self._listener = listener
        listener.add_termination_listener(self._lost)

    def _heard(self, connection: object, pid: int, channel: str, payload: object) -> None:
        thread_channel, thread_ts, note = [*str(payload).split(" ", 2), "", ""][:3]
        if thread_ts:
            self._on_wake(thread_channel, thread_ts, note)
        else:
            log.warning("ignored a malformed wake-up %r", payload)

    def _lost(self, connection: object) -> None:
        """The LISTEN connection closed under us (the database restarted, or dropped it)."""
        if connection is self._listener:  # not closed by `close`
            self._listener = None
            log.warning("lost the database connection that hears wake-ups; reconnecting")
            self._relisten = asyncio.create_task(self._reconnect(), name="relisten-for-wakes")

    async def _reconnect(self) -> None:
        """LISTEN again, with backoff; wake-ups sent meanwhile are lost: `on_missed` says so."""
        delay = RELISTEN_FIRST_DELAY
        while True:
            await asyncio.sleep(delay)
            try:
                await self._listen()
            except Exception as exc:  # unreachable still: try again later
                log.warning("could not listen for wake-ups again (retrying in %.0fs): %s", delay * 2, exc)
                delay = min(delay * 2, RELISTEN_MAX_DELAY)
                continue
            log.info("listening for wake-ups again")
            self._on_missed()
            return

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self.pool_size, reset=keep_session)
        await self._migrate()
        await self._tidy_after_start(one_process=False)

    async def close(self) -> None:
        if self._relisten is not None:
            self._relisten.cancel()
            await asyncio.gather(self._relisten, return_exceptions=True)
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
