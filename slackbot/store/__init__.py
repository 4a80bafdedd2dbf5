"""The state store: interviews, replies not yet answered, questions, and events
already seen. `StateStore` is the interface the bot uses; `SqliteStore` the
embedded implementation."""

from .records import InterviewRecord, PendingReply, SpendRow, StateStore, Status, StoredQuestion
from .sqlite import SqliteStore

__all__ = ["InterviewRecord", "PendingReply", "SpendRow", "SqliteStore", "StateStore", "Status", "StoredQuestion"]
