"""How the store's methods reach their database, whichever engine holds it.

The mixins (replies, delivery, ledger, followups, transcripts, interviews) hold the
store's logic in SQL both engines run: `?` placeholders, `INSERT … ON CONFLICT`,
`RETURNING`. They reach the database only through `Transactions`, which each engine
implements (`sqlite_engine.SqliteTransactions`, `postgres_engine.PostgresTransactions`).

Rules for every store method (a new mixin subclasses `Transactions`):

- Writes go in `async with self.transaction() as db:`. The block is one all-or-nothing
  write, committed when it ends and rolled back if it raises (a cancellation too). Only
  one write transaction runs at a time, in this process and across processes sharing the
  database, so a transaction that reads, then writes, acts on what it read. Blocks nest:
  an inner one is a SAVEPOINT, undone alone if it raises and the outer block catches it
  (see `Interviews.claim_name`).
- Reads go through `await self.fetch(sql, params)`: they see only committed rows, or
  inside a transaction that transaction's own.
- Inside a transaction await nothing but the database (no Slack, no model): every other
  writer waits for it. Don't start tasks that use the store in it either.
- A removal of people's words calls `await self._empty_log()` after its transaction, so
  an engine that keeps old row versions on disk can erase them.
- A statement breaking a unique constraint raises one of `self.integrity_errors`.

A mixin, e.g. for question answers:

    class Answers(Transactions):
        async def add_answer(self, question_id: str, text: str) -> None:
            async with self.transaction() as db:
                await db.execute("INSERT INTO answers (question_id, text) VALUES (?, ?)", (question_id, text))

        async def answers(self, question_id: str) -> list[str]:
            return [t for (t,) in await self.fetch("SELECT text FROM answers WHERE question_id = ?", (question_id,))]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


class StoreUnavailable(Exception):
    """The database can't be reached (a server down or restarting): the call wrote nothing.
    The bot says so where it matters, and Slack's retries or a later reply try again."""


class Row(Protocol):
    """A result row: indexed by position, unpacked like a tuple."""

    def __getitem__(self, index: int) -> Any: ...
    def __iter__(self) -> Any: ...
    def __len__(self) -> int: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...


class Writer(Protocol):
    """The connection a transaction block hands out."""

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Cursor: ...
    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Cursor: ...
    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] | None = None) -> Iterable[Row]: ...


class Transactions:
    """What every store method goes through; each engine implements it."""

    integrity_errors: tuple[type[Exception], ...] = ()

    def transaction(self) -> AbstractAsyncContextManager[Writer]:
        raise NotImplementedError

    async def fetch(self, sql: str, params: Iterable[Any] = ()) -> Sequence[Row]:
        raise NotImplementedError

    async def _empty_log(self) -> None:
        """Erase removed rows' old versions from disk, where the engine keeps them."""
