"""One conversation per interview thread: its Claude session and its Slack relay.

It answers the thread's waiting replies one turn at a time, in arrival order,
persisting what must survive a crash as it happens; delivers the spec once it
checks out; and keeps the interview's record (status, cost) current. It joins
the session (SDK side) to the relay (Slack side) without knowing either world's
types: it hands the session's events to the relay.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from .budget import Budgets, utc_day
from .events import Attachment, Failed, OverBudget, Question, QuestionItem, SessionEvent, SpecComplete, TurnDone
from .flood import take_batch
from .handoff import Handoff, build_command, by_category, compare
from .pool import LivePool
from .questions import Questions
from .relay import Recipient, ThreadRelay, Usage
from .session import SpecSession
from .spec import spec_paths, summarize_spec
from .store import InterviewRecord, PendingReply, StateStore, Status
from .validate import Problem, check_spec, validate_spec

log = logging.getLogger(__name__)

MAX_REPAIR_ROUNDS = 2  # then the spec is delivered with its remaining problems listed
RESTART_NOTE = (
    ":arrows_counterclockwise: I'm restarting and had to stop mid-answer. "
    "Your last message is saved; I'll answer it when I'm back."
)
TURN_FAILED = ":warning: Something went wrong on my side. Reply here to try again."
# Sent for the person whose turn the spend limit cut short, once the budget allows more.
CUT_SHORT = (
    "(The bot's spend limit stopped your previous answer before it finished; a tool call it "
    "cut off did not run. The budget now allows more: carry on from where you stopped.)"
)
MODE_HEADER = "mode"  # the skill's quick-or-detailed question


@dataclass
class TurnOutcome:
    failed: bool = False
    complete: bool = False
    asked: list[Question] = field(default_factory=list)
    over_budget: OverBudget | None = None  # the CLI's spend limit stopped the turn


class Conversation:
    def __init__(
        self, record: InterviewRecord, project_dir: Path, session: SpecSession, relay: ThreadRelay, *,
        store: StateStore, pool: LivePool, questions: Questions, budgets: Budgets | None = None,
        quick_model: str | None = None,
    ) -> None:
        self.record, self.project_dir, self.session, self.relay = record, project_dir, session, relay
        self.store, self.pool, self.questions = store, pool, questions
        self.budgets = budgets or Budgets()  # as set at start-up; overridden by those set in Slack
        self.default_model, self.quick_model = session.model, quick_model
        if record.model:  # chosen earlier (quick mode): kept across restarts
            session.use_model(record.model)
        self.cut_short = False  # the spend limit stopped the last turn: the thread hears why, again
        self.payer = record.started_by  # whose message started the current turn: its cost is theirs
        # The UTC day a used-up budget last held this thread's replies (the reaper wakes
        # the thread when the day changes).
        self.held_on: str | None = None
        self.worker: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        self.accepting = True  # false once the bot is shutting down
        # What the pool knows of it.
        self.busy = False
        self.waiting_on_people = False
        self.last_active = time.monotonic()
        self.queued = False  # waiting in the pool for a process
        self.parked = False  # its process is being closed while people think

    @property
    def key(self) -> tuple[str, str]:
        return (self.record.channel, self.record.thread_ts)

    def wake_up(self) -> None:
        """There is something to answer: serve it (a worker per thread, at most one)."""
        self.wake.set()
        if self.accepting and (self.worker is None or self.worker.done()):
            self.worker = asyncio.create_task(self._serve(), name=f"interview:{self.record.name}")

    # -- the pool's side ----------------------------------------------------------

    async def close_process(self) -> None:
        await self.session.close()  # the next reply resumes it

    async def park(self) -> None:
        """End the turn that waits on people and close its process; the question stays
        stored, so an answer (clicked or typed) resumes the conversation."""
        self.parked = True
        try:
            if self.worker is not None and not self.worker.done():
                self.worker.cancel()
                await asyncio.gather(self.worker, return_exceptions=True)
            await self.session.close(force=True)
        finally:
            self.parked = False

    # -- serving ------------------------------------------------------------------

    async def _serve(self) -> None:
        """Replies that arrive while Claude answers are merged into the next turn."""
        while self.accepting and self.record.status != Status.CANCELLED:
            self.wake.clear()
            batch = take_batch(await self.store.pending_replies(*self.key))
            if not batch:
                if self.wake.is_set():
                    continue
                return
            if await self._held(batch):
                return  # the replies stay stored: answered once the budget allows
            self.queued = True
            try:
                await self.pool.acquire(self, self._queued)
            finally:
                self.queued = False
            try:
                await self._turn(batch)
            except asyncio.CancelledError:
                if not (self.waiting_on_people or self.parked):
                    await self.relay.note(RESTART_NOTE)
                raise
            except Exception:  # never let one thread's failure stop the others
                log.exception("turn failed in interview %s", self.record.name)
                await self.store.remove_replies([r.id for r in batch])
                await self.relay.note(TURN_FAILED)
            finally:
                self.pool.release(self)

    async def _held(self, batch: list[PendingReply]) -> bool:
        """Whether a used-up budget stops the next model call; the thread is told once."""
        budgets = await self.budgets.current(self.store)
        cut_short, self.cut_short = self.cut_short, False
        held = await budgets.held(self.store, self.record, batch[-1].user_id)
        if held is None:
            self.held_on = None
            await self._warn(budgets, batch[-1].user_id)
            return False
        self.held_on = utc_day()
        # Said once per budget (and day, and person, for daily ones), also across restarts;
        # and again after a turn the spend limit cut short (people saw it stop).
        first = await self.store.note_once(self.record.channel, self.record.thread_ts, "held:" + ":".join(held.key))
        if first or cut_short:
            log.info("interview %s paused: budget %s used up", self.record.name, held.key[0])
            await self.relay.note(held.sentence)
        return True

    async def _warn(self, budgets: Budgets, user_id: str) -> None:
        """Tell the thread, once (also across restarts; daily budgets once a day), that 80 %
        of a budget is used."""
        for note, sentence in await budgets.warnings(self.store, self.record, user_id):
            if await self.store.note_once(self.record.channel, self.record.thread_ts, note):
                await self.relay.note(sentence)

    async def _send(self, text: str, attachments: tuple[Attachment, ...] = ()) -> AsyncIterator[SessionEvent]:
        """Send to Claude, with what the budgets in force leave as the CLI's own spend limit."""
        budgets = await self.budgets.current(self.store)
        limit = await budgets.headroom(self.store, self.record, self.payer)
        async for event in self.session.send(text, attachments, spend_limit=limit, spent=self.record.session_cost_usd):
            yield event

    async def _queued(self, ahead: int) -> None:
        place = "you're next" if ahead == 0 else f"{ahead} ahead of you"
        self.relay.queued_note = await self.relay.note(
            f":hourglass_flowing_sand: Queued — {place}. I'll answer as soon as Claude is free."
        )

    async def _turn(self, batch: list[PendingReply]) -> None:
        await self.relay.clear_queued_note()
        if self.record.status == Status.CANCELLED:  # cancelled while this turn waited
            return
        await self.save(status=Status.INTERVIEWING)
        outcome = TurnOutcome()
        attachments = await self.store.reply_files([r.id for r in batch])
        recipient = Recipient(batch[-1].user_id, batch[-1].user_team)
        self.payer = batch[-1].user_id
        events = self._observe(self._send(merge(batch), attachments), outcome, batch)
        await self.relay.render(events, recipient, stop_claude=self._stop_claude)
        for question in outcome.asked:  # the turn is over: its open questions are too
            await self.questions.withdraw(self, question)
        if outcome.complete:
            await self._deliver(recipient)
        stopped = outcome.over_budget
        if stopped is None or stopped.reached:
            # Only now is the batch answered: a crash before this line re-sends it.
            await self.store.remove_replies([r.id for r in batch])
        if stopped is not None:  # what is left waits (stored) until the budget allows
            await self._stopped_by_budget(stopped, recipient)
        written, reported = self.session.tracker.snapshot()
        status = Status.FAILED if outcome.failed else Status.COMPLETE if reported else Status.WAITING
        await self.save(status=status, spec_written=written, spec_reported=reported)
        await self._warn(await self.budgets.current(self.store), self.payer)

    async def _stopped_by_budget(self, stopped: OverBudget, recipient: Recipient) -> None:
        """The CLI's spend limit stopped the turn. A batch that never reached Claude stays
        stored; one Claude began answering is taken up, and Claude is asked to finish once
        the budget allows (on the payer's account). The serve loop then holds the thread."""
        log.info("interview %s: the spend limit stopped a turn (reached Claude: %s)", self.record.name, stopped.reached)
        self.cut_short = True
        if stopped.reached:
            record = self.record
            await self.store.queue_claimed_reply(
                record.channel, record.thread_ts, self.payer, CUT_SHORT, f"budget:{uuid.uuid4().hex}", None,
                recipient.team_id,
            )

    async def _stop_claude(self) -> None:
        """Nobody can go on with this turn: Slack refused to show a question (the next
        message is a message, not an answer), or the person stopped the stream in Slack."""
        await self.session.interrupt()

    async def _observe(
        self, events: AsyncIterator[SessionEvent], outcome: TurnOutcome, batch: list[PendingReply],
    ) -> AsyncIterator[SessionEvent]:
        """Pass events through, persisting what must survive a crash as it happens."""
        async for event in events:
            if self.session.session_id != self.record.session_id:
                await self.save(session_id=self.session.session_id)
            if isinstance(event, Question):
                # The question now waits on people, and it is stored: the replies that
                # led to it are taken up and must not be re-sent after a restart (an
                # answer to the stored question carries on instead).
                await self.questions.record(self, event)
                outcome.asked.append(event)
                await self.store.remove_replies([r.id for r in batch])
                self.pool.now_waiting_on_people(self)
            elif isinstance(event, Failed):
                outcome.failed = True
            elif isinstance(event, TurnDone):
                await self._count(event)
            elif isinstance(event, SpecComplete):
                outcome.complete = True  # delivered after the turn, once checked
                continue
            elif isinstance(event, OverBudget):
                outcome.over_budget = event  # the thread hears why once the turn is over
                continue
            yield event

    async def _count(self, event: TurnDone) -> None:
        record = self.record
        # The CLI reports a running total per conversation (kept across resume); a
        # drop means a new conversation began.
        total = record.session_cost_usd if event.cost_usd is None else event.cost_usd
        spent = total - record.session_cost_usd if total >= record.session_cost_usd else total
        if spent > 0:  # charged to the person whose message started the turn, on today's UTC date
            await self.store.add_spend(record.channel, record.thread_ts, self.payer, utc_day(), spent)
        await self.save(
            cost_usd=record.cost_usd + spent,
            session_cost_usd=total,
            input_tokens=record.input_tokens + event.input_tokens,
            output_tokens=record.output_tokens + event.output_tokens,
            model_turns=record.model_turns + (event.model_turns or 0),
        )

    # -- delivery -----------------------------------------------------------------

    async def _deliver(self, recipient: Recipient) -> None:
        """Check the spec; let Claude fix what is wrong (a few rounds); then upload it once."""
        problems = validate_spec(self.project_dir)
        for _ in range(MAX_REPAIR_ROUNDS):
            if not problems:
                break
            count = len(problems)
            await self.relay.note(f":mag: Checking the spec… fixing {count} problem{'s' if count != 1 else ''}.")
            outcome = TurnOutcome()
            events = self._observe(self._send(repair_request(problems)), outcome, [])
            await self.relay.render(events, recipient, stop_claude=self._stop_claude)
            problems = validate_spec(self.project_dir)
        written, _ = self.session.tracker.snapshot()
        # Recorded before the upload, so a restart never uploads it twice.
        await self.save(
            spec_written=written, spec_reported=True, uploads=self.record.uploads + 1, status=Status.COMPLETE
        )
        await self.relay.upload_spec(self.project_dir, self.session.tracker.targets, problems)
        await self._post_summary(problems)

    async def _post_summary(self, problems: list[Problem]) -> None:
        record = self.record
        try:
            summary = summarize_spec(spec_paths(self.project_dir)[0])
        except OSError:
            log.warning("no spec to summarise for %s", record.name)
            return
        budgets = await self.budgets.current(self.store)
        usage = Usage(
            record.model_turns, record.input_tokens, record.output_tokens, record.cost_usd,
            budget_usd=budgets.per_interview, models=self._models(),
        )
        report = check_spec(self.project_dir)
        names = [str(feature["name"]) for feature in report.features]
        before = await self.store.last_delivery(record.name)
        changes = compare(before, names) if before is not None else None
        await self.store.record_delivery(record.name, names)
        handoff = Handoff(build_command(self.project_dir), by_category(report.features), changes)
        await self.relay.post_summary(summary, usage, self.project_dir, problems, handoff)

    def _models(self) -> tuple[str, ...]:
        """The models that ran: the interview began on the default; quick mode moves it on."""
        later = self.record.model
        return (self.default_model,) if later in (None, self.default_model) else (self.default_model, str(later))

    async def picked(self, item: QuestionItem, answer: str) -> None:
        """An item of a question was answered (clicked or typed). Quick mode moves the
        interview to the quick model, if one is set: from Claude's next model call on,
        and after restarts (the record keeps it)."""
        quick = self.quick_model
        if quick is None or self.record.model == quick or not picks_quick(item, answer):
            return
        log.info("interview %s: quick mode, switching to %s", self.record.name, quick)
        await self.save(model=quick)
        self.session.use_model(quick)

    async def save(self, **changes: object) -> None:
        record = self.record
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


def picks_quick(item: QuestionItem, answer: str) -> bool:
    """Whether this answers the skill's Mode question with quick mode: the option
    labelled "Quick…" clicked, or a typed answer whose first word is "quick"."""
    words = answer.strip().lower().split(maxsplit=1)
    return item.header.strip().lower() == MODE_HEADER and bool(words) and words[0].strip("*.,:;!()") == "quick"


def merge(batch: list[PendingReply]) -> str:
    """One message for Claude, each reply prefixed with its author's name."""
    return "\n\n".join(f"{r.author}: {r.text}" if r.author else r.text for r in batch)
