"""One conversation per interview thread: the one coordinator of its turns.

It answers the thread's waiting replies one turn at a time, in arrival order, and
decides every change of the turn's state (`TurnState`): queued for a process,
running, asking people, parked, stopping. What it must not lose lives in the store:
a reply stays there until Claude has it (its turn finished, or the transcript shows
it), so everything here is a cache that a restart rebuilds. It joins the session
(SDK side) to the relay (Slack side) without knowing either world's types.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..claude.session import SpecSession
from ..claude.transcript import answer_mark
from ..events import Attachment, Failed, OverBudget, ProcessStarted, Question, SessionEvent, SpecComplete, TurnDone
from ..metrics import Metrics
from ..slack.relay import Recipient, ThreadRelay
from ..spend.budget import Budgets
from ..spend.flood import merge
from ..store import InterviewRecord, PendingReply, StateStore, Status, StoreUnavailable
from .carried import Carried
from .delivery import deliver
from .pool import LivePool
from .questions import Questions
from .recovery_buttons import send
from .thread_spend import ThreadSpend
from .turn_state import Phase, TurnState
from .wording import CUT_OFF, RESTART_NOTE, STORE_LOST, TURN_FAILED

log = logging.getLogger(__name__)

STOP_GRACE = 10.0  # seconds a turn has to wind down once its process is closed at shutdown


@dataclass
class TurnOutcome:
    failed: bool = False
    ended: bool = False  # the CLI finished the turn (a result came): Claude has what it carried
    complete: bool = False
    asked: list[Question] = field(default_factory=list)
    over_budget: OverBudget | None = None  # the CLI's spend limit stopped the turn


class Conversation:
    def __init__(
        self, record: InterviewRecord, project_dir: Path, session: SpecSession, relay: ThreadRelay, *,
        store: StateStore, pool: LivePool, questions: Questions, budgets: Budgets | None = None,
        quick_model: str | None = None, accepting: bool = True, metrics: Metrics | None = None,
        lease: Callable[[Conversation], Awaitable[bool]] | None = None,
    ) -> None:
        self.record, self.project_dir, self.session, self.relay = record, project_dir, session, relay
        self.store, self.pool, self.questions = store, pool, questions
        self.budgets = budgets or Budgets()  # as set at start-up; overridden by those set in Slack
        self.metrics = metrics or Metrics()  # the bot's; a conversation on its own counts for nobody
        self.default_model, self.quick_model = session.model, quick_model
        if record.model:  # chosen earlier (quick mode): kept across restarts
            session.use_model(record.model)
        self.spend = ThreadSpend(self)
        self.carried = Carried(store, session, self.key)
        self.worker: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        self.accepting = accepting  # false once the bot is shutting down
        self.state = TurnState(record.name)
        self.asking: Question | None = None  # the question Claude waits on, once people can see it
        self.feeder: asyncio.Task[None] | None = None  # answers typed to the question Claude waits on
        self.turn: str | None = None  # the id the running turn's Stop buttons carry
        self.failed_turn: str | None = None  # the last failed turn's id: its Retry button carries it
        self.changed: Callable[[], object] = lambda: None  # where it stands may have moved (the root shows it)
        self.lease = lease or (lambda conversation: asyncio.sleep(0, True))  # whether this process runs the next turn
        self.vouch: Callable[[], Awaitable[object]] = lambda: asyncio.sleep(0)  # until it surely still does (ownership)
        relay.question_posted = self._question_posted

    @property
    def key(self) -> tuple[str, str]:
        return (self.record.channel, self.record.thread_ts)

    # -- what the pool reads ----------------------------------------------------

    @property
    def busy(self) -> bool:
        return not self.state.is_(Phase.IDLE)

    @property
    def waiting_on_people(self) -> bool:
        return self.state.is_(Phase.ASKING)

    @property
    def last_active(self) -> float:
        return self.state.since

    def at_rest(self, since: float) -> bool:
        """Whether nothing of it has run since `since` (time.monotonic) and nothing of it
        lives only in memory: no turn, worker or feeder, no budget hold or cut-short
        turn to tell of. The registry may then forget it and rebuild it from the store."""
        return (
            self.state.is_(Phase.IDLE) and self.state.since <= since
            and all(task is None or task.done() for task in (self.worker, self.feeder))
            and not self.relay.queued_note_pending
            and self.spend.held_on is None and not self.spend.cut_short
        )

    def stop_taking_work(self) -> None:
        """The bot is stopping: no new turn starts here."""
        self.accepting = False

    def wake_up(self) -> None:
        """There is something to answer: serve it (a worker per thread, at most one), or
        let it answer the question Claude waits on."""
        self.wake.set()
        if self.state.is_(Phase.ASKING) and (self.feeder is None or self.feeder.done()):
            self.feeder = asyncio.create_task(self._feed(), name=f"answers:{self.record.name}")
        if self.accepting and (self.worker is None or self.worker.done()):
            self.worker = asyncio.create_task(self._serve(), name=f"interview:{self.record.name}")

    # -- transitions others ask for ---------------------------------------------

    async def close_process(self) -> None:
        await self.session.close()  # the next reply resumes it

    async def park(self) -> None:
        """Close the process while Claude waits on people: the question stays stored and
        open, and an answer (clicked or typed) resumes the conversation. Answered just
        now: the turn ends first, then the process."""
        if not self.state.is_(Phase.ASKING):
            await self.session.close()
            return
        self.state.to(Phase.PARKING)
        self.asking = None
        await self.session.close(force=True)

    async def shut_down(self, grace: float) -> None:
        """The bot is stopping: a turn waiting for a slot gives up (its replies are
        stored), a question is parked, a running turn has `grace` seconds to finish."""
        self.stop_taking_work()
        worker = self.worker
        if worker is None or worker.done():
            return
        if self.state.is_(Phase.QUEUED):
            worker.cancel()
        elif self.state.is_(Phase.ASKING):
            await self.park()
        done, _ = await asyncio.wait({worker}, timeout=grace)
        if not done and self.state.is_(Phase.RUNNING, Phase.ASKING):
            self.state.to(Phase.STOPPING)  # the turn winds down and says so; the next run goes on
            await self.session.close(force=True)
            done, _ = await asyncio.wait({worker}, timeout=STOP_GRACE)
        if not done:
            worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)

    async def cancel(self) -> bool:
        """End the interview for good (files kept); False if it had already ended."""
        if self.record.status == Status.CANCELLED:
            return False
        await self.save(status=Status.CANCELLED)
        await self.store.drop_pending(*self.key)
        worker = self.worker
        if self.state.is_(Phase.QUEUED) and worker is not None:
            worker.cancel()  # it only waited for a process: nothing to finish
        else:
            await self.session.interrupt()
        if worker is not None and not worker.done():
            await asyncio.gather(worker, return_exceptions=True)
        await self.pool.remove(self)
        return True

    def recheck_budget(self, today: str | None = None) -> bool:
        """A budget may let held replies through now (an admin changed one, or with `today`:
        a new UTC day began). True if the thread was held and looks again."""
        if not self.spend.recheck(today):
            return False
        self.wake_up()
        return True

    async def recover(self) -> None:
        """The last run stopped mid-turn. What Claude has (its transcript shows it) is
        dropped, the rest waits again; a turn cut off with everything sent goes on."""
        carried = await self.carried.in_flight()
        rest = await self.carried.settle(carried)
        asked = any(posts for _, posts in await self.questions.open_in(self))
        if carried and not rest and not asked:
            last = carried[-1]
            await self.store.queue_claimed_reply(
                *self.key, last.user_id, CUT_OFF, f"resume:{uuid.uuid4().hex}", None, last.user_team
            )
        self.wake_up()

    # -- serving ------------------------------------------------------------------

    async def _serve(self) -> None:
        try:
            await self._serve_replies()
        except StoreUnavailable as exc:  # the next reply (or Slack's retry of one) looks again
            log.warning("interview %s waits for its database: %s", self.record.name, exc)

    async def _serve_replies(self) -> None:
        """Replies that arrive while Claude answers are merged into the next turn."""
        while self.accepting and self.record.status != Status.CANCELLED:
            if not await self.lease(self):  # another replica's thread: it was woken instead
                return
            self.wake.clear()
            await self.questions.settle(self, self.asking)
            batch = await self.carried.next_batch()
            if not batch or await self.spend.held(batch):
                if self.wake.is_set():  # something came while this looked: look again
                    continue
                return
            self.state.to(Phase.QUEUED)
            try:
                await self.pool.acquire(self, self.relay.show_queued)
            except BaseException:  # cancelled while queued: nothing ran
                self.state.to(Phase.IDLE)
                await self.relay.take_down_queued()
                raise
            self.state.to(Phase.RUNNING)
            try:
                await self._turn(batch)
            except StoreUnavailable:
                log.exception("turn failed in interview %s: the database is unreachable", self.record.name)
                await self.relay.note(STORE_LOST)
            except Exception:  # never let one thread's failure stop the others
                log.exception("turn failed in interview %s", self.record.name)
                await self.relay.note(TURN_FAILED)
            finally:
                self.state.to(Phase.IDLE)
                self.asking = None
                self.pool.release(self)

    # -- one turn -------------------------------------------------------------------

    async def _turn(self, batch: list[PendingReply]) -> None:
        if self.record.status == Status.CANCELLED:  # cancelled while this turn waited
            await self.relay.take_down_queued()
            return
        await self.relay.queue_over()
        await self.save(status=Status.INTERVIEWING)
        ids, mark = [r.id for r in batch], str(uuid.uuid4())
        await self.store.carry(ids, mark)  # before it is sent: a kill after it finds it in the transcript
        attachments = await self.store.reply_files(ids)
        writer = batch[-1].user_id
        people = {self.record.started_by, *await self.store.payers(*self.key), *(r.user_id for r in batch)}
        recipient = Recipient(writer, batch[-1].user_team, shared=bool(people - {writer}))
        self.spend.payer = batch[-1].user_id
        outcome = await self._run(merge(batch), attachments, recipient, mark)
        if self.state.is_(Phase.PARKING):
            # Closed cleanly (waited for): what the process took is in its transcript.
            await self.session.close(force=True)
            await self.carried.settle(await self.carried.in_flight())
            return
        if self.state.is_(Phase.STOPPING) or (not self.accepting and not outcome.ended):
            # The bot is stopping (its CLI may have been signalled too, and died first): what
            # the turn carried stays, and the next run finds out what Claude has.
            await self.relay.note(RESTART_NOTE)
            return
        await self._after_turn(outcome, recipient, ids)

    async def _after_turn(self, outcome: TurnOutcome, recipient: Recipient, ids: list[int]) -> None:
        stopped = outcome.over_budget
        if outcome.ended:  # only now has Claude answered: a crash before this line re-sends
            if stopped is not None and not stopped.reached:
                await self.store.unsend(ids)  # never reached Claude: it waits until the budget allows
            else:
                await self.store.remove_sent(*self.key)
        for question in outcome.asked:  # the turn is over: its open questions are too
            await self.questions.withdraw(self, question)
        if outcome.complete:
            await deliver(self, recipient)
        if stopped is not None:  # what is left waits (stored) until the budget allows
            await self.spend.stopped(stopped, recipient)
        written, reported = self.session.tracker.snapshot()
        status = Status.FAILED if outcome.failed else Status.COMPLETE if reported else Status.WAITING
        await self.save(status=status, spec_written=written, spec_reported=reported)
        await self.spend.warn(self.spend.payer)

    async def request(self, text: str) -> AsyncIterator[SessionEvent]:
        """One more turn in the same slot for the bot's own request (a spec repair): its events."""
        outcome = TurnOutcome()
        await self.spend.turn_begins()
        async for event in self._observe(send(self, text, (), str(uuid.uuid4())), outcome):
            yield event
        if outcome.ended:
            await self.store.remove_sent(*self.key)
        for question in outcome.asked:
            await self.questions.withdraw(self, question)

    async def _run(
        self, text: str, attachments: tuple[Attachment, ...], recipient: Recipient, mark: str
    ) -> TurnOutcome:
        outcome = TurnOutcome()
        await self.spend.turn_begins()
        events = self._observe(send(self, text, attachments, mark), outcome)
        self.turn, self.failed_turn = uuid.uuid4().hex, None  # a Retry left from before does nothing now
        try:
            await self.relay.render(events, recipient, stop_claude=self._stop_claude, turn=self.turn)
        finally:
            self.turn = None
        return outcome

    async def stop(self, turn: str | None = None) -> bool:
        """Stop Claude's answer: the one whose Stop button carries `turn`, or with None (a
        typed "stop") whatever runs. False if that answer is over: a button left from an
        earlier turn (a crash kept it on screen) never stops a later one."""
        if turn is not None and turn != self.turn:
            return False
        return await self.session.interrupt()

    async def _stop_claude(self) -> None:
        """Nobody can go on with this turn: Slack refused to show a question (the next
        message is a message, not an answer), or the person stopped the stream in Slack."""
        await self.session.interrupt()

    async def _observe(self, events: AsyncIterator[SessionEvent], outcome: TurnOutcome) -> AsyncIterator[SessionEvent]:
        """Pass events through, persisting what must survive a crash as it happens."""
        async for event in events:
            if self.session.session_id != self.record.session_id:
                await self.save(session_id=self.session.session_id)
            if isinstance(event, Question):
                await self.questions.record(self, event)  # asked; people see it once posted
                outcome.asked.append(event)
            elif isinstance(event, Failed):
                outcome.failed, self.failed_turn = True, self.turn
                if not self.accepting:  # stopping: the thread hears that instead, once
                    continue
            elif isinstance(event, TurnDone):
                outcome.ended = True
                await self.spend.count(event)
            elif isinstance(event, ProcessStarted):
                await self.spend.process_started(event.total)
                continue
            elif isinstance(event, SpecComplete):
                outcome.complete = True  # delivered after the turn, once checked
                continue
            elif isinstance(event, OverBudget):
                outcome.over_budget = event  # the thread hears why once the turn is over
                continue
            yield event

    # -- questions --------------------------------------------------------------------

    async def _question_posted(self, question: Question, index: int, ts: str) -> None:
        """A part of a question shows in Slack; once all do, Claude waits on people (the
        pool may park it), and replies typed since answer it."""
        await self.questions.posted(question, index, ts)
        last = index == len(question.items) - 1
        if last and self.state.is_(Phase.RUNNING) and self.session.questions.waits_on(question.id):
            self.asking = question
            self.state.to(Phase.ASKING)
            self.pool.now_waiting_on_people(self)
            self.wake_up()

    async def answer_live(self, question: Question, answers: dict[str, str]) -> bool:
        """Give Claude answers to the question it waits on; False if it no longer does
        (parked, ended): the answers then wait in the store for the next turn."""
        if not self._asks(question):
            return False
        complete = not await self.questions.open_parts(question)
        if complete:  # recorded as Claude's before it gets them: a kill in between re-sends them
            await self.store.mark_question_answered(question.id)
            await self.store.mark_answers_sent(question.id, answer_mark(question.id))
        if not self._asks(question) or not self.session.questions.answer(question.id, answers):
            if complete:
                await self.store.unsend_answers(question.id)
                self.wake_up()
            return False
        if not self.session.questions.waits_on(question.id):
            self.asking = None
            self.state.to(Phase.RUNNING)
        return True

    def _asks(self, question: Question) -> bool:
        return self.asking is not None and self.asking.id == question.id and self.state.is_(Phase.ASKING)

    async def _feed(self) -> None:
        """What answers the question arrives (typed here, or taken by another replica)."""
        while (question := self.asking) is not None and self.state.is_(Phase.ASKING):
            if not await self.questions.answer_waiting(self, question):
                return

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
        self.changed()
