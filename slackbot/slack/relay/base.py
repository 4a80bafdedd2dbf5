"""The part of a thread's relay that the pieces of a turn write through (stream.py,
turn.py, ...): the thread's place in Slack, its scheduler and status, posting a message
or a note, sharing files, question cards. thread.py's ThreadRelay builds on it; the
pieces import this, not thread.py, so nothing below the relay imports it back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ...events import Question, QuestionItem
from ...markup import escape, usd
from ..blocks import (
    SECTION_TEXT,
    answered_blocks,
    markdown_blocks,
    question_blocks,
    shorten,
    update_text,
    withdrawn_blocks,
)
from ..scheduler import Priority, SchedulerClosed, SlackScheduler
from .errors import SLACK_ERRORS, slack_error
from .status import REFRESH_AFTER, ThreadStatus
from .support import StreamingSupport

log = logging.getLogger(__name__)

# Slack renders up to 12,000 chars of markdown per message, but long messages
# read badly in a thread; keep each one under Slack's ~4,000 readability mark.
MESSAGE_LIMIT = 3_900


@dataclass(frozen=True)
class Usage:
    """Model usage of a whole interview, as the SDK reported it turn by turn."""

    model_turns: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    budget_usd: float | None = None  # the interview's spend limit, if one is set
    models: tuple[str, ...] = ()  # the models that ran, in order

    @property
    def cost(self) -> str:
        spent = usd(self.cost_usd)
        return spent if self.budget_usd is None else f"{spent} of {usd(self.budget_usd, as_set=True)}"


class ThreadBase:
    """One Slack thread's relay, as the pieces of a turn use it."""

    def __init__(
        self,
        scheduler: SlackScheduler,
        channel: str,
        thread_ts: str,
        *,
        streaming: StreamingSupport,
        min_interval: float = 1.0,
        message_limit: int = MESSAGE_LIMIT,
        status_refresh: float = REFRESH_AFTER,
    ) -> None:
        self.scheduler = scheduler
        self.channel = channel
        self.thread_ts = thread_ts
        self.streaming = streaming
        self.min_interval = min_interval
        self.message_limit = message_limit
        self._background: set[asyncio.Task[Any]] = set()
        self.status = ThreadStatus(scheduler, channel, thread_ts, status_refresh)  # thinking, queued
        # a "Queued" note's ts, once posted (where there is no status)
        self._queued_note: asyncio.Future[str | None] | None = None
        self._turn_first: str | None = None  # the ts of a "Queued" note the next turn shown takes over
        self._leads: dict[str, list[dict[str, Any]]] = {}  # a question card's lead-in, by ts
        # Told of each part of a question as it shows (question, part, message ts): the
        # conversation stores it, so the message can be changed after a restart too.
        self.question_posted: Callable[[Question, int, str], Awaitable[None]] | None = None
        # Whether this replica may still write in the thread: not once another replica took
        # it over while this one stalled (fencing). `gate` waits until that is known (a
        # fresh heartbeat); `lost` says what is known now, for what must not wait.
        self.gate: Callable[[], Awaitable[bool]] = _always
        self.lost: Callable[[], bool] = lambda: False

    def background(self, call: Awaitable[Any]) -> None:
        """Run a Slack call nobody needs to wait for (closing a stream); failures are logged."""

        async def run() -> None:
            try:
                await call
            except SLACK_ERRORS as exc:
                log.warning("background Slack call failed in %s: %s", self.thread_ts, slack_error(exc))
            except SchedulerClosed:  # the bot is stopping: it was dropped, not sent
                log.info("a background Slack call in %s was dropped at shutdown", self.thread_ts)

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for background calls (at shutdown)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def post(self, priority: Priority = Priority.FIRST, **kwargs: Any) -> Any:
        """chat.postMessage into this thread, through the workspace's scheduler."""
        response = await self.scheduler.post(priority, channel=self.channel, thread_ts=self.thread_ts, **kwargs)
        self.status.posted()
        return response

    async def share_files(self, file_uploads: list[dict[str, Any]], **extra: Any) -> None:
        """files_upload_v2 into this thread, through the scheduler (it waits out Slack's
        limits; the shared files are a new message, paced with the channel's others)."""
        await self.scheduler.run(
            "files.upload",
            lambda: self.scheduler.upload_client.files_upload_v2(
                channel=self.channel, thread_ts=self.thread_ts, file_uploads=file_uploads, **extra
            ),
            fair_key=self.thread_ts, channel=self.channel,
        )
        self.status.posted()

    async def note(self, text: str, into: str | None = None, buttons: Sequence[dict[str, Any]] = ()) -> str | None:
        """Post a short note in the thread, `buttons` (blocks) under it (or write it into message
        `into`, a turn's finished status line); its ts, or None if Slack refused (logged)."""
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": shorten(text, SECTION_TEXT)}}, *buttons]
        if into is not None and await self._rewrite(into, text, blocks):
            return into
        try:
            response = await (self.post(text=text, blocks=blocks) if buttons else self.post(text=text))
            return response["ts"]
        except SLACK_ERRORS as exc:
            log.error("could not post in %s/%s: %s", self.channel, self.thread_ts, slack_error(exc))
            return None

    async def post_question(self, question: Question, into: str | None = None, lead: str = "") -> None:
        """Post each part of the question (the first written into message `into`, if given:
        a turn's finished status line, or a message of Claude's `lead` text, kept on top)."""
        for index, item in enumerate(question.items):
            text, blocks = update_text(escape(item.question)), question_blocks(question.id, index, item)
            top = markdown_blocks(lead) if index == 0 and lead.strip() else []
            if index == 0 and into is not None and await self._rewrite(into, text, top + blocks):
                ts = into
                if top:
                    self._leads[ts] = top  # it stays when the question is answered
            else:
                ts = (await self.post(text=text, blocks=blocks))["ts"]
            if self.question_posted is not None:
                await self.question_posted(question, index, ts)

    async def _rewrite(self, ts: str, text: str, blocks: list[dict[str, Any]]) -> bool:
        """Message `ts` (this bot's) now shows `blocks` instead: one chat.update people wait
        on. False if Slack refused (logged): then the caller posts."""
        try:
            await self.scheduler.update(channel=self.channel, ts=ts, text=update_text(text), blocks=blocks)
            return True
        except SLACK_ERRORS as exc:
            log.warning("could not rewrite %s in %s: %s", ts, self.thread_ts, slack_error(exc))
            return False

    async def show_answer(self, ts: str, item: QuestionItem, who: str, answer: str) -> None:
        """Replace a question part's controls (in message `ts`) with who chose what."""
        await self._replace_question(ts, escape(f"{item.question} {answer}"), answered_blocks(item, who, answer))

    async def show_withdrawn(self, ts: str, item: QuestionItem) -> None:
        """Take the controls off a question part nobody can answer any more."""
        await self._replace_question(ts, escape(f"{item.question} (no longer open)"), withdrawn_blocks(item))

    async def _replace_question(self, ts: str, text: str, blocks: list[dict]) -> None:
        blocks = self._leads.get(ts, []) + blocks
        try:
            await self.scheduler.update(channel=self.channel, ts=ts, text=update_text(text), blocks=blocks)
        except SLACK_ERRORS as exc:
            log.warning("could not update a question in %s: %s", self.thread_ts, slack_error(exc))


async def _always() -> bool:
    return True
