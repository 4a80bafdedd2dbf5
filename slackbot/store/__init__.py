"""The state store: interviews, replies not yet answered, questions, and events
already seen. `StateStore` is the interface the bot uses; `SqliteStore` the
embedded implementation, `PostgresStore` the one several processes share."""

from pathlib import Path

from .postgres import PostgresStore
from .records import InterviewRecord, PendingReply, SpendRow, StateStore, Status, StoredQuestion
from .sqlite import SqliteStore
from .transactions import StoreUnavailable


def make_store(database_url: str | None, state_dir: Path) -> SqliteStore | PostgresStore:
    """PostgreSQL if a database URL is set, else SQLite in the state folder."""
    if database_url:
        return PostgresStore(database_url)
    return SqliteStore(state_dir / "newspec.db")


__all__ = [
    "InterviewRecord", "PendingReply", "PostgresStore", "SpendRow", "SqliteStore", "StateStore", "Status",
    "StoreUnavailable", "StoredQuestion", "make_store",
]
