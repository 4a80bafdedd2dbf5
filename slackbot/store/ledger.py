"""The store's ledger: what each turn cost and whom it was charged to, which budget
notes a thread has had, and what each project's spec held when last delivered."""

from __future__ import annotations

import json
import time

from .records import SpendRow
from .transactions import Transactions


class Ledger(Transactions):
    """Queries of `SqliteStore` about money and deliveries."""

    async def add_spend(self, channel: str, thread_ts: str, user_id: str, day: str, cost_usd: float) -> None:
        """One turn's cost, charged to the person whose message started it, on a UTC day."""
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO spend (channel, thread_ts, user_id, day, cost_usd, spent_at) VALUES (?, ?, ?, ?, ?, ?)",
                (channel, thread_ts, user_id, day, cost_usd, time.time()),
            )

    async def spent(
        self, *, day: str | None = None, user_id: str | None = None, thread: tuple[str, str] | None = None
    ) -> float:
        """Total cost in USD, narrowed to a UTC day, a person and/or a thread."""
        conditions: list[str] = []
        params: list[str] = []
        if day is not None:
            conditions.append("day = ?")
            params.append(day)
        if user_id is not None:
            conditions.append("user_id = ?")
            params.append(user_id)
        if thread is not None:
            conditions.append("channel = ? AND thread_ts = ?")
            params.extend(thread)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        ((total,),) = await self.fetch(f"SELECT COALESCE(SUM(cost_usd), 0) FROM spend {where}", params)
        return float(total)

    async def payers(self, channel: str, thread_ts: str) -> set[str]:
        """Everyone whose message started a turn in the thread."""
        rows = await self.fetch("SELECT DISTINCT user_id FROM spend WHERE channel = ? AND thread_ts = ?",
                                (channel, thread_ts))
        return {str(user) for (user,) in rows}

    async def spend_report(self, since_day: str, user_id: str | None = None) -> list[SpendRow]:
        """Spend from a UTC day on (inclusive), summed per day, person and project (named by
        its interview, case-insensitively like every project name), oldest day first;
        only one person's when `user_id` is given."""
        where, params = "WHERE s.day >= ?", [since_day]
        if user_id is not None:
            where += " AND s.user_id = ?"
            params.append(user_id)
        rows = await self.fetch(
            "SELECT s.day, s.user_id, MIN(i.name), SUM(s.cost_usd) FROM spend s "
            "LEFT JOIN interviews i ON i.channel = s.channel AND i.thread_ts = s.thread_ts "
            f"{where} GROUP BY s.day, s.user_id, lower(i.name) ORDER BY s.day, s.user_id",
            params,
        )
        return [SpendRow(day, user, name, float(cost)) for day, user, name, cost in rows]

    async def note_once(self, channel: str, thread_ts: str, note: str) -> bool:
        """Record that a thread was told `note`; False if it had been told already."""
        async with self.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO budget_notes (channel, thread_ts, note, noted_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (channel, thread_ts, note, time.time()),
            )
        return cursor.rowcount == 1

    async def budget_overrides(self) -> dict[str, float | None]:
        """Budgets an admin set in Slack, by name (value None: no limit)."""
        return {name: value for name, value in await self.fetch("SELECT name, value FROM budget_limits")}

    async def set_budget(self, name: str, value: float | None, set_by: str) -> None:
        """Override one budget's setting from now on (None: no limit), across restarts."""
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO budget_limits (name, value, set_by, set_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET value = excluded.value, set_by = excluded.set_by, set_at = excluded.set_at",
                (name, value, set_by, time.time()),
            )

    async def last_delivery(self, project: str) -> list[str] | None:
        """The project's feature names as last delivered (None before its first delivery)."""
        rows = await self.fetch("SELECT features FROM deliveries WHERE project = lower(?)", (project,))
        row = next(iter(rows), None)
        return None if row is None else list(json.loads(row[0]))

    async def record_delivery(self, project: str, features: list[str]) -> None:
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO deliveries (project, features, delivered_at) VALUES (lower(?), ?, ?) "
                "ON CONFLICT (project) DO UPDATE SET features = excluded.features, "
                "delivered_at = excluded.delivered_at",
                (project, json.dumps(features), time.time()),
            )
