"""Replicas: several bot processes sharing one database, each thread's turns on one.

Each replica beats (`heartbeat`) every third of the timeout; it is live while its last
beat is fresher than that. A thread's owner is the replica that runs its turns; the
lease is tied to the owner's liveness, so renewing it is one beat per replica, not one
write per thread. A live replica claims a thread whose owner is itself, absent, or no
longer live (`claim_thread`); `orphaned_threads` are those with replies waiting (or a
turn in flight) whose owner is gone: another replica takes them over.

Liveness compares the beats' wall clocks across hosts: their clocks must agree to well
within the timeout. On SQLite (one process) the tables start empty at every start.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .records import CLAIMING, Claim, claimed_by, claiming
from .transactions import Transactions

# Called with (channel, thread_ts, note) when another replica wakes a thread's owner: it
# stored replies there (note ""), or someone asked for something only the owner can do.
OnWake = Callable[[str, str, str], None]

# Joined to rows of a thread (table alias t): `r.id IS NULL` where no live replica owns it
# (one parameter: the oldest beat still live).
_NO_LIVE_OWNER = (
    "LEFT JOIN thread_owners o ON o.channel = t.channel AND o.thread_ts = t.thread_ts "
    "LEFT JOIN replicas r ON r.id = o.replica_id AND r.seen_at >= ? "
)

# The PostgreSQL channel a replica wakes a thread's owner on (payload: "channel thread_ts note").
WAKE_CHANNEL = "newspec_wake"


class Replicas(Transactions):
    """Heartbeats and thread leases."""

    async def heartbeat(self, replica_id: str, timeout: float | None = None) -> bool:
        """Record that `replica_id` is live now. False if it had been taken for dead (its
        last beat older than `timeout`): others may have taken its threads meanwhile."""
        now = time.time()
        async with self.transaction() as db:
            rows = await db.execute_fetchall("SELECT seen_at FROM replicas WHERE id = ?", (replica_id,))
            await db.execute(
                "INSERT INTO replicas (id, seen_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET seen_at = ?",
                (replica_id, now, now),
            )
        last = next(iter(rows), None)
        return timeout is None or last is None or last[0] >= now - timeout

    async def live_replicas(self, timeout: float) -> list[str]:
        rows = await self.fetch("SELECT id FROM replicas WHERE seen_at >= ? ORDER BY id", (time.time() - timeout,))
        return [row[0] for row in rows]

    async def claim_thread(self, channel: str, thread_ts: str, replica_id: str, timeout: float) -> Claim:
        """Make `replica_id` the thread's owner unless another live replica is."""
        async with self.transaction() as db:  # reads, then writes: no other claim in between
            rows = await db.execute_fetchall(
                "SELECT o.replica_id, r.seen_at >= ? FROM thread_owners o LEFT JOIN replicas r ON r.id = o.replica_id "
                "WHERE o.channel = ? AND o.thread_ts = ?",
                (time.time() - timeout, channel, thread_ts),
            )
            owner, live = next(iter(rows), (None, False))
            if owner == replica_id:
                return Claim.HELD
            if owner is not None and live:
                return Claim.REFUSED
            await db.execute(
                "INSERT INTO thread_owners (channel, thread_ts, replica_id) VALUES (?, ?, ?) "
                "ON CONFLICT (channel, thread_ts) DO UPDATE SET replica_id = ?",
                (channel, thread_ts, replica_id, replica_id),
            )
        return Claim.HELD if owner is None else Claim.TAKEN_OVER

    async def adopt_orphaned_claims(self, replica_id: str, timeout: float) -> list[tuple[str, str]]:
        """Names claimed by a replica no longer live for a thread it never opened (it died
        between acking /newspec and posting the thread, its root post perhaps still queued):
        now claimed by `replica_id`, which opens the thread in its place. Their new
        (channel, placeholder thread_ts)."""
        # Every replica asks at every beat, and there is almost never any: plain reads say
        # so without the write lock every writer waits on. The transaction reads again.
        if not await self._orphaned_claims(timeout):
            return []
        adopted = []
        async with self.transaction() as db:
            for channel, thread_ts, _ in await self._orphaned_claims(timeout):
                mine = claiming(replica_id)
                for table in ("interviews", "spend", "budget_notes"):  # as move_interview keys them
                    await db.execute(f"UPDATE {table} SET thread_ts = ? WHERE channel = ? AND thread_ts = ?",
                                     (mine, channel, thread_ts))
                adopted.append((channel, mine))
        return adopted

    async def _orphaned_claims(self, timeout: float) -> list[tuple[str, str, str]]:
        """(channel, thread_ts, name) of names claimed by a replica no longer live."""
        claims = await self.fetch("SELECT channel, thread_ts, name FROM interviews WHERE thread_ts LIKE ?",
                                  (f"{CLAIMING}%",))
        if not claims:  # the usual case: no /newspec between its ack and its thread
            return []
        alive = {row[0] for row in await self.fetch("SELECT id FROM replicas WHERE seen_at >= ?",
                                                    (time.time() - timeout,))}
        return [(c, t, n) for c, t, n in claims if (by := claimed_by(t)) is not None and by not in alive]

    async def owner_of(self, channel: str, thread_ts: str) -> str | None:
        rows = await self.fetch(
            "SELECT replica_id FROM thread_owners WHERE channel = ? AND thread_ts = ?", (channel, thread_ts)
        )
        return next((row[0] for row in rows), None)

    async def threads_of(self, replica_id: str) -> set[tuple[str, str]]:
        """The threads whose lease `replica_id` holds (or held, if no longer live)."""
        rows = await self.fetch("SELECT channel, thread_ts FROM thread_owners WHERE replica_id = ?", (replica_id,))
        return {(row[0], row[1]) for row in rows}

    async def release_thread(self, channel: str, thread_ts: str, replica_id: str) -> None:
        """The thread is anyone's again, if `replica_id` held it."""
        async with self.transaction() as db:
            await db.execute(
                "DELETE FROM thread_owners WHERE channel = ? AND thread_ts = ? AND replica_id = ?",
                (channel, thread_ts, replica_id),
            )

    async def leave(self, replica_id: str) -> None:
        """The replica stopped cleanly: its threads are the others' at once."""
        async with self.transaction() as db:
            await db.execute("DELETE FROM thread_owners WHERE replica_id = ?", (replica_id,))
            await db.execute("DELETE FROM replicas WHERE id = ?", (replica_id,))

    async def orphaned_threads(self, timeout: float) -> list[tuple[str, str]]:
        """Threads with replies waiting or a turn in flight whose owner is absent or not
        live, oldest waiting first."""
        rows = await self.fetch(
            f"SELECT t.channel, t.thread_ts FROM pending_replies t {_NO_LIVE_OWNER}"
            "WHERE r.id IS NULL GROUP BY t.channel, t.thread_ts ORDER BY MIN(t.id)",
            (time.time() - timeout,),
        )
        return [(row[0], row[1]) for row in rows]

    async def orphaned_uploads(self, timeout: float) -> list[tuple[str, str]]:
        """Interviews whose spec upload was under way when their owner stopped (absent or
        not live): nobody else would finish it, since no reply waits in the thread."""
        rows = await self.fetch(
            f"SELECT t.channel, t.thread_ts FROM interviews t {_NO_LIVE_OWNER}"
            "WHERE t.upload_pending = 1 AND t.status != 'cancelled' AND r.id IS NULL",
            (time.time() - timeout,),
        )
        return [(row[0], row[1]) for row in rows]

    async def wake_owner(self, channel: str, thread_ts: str, note: str = "") -> None:
        """Tell the thread's owner, on another replica, that replies wait for it, or `note`
        (no spaces in channel or thread_ts). An engine without other processes has nobody to tell."""

    async def listen_for_wakes(self, on_wake: OnWake, on_missed: Callable[[], None] = lambda: None) -> None:
        """Call `on_wake` whenever another replica wakes a thread's owner (`wake_owner`);
        `on_missed` when wake-ups may have been lost (the connection that hears them was
        lost a while, and is back)."""

    async def forget_replicas(self) -> None:
        """At the start of the one process an engine serves: leases of earlier runs are void."""
        async with self.transaction() as db:
            await db.execute("DELETE FROM thread_owners")
            await db.execute("DELETE FROM replicas")
