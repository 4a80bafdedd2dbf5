"""`Interviews`: the interviews table, one row per thread (its state, its spend, its files)."""

from __future__ import annotations

import json
import time
from typing import Any

from .records import InterviewRecord, Status
from .transactions import Transactions

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


class Interviews(Transactions):
    """Add, claim, find, list and update interviews."""

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
            except self.integrity_errors:
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
        # rowid (a column of its own in PostgreSQL) breaks ties between interviews created
        # within the same clock tick.
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
        # Cancelled is final, also against a writer that hasn't heard yet (another replica's turn).
        assignments = ", ".join(
            f"{column} = CASE WHEN status = 'cancelled' THEN status ELSE ? END" if column == "status"
            else f"{column} = ?" for column in changes
        )
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
