"""The store's follow-ups: votes on finished specs, a person's interviews for their
Home tab, and the questions left waiting long enough for a reminder."""

from __future__ import annotations

import time

from .records import DueQuestion, Status
from .transactions import Transactions


class Followups(Transactions):
    """Queries of `SqliteStore` for feedback, the Home tab and reminders."""

    async def record_vote(self, channel: str, thread_ts: str, user_id: str, positive: bool) -> bool:
        """Store a person's vote on an interview (replacing their earlier one); False if
        there is no such interview."""
        async with self.transaction() as db:
            found = await self.fetch(
                "SELECT 1 FROM interviews WHERE channel = ? AND thread_ts = ?", (channel, thread_ts)
            )
            if not found:
                return False
            await db.execute(
                "INSERT INTO feedback (channel, thread_ts, user_id, positive, voted_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (channel, thread_ts, user_id) "
                "DO UPDATE SET positive = excluded.positive, voted_at = excluded.voted_at",
                (channel, thread_ts, user_id, int(positive), time.time()),
            )
        return True

    async def feedback_counts(self, since: float = 0.0) -> tuple[int, int]:
        """(positive, negative) votes cast from `since` (a Unix time) on."""
        ((up, down),) = await self.fetch(
            "SELECT COALESCE(SUM(positive), 0), COALESCE(SUM(1 - positive), 0) FROM feedback WHERE voted_at >= ?",
            (since,),
        )
        return int(up), int(down)

    async def interviews_of(self, user_id: str) -> list[tuple[str, str]]:
        """The threads (channel, thread_ts) of interviews the person started or took part in
        (a turn of theirs, or an answer to a question), most recently active first."""
        rows = await self.fetch(
            "SELECT channel, thread_ts FROM interviews i WHERE started_by = ? "
            "OR EXISTS (SELECT 1 FROM spend s WHERE s.channel = i.channel AND s.thread_ts = i.thread_ts "
            "AND s.user_id = ?) "
            "OR EXISTS (SELECT 1 FROM questions q JOIN question_answers a ON a.question_id = q.id "
            "WHERE q.channel = i.channel AND q.thread_ts = i.thread_ts AND a.who = ?) "
            "ORDER BY updated_at DESC, rowid DESC",
            (user_id, user_id, user_id),
        )
        return [(str(channel), str(ts)) for channel, ts in rows]

    async def due_reminders(self, asked_before: float) -> list[DueQuestion]:
        """Open questions of interviews still under way, asked before that time and not yet
        reminded of, oldest first."""
        rows = await self.fetch(
            "SELECT q.id, q.channel, q.thread_ts, COALESCE(i.turn_payer, i.started_by) FROM questions q "
            "JOIN interviews i ON i.channel = q.channel AND i.thread_ts = q.thread_ts "
            "WHERE q.answered = 0 AND q.created_at <= ? AND i.status IN (?, ?) "
            "AND NOT EXISTS (SELECT 1 FROM reminders r WHERE r.question_id = q.id) "
            "ORDER BY q.created_at, q.rowid",
            (asked_before, str(Status.INTERVIEWING), str(Status.WAITING)),
        )
        return [DueQuestion(str(qid), str(channel), str(ts), str(asked)) for qid, channel, ts, asked in rows]

    async def claim_reminder(self, question_id: str) -> bool:
        """Mark the question reminded; False if it already was (at most one reminder each)."""
        async with self.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO reminders (question_id, reminded_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (question_id, time.time()),
            )
            return cursor.rowcount == 1
