"""The registry of interviews: which thread is which session, and the lifecycle of
each: replies persisted before they are acted on, answered strictly in order,
CLI processes capped and closed when idle, everything resumable after a restart.

It joins a session (SDK side) to a relay (Slack side) without knowing either
world's types: it hands the session's events to the relay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

from .config import Settings
from .events import Attachment, Choice, Failed, Question, QuestionItem, SessionEvent, SpecComplete, TurnDone
from .flood import PerPersonLimit, take_batch
from .relay import StreamingSupport, ThreadRelay, Usage
from .retention import delete_transcripts, expire_transcripts, transcript_dir
from .scheduler import SlackScheduler
from .slack_text import escape
from .session import SessionSettings, SpecSession
from .spec import APP_SPEC, SpecTracker, project_dir, summarize_spec
from .store import InterviewRecord, PendingReply, StateStore, Status
from .validate import Problem, validate_spec

log = logging.getLogger(__name__)

ThreadKey = tuple[str, str]  # (channel, thread_ts)

MAX_REPAIR_ROUNDS = 2  # then the spec is delivered with its remaining problems listed
RESTART_NOTE = (
    ":arrows_counterclockwise: I'm restarting and had to stop mid-answer. "
    "Your last message is saved; I'll answer it when I'm back."
)


def opening_message(name: str, starter: str) -> str:
    return (
        f"{starter} has just started a spec interview for the project `{name}` in a Slack "
        "thread. Greet them briefly and ask your first question."
    )


def continue_message(name: str, starter: str) -> str:
    return (
        f"{starter} has opened a new thread to keep working on the project `{name}`, which "
        "already has a spec in prompts/ from an earlier interview. Read both files, sum up "
        "the app in two lines, and ask what they would like to change."
    )


@dataclass(frozen=True)
class Reply:
    """A person's message in an interview thread."""

    channel: str
    thread_ts: str
    user_id: str
    text: str
    ts: str
    event_id: str | None = None
    author: str | None = None  # display name
    attachments: tuple[Attachment, ...] = ()


class Accepted(Enum):
    """What became of a reply or a click, so the Slack side can tell the person."""

    QUEUED = "queued"
    ANSWERED = "answered a question"
    STALE = "stale"
    NOT_AN_INTERVIEW = "not an interview"
    DUPLICATE = "duplicate"
    CANCELLED = "cancelled"
    NOT_OWNER = "not the owner"


@dataclass
class Interview:
    record: InterviewRecord
    project_dir: Path
    session: SpecSession
    relay: ThreadRelay
    worker: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    busy: bool = False
    waiting_on_people: bool = False  # shut down while a question was open
    last_active: float = field(default_factory=time.monotonic)

    @property
    def key(self) -> ThreadKey:
        return (self.record.channel, self.record.thread_ts)


class LivePool:
    """At most `limit` live CLI processes; the least recently used idle one makes room.

    When every live session is busy, turns wait in FIFO order.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._live: OrderedDict[ThreadKey, Interview] = OrderedDict()
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def live_count(self) -> int:
        return len(self._live)

    async def acquire(
        self, interview: Interview, on_queued: Callable[[int], Awaitable[object]]
    ) -> None:
        interview.busy = True
        if interview.key in self._live:
            self._live.move_to_end(interview.key)
            return
        queued = False
        while len(self._live) >= self.limit:
            idle = next((i for i in self._live.values() if not i.busy), None)
            if idle is not None:
                await self._evict(idle)
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            if not queued:
                queued = True
                await on_queued(len(self._waiters) - 1)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        self._live[interview.key] = interview

    def release(self, interview: Interview) -> None:
        interview.busy = False
        interview.last_active = time.monotonic()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
                break

    async def evict_idle(self, idle_seconds: float) -> None:
        now = time.monotonic()
        for interview in list(self._live.values()):
            if not interview.busy and now - interview.last_active >= idle_seconds:
                log.info("closing idle session for %s", interview.record.name)
                await self._evict(interview)

    async def remove(self, interview: Interview) -> None:
        """Close an interview's CLI for good (it was cancelled)."""
        await self._evict(interview)

    async def _evict(self, interview: Interview) -> None:
        self._live.pop(interview.key, None)
        await interview.session.close()  # the next reply resumes it


