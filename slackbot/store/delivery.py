"""The store's record of what Claude has been sent, and of each question's life.

A reply (or an answer) is removed only once Claude has it: when the turn that carried
it finished, or when the CLI's transcript shows it. Until then `sent` says where it is:
NULL while it waits, else the mark of the message that carries it ('' for answers of a
withdrawn question: they ride along with the next message). A question is asked
(stored), posted (one message per part, each with its ts), answered part by part (by
whom, how), and closed: all answered, or withdrawn.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .records import PendingReply, StoredQuestion
from .transactions import Transactions


class Delivery(Transactions):
    """Queries of `SqliteStore` about turns and questions."""

    # -- replies in a turn ------------------------------------------------------

    async def carry(self, ids: list[int], mark: str) -> None:
        """A turn carries these replies (and any answer riding along) in the message the
        CLI records as `mark`."""
        async with self.transaction() as db:
            await db.executemany("UPDATE pending_replies SET sent = ? WHERE id = ?", [(mark, i) for i in ids])

    async def mark_answers_sent(self, question_id: str, mark: str) -> None:
        """Claude got the question's answers (the tool call goes on): they are known by `mark`."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE pending_replies SET sent = ? WHERE question_id = ? AND sent IS NULL", (mark, question_id)
            )

    async def unsend(self, ids: list[int]) -> None:
        """Claude never got these: they wait again."""
        async with self.transaction() as db:
            await db.executemany("UPDATE pending_replies SET sent = NULL WHERE id = ?", [(i,) for i in ids])

    async def unsend_answers(self, question_id: str) -> None:
        """Claude did not get the question's answers after all (its process ended first)."""
        async with self.transaction() as db:
            await db.execute("UPDATE pending_replies SET sent = NULL WHERE question_id = ?", (question_id,))

    async def ride_along(self, question_id: str) -> None:
        """A withdrawn question's answers go with the thread's next message (they start no turn)."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE pending_replies SET sent = '' WHERE question_id = ? AND sent IS NULL", (question_id,)
            )

    async def remove_sent(self, channel: str, thread_ts: str) -> None:
        """The turn finished: Claude has everything it carried."""
        where = "channel = ? AND thread_ts = ? AND sent IS NOT NULL"
        async with self.transaction() as db:
            await db.execute(
                f"DELETE FROM reply_files WHERE reply_id IN (SELECT id FROM pending_replies WHERE {where})",
                (channel, thread_ts),
            )
            await db.execute(f"DELETE FROM pending_replies WHERE {where}", (channel, thread_ts))
        await self._empty_log()

    async def threads_in_flight(self) -> list[tuple[str, str]]:
        """Threads with replies a turn carried when the last run stopped."""
        rows = await self.fetch(
            "SELECT DISTINCT channel, thread_ts FROM pending_replies WHERE sent IS NOT NULL"
        )
        return [(row[0], row[1]) for row in rows]

    async def add_answer(
        self, channel: str, thread_ts: str, user_id: str, text: str, author: str | None, user_team: str | None,
        question_id: str, item: int | None = None,
    ) -> PendingReply:
        """Store an answer as a reply of its own (it waits while its question has parts open);
        `item`: the part it answers, if one (the owner hands it to Claude as that part's)."""
        async with self.transaction() as db:
            ((reply_id,),) = await db.execute_fetchall(
                "INSERT INTO pending_replies (channel, thread_ts, user_id, text, ts, accepted_at, author, user_team, "
                "question_id, question_item) VALUES (?, ?, ?, ?, '', ?, ?, ?, ?, ?) RETURNING id",
                (channel, thread_ts, user_id, text, time.time(), author, user_team, question_id, item),
            )
        return PendingReply(
            reply_id, channel, thread_ts, user_id, text, "", author, user_team=user_team,
            question_id=question_id, question_item=item,
        )

    async def record_answer(
        self, question_id: str, item: int, parts: int, who: str, answer: str, reply: PendingReply,
        *, replaces: int | None = None, files_note: str = "",
    ) -> int | None:
        """Claim part `item` of a question for `who` (answered `answer`), store the answer
        as `reply` (a reply of its own, naming the part: its id is returned), and close the
        question if that was its last open part (of `parts`): one transaction, so a kill
        leaves all of it or none. None if the part was answered already.

        `replaces`: a typed reply whose words this answer is (its author said which part it
        answers). It goes in the same transaction (its files, if any, stay: a message of
        their own saying `files_note`), so a kill never leaves the words to go twice; None
        if it no longer waits (a turn carried it, or it was deleted or answered meanwhile)."""
        async with self.transaction() as db:
            if replaces is not None and not await self.fetch(
                "SELECT 1 FROM pending_replies WHERE id = ? AND sent IS NULL AND question_id IS NULL", (replaces,)
            ):
                return None
            if not await self.claim_answer(question_id, item, who, answer):
                return None
            stored = await self.add_answer(
                reply.channel, reply.thread_ts, reply.user_id, reply.text, reply.author, reply.user_team, question_id,
                item,
            )
            if replaces is not None:
                await db.execute(  # its files stay, or it goes
                    "UPDATE pending_replies SET text = ?, ts = '' WHERE id = ? AND file_count > 0",
                    (files_note, replaces),
                )
                await db.execute("DELETE FROM pending_replies WHERE id = ? AND file_count = 0", (replaces,))
            if len(await self.answered_items(question_id)) >= parts:
                await self.mark_question_answered(question_id)
        if replaces is not None:
            await self._empty_log()  # the typed words left the reply: they leave the disk too
        return stored.id

    async def name_author(self, reply_id: int, author: str) -> None:
        """The author's name, looked up after the reply was stored."""
        async with self.transaction() as db:
            await db.execute("UPDATE pending_replies SET author = ? WHERE id = ?", (author, reply_id))

    async def split_answer(self, reply: PendingReply, question_id: str, value: str, files_note: str) -> None:
        """A reply with files answered a question with its words (Claude gets them as the
        tool's result): they are stored as an answer of their own (`value`), and the reply
        keeps only its files, sent as a message of their own (`files_note` says what they
        are). One transaction: a kill between would leave the words to go twice."""
        async with self.transaction() as db:
            await self.add_answer(
                reply.channel, reply.thread_ts, reply.user_id, value, None, reply.user_team, question_id
            )
            await db.execute("UPDATE pending_replies SET text = ?, ts = '' WHERE id = ?", (files_note, reply.id))

    async def assign_answer(self, reply_id: int, question_id: str) -> None:
        """A typed reply answers the question's open parts."""
        async with self.transaction() as db:
            await db.execute("UPDATE pending_replies SET question_id = ? WHERE id = ?", (question_id, reply_id))

    # -- questions ---------------------------------------------------------------

    async def add_question(
        self, question_id: str, channel: str, thread_ts: str, payload: dict[str, Any]
    ) -> None:
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO questions (id, channel, thread_ts, payload, answered, created_at) "
                "VALUES (?, ?, ?, ?, 0, ?) "
                "ON CONFLICT (id) DO UPDATE SET channel = excluded.channel, thread_ts = excluded.thread_ts, "
                "payload = excluded.payload, answered = 0, created_at = excluded.created_at",
                (question_id, channel, thread_ts, json.dumps(payload), time.time()),
            )

    async def get_question(self, question_id: str) -> StoredQuestion | None:
        rows = await self.fetch(
            "SELECT id, channel, thread_ts, payload, answered FROM questions WHERE id = ?", (question_id,)
        )
        return next((_question(row) for row in rows), None)

    async def claim_answer(
        self, question_id: str, item: int, who: str | None = None, answer: str | None = None
    ) -> bool:
        """Take the right to answer one item of a question (`who` answered it, and how);
        False if it was answered already."""
        async with self.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO question_answers (question_id, item, who, answer) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (question_id, item, who, answer),
            )
        return cursor.rowcount == 1

    async def answered_items(self, question_id: str) -> set[int]:
        rows = await self.fetch("SELECT item FROM question_answers WHERE question_id = ?", (question_id,))
        return {row[0] for row in rows}

    async def mark_question_answered(self, question_id: str) -> None:
        async with self.transaction() as db:
            await db.execute("UPDATE questions SET answered = 1 WHERE id = ?", (question_id,))


    async def question_posted(self, question_id: str, item: int, ts: str) -> None:
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO question_posts (question_id, item, ts) VALUES (?, ?, ?) "
                "ON CONFLICT (question_id, item) DO UPDATE SET ts = excluded.ts",
                (question_id, item, ts),
            )

    async def question_posts(self, question_id: str) -> dict[int, str]:
        """The ts of each part's message, by part."""
        rows = await self.fetch(
            "SELECT item, ts FROM question_posts WHERE question_id = ?", (question_id,)
        )
        return {row[0]: row[1] for row in rows}

    async def open_questions(self, channel: str, thread_ts: str) -> list[StoredQuestion]:
        """The thread's questions with parts still open, oldest first."""
        rows = await self.fetch(
            "SELECT id, channel, thread_ts, payload, answered FROM questions "
            "WHERE channel = ? AND thread_ts = ? AND answered = 0 ORDER BY created_at, rowid",
            (channel, thread_ts),
        )
        return [_question(row) for row in rows]

    async def choose_other(self, question_id: str, item: int, user_id: str) -> None:
        """`user_id` will type their answer to part `item` ("Other…")."""
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO question_others (question_id, item, user_id) VALUES (?, ?, ?) "
                "ON CONFLICT (question_id, user_id) DO UPDATE SET item = excluded.item",
                (question_id, item, user_id),
            )

    async def other_choice(self, question_id: str, user_id: str) -> int | None:
        rows = await self.fetch(
            "SELECT item FROM question_others WHERE question_id = ? AND user_id = ?", (question_id, user_id)
        )
        return next((row[0] for row in rows), None)


def _question(row: Any) -> StoredQuestion:
    """A `questions` row (id, channel, thread_ts, payload, answered) as a record."""
    payload: dict[str, Any] = json.loads(row[3])
    return StoredQuestion(row[0], row[1], row[2], payload, bool(row[4]))
