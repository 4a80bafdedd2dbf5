"""The state store's records and its interface. Nothing here knows Slack's or the
SDK's types: threads are (channel, thread_ts) strings."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from ..events import Attachment


class Status(StrEnum):
    INTERVIEWING = "interviewing"  # Claude is answering
    WAITING = "waiting"  # waiting for the team's reply
    COMPLETE = "complete"  # the spec was delivered
    FAILED = "failed"  # the last turn failed; a reply retries
    CANCELLED = "cancelled"  # ended by the team; files kept


class ReplyChange(StrEnum):
    """What a person's edit or delete of a message did to the replies waiting for Claude."""

    APPLIED = "applied"  # it was waiting: its text changed, or it is gone with its files
    SENT = "sent"  # Claude already has it: nothing changed
    NONE = "none"  # it was never passed on (refused, a Stop, not in an interview)


@dataclass
class InterviewRecord:
    channel: str
    thread_ts: str
    name: str
    started_by: str
    team_id: str | None = None
    session_id: str | None = None
    status: Status = Status.INTERVIEWING
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    spec_written: tuple[str, ...] = ()  # spec files confirmed written, relative to the project
    spec_reported: bool = False  # that state has been delivered (uploaded)
    uploads: int = 0  # spec uploads Slack took in this thread
    upload_pending: bool = False  # an upload began and Slack may not have it yet
    cost_usd: float = 0.0  # model usage over the whole interview
    input_tokens: int = 0
    output_tokens: int = 0
    model_turns: int = 0
    session_cost_usd: float = 0.0  # the CLI's running total for the current conversation
    model: str | None = None  # the model this interview runs on; None: the configured default
    turn_payer: str | None = None  # who pays for the model turn whose cost the CLI has not reported yet
    turn_by: str | None = None  # whose message started the latest turn: the root says Claude waits on them


@dataclass(frozen=True)
class PendingReply:
    id: int
    channel: str
    thread_ts: str
    user_id: str
    text: str
    ts: str
    author: str | None = None  # display name, so Claude can tell teammates apart
    # Attached files stay in the database (loaded only for the turn that sends them).
    file_count: int = 0
    file_text_chars: int = 0  # of attached text files: Claude reads them as text
    file_image_bytes: int = 0  # of attached images: a turn's images are capped by their bytes
    # Stored the moment it arrives (its place in the thread is kept); ready once
    # its files are downloaded and its author known. A turn stops at one not ready.
    ready: bool = True
    user_team: str | None = None  # the team answers to it stream to (relay.recipient_team)
    # What Claude has of it: None while it waits; else the mark of the message that
    # carries it (see `SpecSession.delivered`); "": riding along with the next message.
    sent: str | None = None
    question_id: str | None = None  # it answers a part of this question
    held: bool = False  # that question has parts still open: it waits for them

    @property
    def waiting(self) -> bool:
        """Not yet carried by any turn, and free to go in the next."""
        return self.sent is None and not self.held


@dataclass(frozen=True)
class SpendRow:
    """Model spend summed per UTC day, person and project (None: its interview is no longer stored)."""

    day: str  # YYYY-MM-DD
    user_id: str
    project: str | None
    cost_usd: float


@dataclass(frozen=True)
class StoredQuestion:
    id: str
    channel: str
    thread_ts: str
    payload: dict[str, Any]
    answered: bool  # closed: every part answered, or withdrawn


@dataclass(frozen=True)
class DueQuestion:
    """An open question past its reminder time, with whom to mention."""

    id: str
    channel: str
    thread_ts: str
    asked: str  # whose message started the turn that asked (else the interview's starter)


def text_chars(files: tuple[Attachment, ...]) -> int:
    """The characters Claude reads in these files (images are not read as text)."""
    return sum(len(f.data.decode("utf-8", "replace")) for f in files if not f.is_image)


def image_bytes(files: tuple[Attachment, ...]) -> int:
    return sum(f.size for f in files if f.is_image)