class Interviews:
    def __init__(
        self, settings: Settings, scheduler: SlackScheduler, store: StateStore, *, min_interval: float = 1.0
    ) -> None:
        self.settings = settings
        self.scheduler = scheduler
        self.store = store
        self.min_interval = min_interval
        self.streaming = StreamingSupport()
        self.pool = LivePool(settings.max_live_sessions)
        self.message_limit = PerPersonLimit(settings.messages_per_minute, 60.0)
        self.start_limit = PerPersonLimit(settings.starts_per_hour, 3600.0)
        self._cache: dict[ThreadKey, Interview] = {}
        self._accepting = True
        self._reaper: asyncio.Task[None] | None = None
        self._session_settings = SessionSettings.for_bot(settings)

    # -- lifecycle -----------------------------------------------------------

    async def open(self) -> None:
        """Start the idle reaper and answer replies left unanswered by the last run."""
        self._reaper = asyncio.create_task(self._reap_idle(), name="idle-reaper")
        for channel, thread_ts in await self.store.threads_with_pending():
            interview = await self.find(channel, thread_ts)
            if interview is not None:
                log.info("resuming %s: replies were waiting from before the restart", interview.record.name)
                self._wake(interview)

    async def close(self, grace: float | None = None) -> None:
        """Stop taking work, let running turns finish within `grace`, close every CLI."""
        self._accepting = False
        if self._reaper is not None:
            self._reaper.cancel()
        running = [i for i in self._cache.values() if i.worker is not None and not i.worker.done()]
        for interview in running:
            if interview.session.pending_question is not None:
                # Waiting on people, not on Claude: no reason to wait. The question
                # is stored, so a click after the restart still carries on.
                interview.waiting_on_people = True
                interview.worker.cancel()  # type: ignore[union-attr]
        workers = [i.worker for i in running if i.worker is not None]
        if workers:
            grace = self.settings.shutdown_grace_seconds if grace is None else grace
            _, unfinished = await asyncio.wait(workers, timeout=grace)
            for worker in unfinished:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        for interview in self._cache.values():
            await interview.session.close(force=True)
        # Streams closing in the background: give them a moment to land.
        drains = [interview.relay.drain() for interview in self._cache.values()]
        try:
            await asyncio.wait_for(asyncio.gather(*drains), timeout=10)
        except TimeoutError:
            log.warning("some streams were still closing at shutdown")

    async def _reap_idle(self) -> None:
        idle = self.settings.idle_seconds
        retention = self.settings.transcript_retention_days * 86_400
        next_expiry = 0.0
        while True:
            try:
                await self.pool.evict_idle(idle)
                if time.monotonic() >= next_expiry:  # a directory walk: at most hourly
                    next_expiry = time.monotonic() + min(3_600.0, retention / 4)
                    live = [i.session.config_dir for i in self._cache.values() if i.busy]
                    expire_transcripts(self.settings.state_dir, retention, keep=[d for d in live if d])
            except Exception:
                log.exception("closing idle sessions failed")
            await asyncio.sleep(max(0.5, min(idle / 4, 30.0)))

    # -- lookups -------------------------------------------------------------

    async def find(self, channel: str, thread_ts: str) -> Interview | None:
        key = (channel, thread_ts)
        if key in self._cache:
            return self._cache[key]
        record = await self.store.get_interview(channel, thread_ts)
        if record is None:
            return None
        return self._cache.setdefault(key, self._materialize(record))

    async def find_by_name(self, name: str, *, include_cancelled: bool = False) -> InterviewRecord | None:
        """The project's newest interview, matching the name case-insensitively."""
        return await self.store.find_by_name(name, include_cancelled=include_cancelled)

    async def list(self, team_id: str | None) -> list[InterviewRecord]:
        return await self.store.list_interviews(team_id)

    async def forget_conversations(self, name: str) -> None:
        """Starting over: the project's earlier Claude transcripts are deleted, not kept."""
        records = [r for r in await self.store.list_interviews() if r.name.lower() == name.lower()]
        delete_transcripts(transcript_dir(self.settings.state_dir, r.channel, r.thread_ts) for r in records)

    def _materialize(self, record: InterviewRecord) -> Interview:
        folder = project_dir(self.settings.generations_dir, record.name)
        tracker = SpecTracker.restore(folder, record.spec_written, record.spec_reported)
        return Interview(
            record=record,
            project_dir=folder,
            session=SpecSession(
                folder, self._session_settings, session_id=record.session_id, tracker=tracker,
                config_dir=transcript_dir(self.settings.state_dir, record.channel, record.thread_ts),
            ),
            relay=ThreadRelay(
                self.scheduler, record.channel, record.thread_ts,
                team_id=record.team_id, streaming=self.streaming, min_interval=self.min_interval,
            ),
        )

    # -- work ----------------------------------------------------------------

    async def start(
        self, *, name: str, channel: str, thread_ts: str, user_id: str, team_id: str | None,
        opening: str | None = None,
    ) -> Interview:
        """Begin the interview in the given thread (its session creates the folder)."""
        record = InterviewRecord(channel, thread_ts, name, user_id, team_id=team_id)
        await self.store.add_interview(record)
        # The opening message is queued like a reply, so a crash before the
        # greeting still ends in a greeting after restart.
        await self.store.accept_reply(
            channel, thread_ts, user_id, opening or opening_message(name, f"<@{user_id}>"), thread_ts, None
        )
        interview = self._cache.setdefault((channel, thread_ts), self._materialize(record))
        self._wake(interview)
        log.info("interview %s started in %s/%s by %s", name, channel, thread_ts, user_id)
        return interview

    async def accept(self, reply: Reply) -> Accepted:
        """Persist a reply for its interview (committed before anything acts on it)."""
        interview = await self.find(reply.channel, reply.thread_ts)
        if interview is None:
            return Accepted.NOT_AN_INTERVIEW
        if interview.record.status == Status.CANCELLED:
            return Accepted.CANCELLED
        if self.settings.thread_owner_only and reply.user_id != interview.record.started_by:
            return Accepted.NOT_OWNER
        question = interview.session.pending_question
        if question is not None:
            # A typed reply while Claude waits on a question is the answer to it.
            if not await self.store.claim(reply.channel, reply.ts, reply.event_id):
                return Accepted.DUPLICATE
            who = escape(reply.author) if reply.author else f"<@{reply.user_id}>"
            answer = f"{reply.author}: {reply.text}" if reply.author else reply.text
            for index in range(len(question.items)):
                await self._answer_item(interview, question, index, answer, who, reply.text)
            return Accepted.ANSWERED
        pending = await self.store.accept_reply(
            reply.channel, reply.thread_ts, reply.user_id, reply.text, reply.ts, reply.event_id,
            author=reply.author, attachments=reply.attachments,
        )
        if pending is None:
            log.info("dropped a duplicate delivery of %s/%s", reply.channel, reply.ts)
            return Accepted.DUPLICATE
        self._wake(interview)
        return Accepted.QUEUED

    async def answer_click(
        self, channel: str, thread_ts: str, question_id: str, index: int, labels: list[str],
        user_id: str, author: str | None, message_ts: str,
    ) -> Accepted:
        """A button choice for item `index` of a question."""
        interview = await self.find(channel, thread_ts)
        if interview is None or interview.record.status == Status.CANCELLED:
            return Accepted.STALE
        who = f"<@{user_id}>"
        value = ", ".join(labels)
        question = interview.session.pending_question
        if question is not None and question.id == question_id and 0 <= index < len(question.items):
            if not await self._answer_item(interview, question, index, value, who, value, message_ts):
                return Accepted.STALE
            return Accepted.ANSWERED
        stored = await self.store.get_question(question_id)
        if stored is None or stored.answered or not 0 <= index < len(stored.payload["items"]):
            return Accepted.STALE
        # Asked by a Claude process that has since ended (a restart): pass the
        # choice on as a reply, so the resumed conversation still gets it.
        item = question_from_dict(stored.payload).items[index]
        outcome = await self.accept(
            Reply(
                channel, thread_ts, user_id, f'My answer to "{item.question}": {value}',
                ts=f"{question_id}:{index}", author=author,
            )
        )
        if outcome is not Accepted.QUEUED:
            return Accepted.STALE
        await self.store.mark_question_answered(question_id)
        await interview.relay.show_answer(question_id, index, item, who, value, message_ts)
        return Accepted.QUEUED

    async def _answer_item(
        self, interview: Interview, question: Question, index: int, answer: str, who: str, shown: str,
        message_ts: str | None = None,
    ) -> bool:
        """Give Claude the answer to one item; show who chose what; False if it was answered already."""
        item = question.items[index]
        if not interview.session.answer(question.id, {item.question: answer}):
            return False
        await interview.relay.show_answer(question.id, index, item, who, shown, message_ts)
        if interview.session.pending_question is None:  # that was the last item
            await self.store.mark_question_answered(question.id)
        return True

    async def stop(self, channel: str, thread_ts: str) -> bool:
        """Interrupt Claude's current answer in that thread; False if there is none."""
        interview = await self.find(channel, thread_ts)
        return interview is not None and await interview.session.interrupt()

    async def cancel(self, channel: str, thread_ts: str) -> InterviewRecord | None:
        """End the interview for good (files kept); None if it is not one or already ended."""
        interview = await self.find(channel, thread_ts)
        if interview is None or interview.record.status == Status.CANCELLED:
            return None
        await self._save(interview, status=Status.CANCELLED)
        await self.store.drop_pending(channel, thread_ts)
        await interview.session.interrupt()
        if interview.worker is not None and not interview.worker.done():
            await asyncio.gather(interview.worker, return_exceptions=True)
        await self.pool.remove(interview)
        return interview.record

    def _wake(self, interview: Interview) -> None:
        interview.wake.set()
        if self._accepting and (interview.worker is None or interview.worker.done()):
            interview.worker = asyncio.create_task(
                self._serve(interview), name=f"interview:{interview.record.name}"
            )

    async def _serve(self, interview: Interview) -> None:
        """Answer the thread's waiting replies, one turn at a time, in arrival order.

        Replies that arrive while Claude is answering are merged into the next
        turn, so Claude answers them together instead of one by one.
        """
        while self._accepting and interview.record.status != Status.CANCELLED:
            interview.wake.clear()
            batch = take_batch(await self.store.pending_replies(*interview.key))
            if not batch:
                if interview.wake.is_set():
                    continue
                return
            await self.pool.acquire(interview, lambda ahead: self._queued(interview, ahead))
            try:
                await self._turn(interview, batch)
            except asyncio.CancelledError:
                if not interview.waiting_on_people:
                    await interview.relay.say(RESTART_NOTE)
                raise
            except Exception:  # never let one thread's failure stop the others
                log.exception("turn failed in interview %s", interview.record.name)
                await self.store.remove_replies([r.id for r in batch])
                await interview.relay.say(":warning: Something went wrong on my side. Reply here to try again.")
            finally:
                self.pool.release(interview)

    async def _queued(self, interview: Interview, ahead: int) -> None:
        place = "you're next" if ahead == 0 else f"{ahead} ahead of you"
        interview.relay.queued_note = await interview.relay.post_note(
            f":hourglass_flowing_sand: Queued — {place}. I'll answer as soon as Claude is free."
        )

    async def _turn(self, interview: Interview, batch: list[PendingReply]) -> None:
        record = interview.record
        await interview.relay.clear_queued_note()
        if record.status == Status.CANCELLED:  # cancelled while this turn waited
            return
        await self._save(interview, status=Status.INTERVIEWING)
        outcome = {"failed": False, "complete": False}
        attachments = await self.store.reply_files([r.id for r in batch])
        events = self._observe(interview, interview.session.send(_merge(batch), attachments), outcome, batch)
        await interview.relay.render(events, recipient_user_id=batch[-1].user_id)
        if outcome["complete"]:
            await self._deliver(interview, batch[-1].user_id)
        # Only now is the batch answered: a crash before this line re-sends it.
        await self.store.remove_replies([r.id for r in batch])
        if record.status == Status.CANCELLED:  # cancelled during the turn: keep it so
            return
        written, reported = interview.session.tracker.snapshot()
        if outcome["failed"]:
            status = Status.FAILED
        elif reported:
            status = Status.COMPLETE
        else:
            status = Status.WAITING
        await self._save(interview, status=status, spec_written=written, spec_reported=reported)

    async def _observe(
        self, interview: Interview, events: AsyncIterator[SessionEvent], outcome: dict[str, bool],
        batch: list[PendingReply],
    ) -> AsyncIterator[SessionEvent]:
        """Pass events through, persisting what must survive a crash as it happens."""
        async for event in events:
            if interview.session.session_id != interview.record.session_id:
                await self._save(interview, session_id=interview.session.session_id)
            if isinstance(event, Question):
                # The question is now what waits on people, and it is stored: the
                # replies that led to it are taken up and must not be re-sent after
                # a restart (a click on the stored question carries on instead).
                await self.store.add_question(
                    event.id, interview.record.channel, interview.record.thread_ts, question_to_dict(event)
                )
                await self.store.remove_replies([r.id for r in batch])
            elif isinstance(event, Failed):
                outcome["failed"] = True
            elif isinstance(event, TurnDone):
                record = interview.record
                # The CLI reports a running total per conversation (kept across
                # resume); a drop means a new conversation began.
                total = record.session_cost_usd if event.cost_usd is None else event.cost_usd
                spent = total - record.session_cost_usd if total >= record.session_cost_usd else total
                await self._save(
                    interview,
                    cost_usd=record.cost_usd + spent,
                    session_cost_usd=total,
                    input_tokens=record.input_tokens + event.input_tokens,
                    output_tokens=record.output_tokens + event.output_tokens,
                    model_turns=record.model_turns + (event.model_turns or 0),
                )
            elif isinstance(event, SpecComplete):
                outcome["complete"] = True  # delivered after the turn, once checked
                continue
            yield event

    async def _deliver(self, interview: Interview, recipient: str) -> None:
        """Check the spec; let Claude fix what is wrong (a few rounds); then upload it once."""
        problems = validate_spec(interview.project_dir)
        for _ in range(MAX_REPAIR_ROUNDS):
            if not problems:
                break
            count = len(problems)
            await interview.relay.say(
                f":mag: Checking the spec… fixing {count} problem{'s' if count != 1 else ''}."
            )
            outcome = {"failed": False, "complete": False}
            events = self._observe(interview, interview.session.send(repair_request(problems)), outcome, [])
            await interview.relay.render(events, recipient_user_id=recipient)
            problems = validate_spec(interview.project_dir)
        written, _ = interview.session.tracker.snapshot()
        # Recorded before the upload, so a restart never uploads it twice.
        await self._save(
            interview, spec_written=written, spec_reported=True,
            uploads=interview.record.uploads + 1, status=Status.COMPLETE,
        )
        await interview.relay.upload_spec(interview.project_dir, interview.session.tracker.targets, problems)
        await self._post_summary(interview, problems)

    async def _post_summary(self, interview: Interview, problems: list[Problem]) -> None:
        record = interview.record
        try:
            summary = summarize_spec(interview.project_dir / APP_SPEC)
        except OSError:
            log.warning("no spec to summarise for %s", record.name)
            return
        usage = Usage(record.model_turns, record.input_tokens, record.output_tokens, record.cost_usd)
        await interview.relay.post_summary(summary, usage, interview.project_dir, problems)

    async def _save(self, interview: Interview, **changes: object) -> None:
        record = interview.record
        # Cancelled is final: a turn ending as someone cancels must not revive the
        # interview. The record changes before the write is awaited, so the order
        # of changes is the order of writes.
        if record.status == Status.CANCELLED and changes.get("status", Status.CANCELLED) != Status.CANCELLED:
            del changes["status"]
        for name, value in changes.items():
            setattr(record, name, value)
        record.updated_at = time.time()
        await self.store.update_interview(record.channel, record.thread_ts, **changes)


def repair_request(problems: list[Problem]) -> str:
    listed = "\n".join(f"- {problem}" for problem in problems)
    return (
        "The bot checked the spec files before handing them over and found these problems:\n"
        f"{listed}\n\nFix them in the files (Read them, then Edit or Write), keep everything "
        "else as it is, and reply in one short line saying what you fixed."
    )


def _merge(batch: list[PendingReply]) -> str:
    """One message for Claude, each reply prefixed with its author's name."""
    return "\n\n".join(f"{r.author}: {r.text}" if r.author else r.text for r in batch)


def question_to_dict(question: Question) -> dict:
    return {"id": question.id, "items": [asdict(item) for item in question.items]}


def question_from_dict(data: dict) -> Question:
    return Question(
        data["id"],
        tuple(
            QuestionItem(
                item["question"], item["header"],
                tuple(Choice(**option) for option in item["options"]), item["multi_select"],
            )
            for item in data["items"]
        ),
    )