class StateStore(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def add_interview(self, record: InterviewRecord) -> None: ...
    async def claim_name(self, record: InterviewRecord) -> InterviewRecord | None: ...
    async def move_interview(self, channel: str, old_ts: str, new_ts: str) -> None: ...
    async def remove_interview(self, channel: str, thread_ts: str) -> None: ...
    async def get_interview(self, channel: str, thread_ts: str) -> InterviewRecord | None: ...
    async def find_by_name(self, name: str, *, include_cancelled: bool = False) -> InterviewRecord | None: ...
    async def list_interviews(self, team_id: str | None = None) -> list[InterviewRecord]: ...
    async def update_interview(self, channel: str, thread_ts: str, **changes: Any) -> None: ...
    async def accept_reply(
        self, channel: str, thread_ts: str, user_id: str, text: str, ts: str, event_id: str | None,
        author: str | None = None, attachments: tuple[Attachment, ...] = (), *, ready: bool = True,
        user_team: str | None = None, slack_files: Sequence[Mapping[str, Any]] = (),
    ) -> PendingReply | None: ...
    async def complete_reply(
        self, reply_id: int, text: str, author: str | None, attachments: tuple[Attachment, ...]
    ) -> bool: ...
    async def held_downloads(self) -> list[tuple[PendingReply, list[dict[str, Any]]]]: ...
    async def queue_claimed_reply(
        self, channel: str, thread_ts: str, user_id: str, text: str, ts: str, author: str | None,
        user_team: str | None = None,
    ) -> PendingReply: ...
    async def pending_replies(self, channel: str, thread_ts: str) -> list[PendingReply]: ...
    async def reply_files(self, reply_ids: list[int]) -> tuple[Attachment, ...]: ...
    async def threads_with_pending(self) -> list[tuple[str, str]]: ...
    async def held_bytes(self, channel: str, thread_ts: str, user_id: str) -> tuple[int, int]: ...
    async def remove_replies(self, ids: list[int]) -> None: ...
    async def edit_reply(
        self, channel: str, ts: str, previous: str | None, text: str, event_id: str | None = None,
        *, unchanged_only: bool = False,
    ) -> ReplyChange: ...
    async def forget_reply(self, channel: str, ts: str, event_id: str | None = None) -> ReplyChange: ...
    async def drop_pending(self, channel: str, thread_ts: str) -> None: ...
    async def add_question(self, question_id: str, channel: str, thread_ts: str, payload: dict[str, Any]) -> None: ...
    async def get_question(self, question_id: str) -> StoredQuestion | None: ...
    async def mark_question_answered(self, question_id: str) -> None: ...
    async def claim_answer(
        self, question_id: str, item: int, who: str | None = None, answer: str | None = None
    ) -> bool: ...
    async def carry(self, ids: list[int], mark: str) -> None: ...
    async def mark_answers_sent(self, question_id: str, mark: str) -> None: ...
    async def unsend(self, ids: list[int]) -> None: ...
    async def unsend_answers(self, question_id: str) -> None: ...
    async def ride_along(self, question_id: str) -> None: ...
    async def remove_sent(self, channel: str, thread_ts: str) -> None: ...
    async def threads_in_flight(self) -> list[tuple[str, str]]: ...
    async def add_answer(
        self, channel: str, thread_ts: str, user_id: str, text: str, author: str | None, user_team: str | None,
        question_id: str,
    ) -> PendingReply: ...
    async def assign_answer(self, reply_id: int, question_id: str) -> None: ...
    async def files_follow(self, reply_id: int, text: str) -> None: ...
    async def record_answer(
        self, question_id: str, item: int, parts: int, who: str, answer: str, reply: PendingReply,
    ) -> int | None: ...
    async def name_author(self, reply_id: int, author: str) -> None: ...
    async def question_posted(self, question_id: str, item: int, ts: str) -> None: ...
    async def question_posts(self, question_id: str) -> dict[int, str]: ...
    async def open_questions(self, channel: str, thread_ts: str) -> list[StoredQuestion]: ...
    async def choose_other(self, question_id: str, item: int, user_id: str) -> None: ...
    async def other_choice(self, question_id: str, user_id: str) -> int | None: ...
    async def last_delivery(self, project: str) -> list[str] | None: ...
    async def record_delivery(self, project: str, features: list[str]) -> None: ...
    async def answered_items(self, question_id: str) -> set[int]: ...
    async def add_spend(self, channel: str, thread_ts: str, user_id: str, day: str, cost_usd: float) -> None: ...
    async def payers(self, channel: str, thread_ts: str) -> set[str]: ...
    async def spent(
        self, *, day: str | None = None, user_id: str | None = None, thread: tuple[str, str] | None = None
    ) -> float: ...
    async def spend_report(self, since_day: str, user_id: str | None = None) -> list[SpendRow]: ...
    async def note_once(self, channel: str, thread_ts: str, note: str) -> bool: ...
    async def budget_overrides(self) -> dict[str, float | None]: ...
    async def set_budget(self, name: str, value: float | None, set_by: str) -> None: ...
    async def record_vote(self, channel: str, thread_ts: str, user_id: str, positive: bool) -> bool: ...
    async def feedback_counts(self, since: float = 0.0) -> tuple[int, int]: ...
    async def interviews_of(self, user_id: str) -> list[tuple[str, str]]: ...
    async def due_reminders(self, asked_before: float) -> list[DueQuestion]: ...
    async def claim_reminder(self, question_id: str) -> bool: ...
