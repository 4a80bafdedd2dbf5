"""The registry of interviews: which thread is which conversation.

It claims project names atomically, takes people's replies (stored before
anything acts on them, in arrival order), checks who may act in a thread, and
opens and closes conversations: idle processes are closed, transcripts expire,
and everything resumes after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..claude.retention import delete_transcripts, expire_transcripts, transcript_dir
from ..claude.session import SessionSettings, SpecSession
from ..claude.session_store import StoreSessionStore
from ..config import Settings
from ..events import Attachment
from ..metrics import Metrics
from ..slack.relay import StreamingSupport, ThreadRelay
from ..slack.relay.root import RootMessage
from ..slack.scheduler import SlackScheduler
from ..spec.files import SpecTracker, project_dir
from ..spend.budget import Budgets, utc_day
from ..spend.flood import PerPersonLimit, fit_reply, held_room
from ..store import InterviewRecord, PendingReply, StateStore, Status
from ..store.records import ReplyChange, claiming
from .conversation import Conversation
from .opening import finish_opening
from .ownership import CANCEL, STOP, Ownership
from .pool import LivePool
from .questions import Accepted, Click, Questions
from .recovery import CLAIMING, BackgroundWork, FetchAgain, resume_left_work
from .standing import RootWatch
from .wording import opening_message

log = logging.getLogger(__name__)

ThreadKey = tuple[str, str]  # (channel, thread_ts)


@dataclass(frozen=True)
class Reply:
    """A person's message in an interview thread, as it arrived."""

    channel: str
    thread_ts: str
    user_id: str
    text: str
    ts: str
    event_id: str | None = None
    user_team: str | None = None  # the team answers to it stream to (relay.recipient_team)


class Interviews:
    def __init__(
        self, settings: Settings, scheduler: SlackScheduler, store: StateStore, *, min_interval: float = 1.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.scheduler = scheduler
        self.store = store
        self.min_interval = min_interval
        self.streaming = StreamingSupport(lifetime=settings.stream_lifetime_seconds)
        self.pool = LivePool(settings.max_live_sessions)
        self.metrics = metrics or Metrics()  # turns, tokens and cost, counted by each conversation
        self.questions = Questions(store)
        self.message_limit = PerPersonLimit(settings.messages_per_minute, 60.0)
        self.start_limit = PerPersonLimit(settings.starts_per_hour, 3600.0)
        # The conversations in use (`_forget_idle` drops those at rest), and when each was last looked up.
        self._cache: dict[ThreadKey, Conversation] = {}
        self._found_at: dict[ThreadKey, float] = {}
        self._storing = asyncio.Lock()  # files waiting are measured and stored as one step
        self._accepting = True
        self._reaper: asyncio.Task[None] | None = None
        self._left_work = BackgroundWork()  # what the last run left, finished in the background
        self._session_settings = SessionSettings.for_bot(settings)
        self.transcripts = StoreSessionStore(store)  # every conversation's transcript, mirrored
        self.budgets = Budgets.from_settings(settings)
        self.ownership = Ownership(store, settings.replica_timeout_seconds, self.metrics)  # replicas sharing the store

    # -- lifecycle -----------------------------------------------------------------

    async def open(self, fetch_again: FetchAgain) -> None:
        """Start the idle reaper and finish what the last run left (see recovery.py); the
        files of replies it left held while they downloaded are fetched again (`fetch_again`)."""
        self._reaper = asyncio.create_task(self._reap_idle(), name="idle-reaper")
        await self.ownership.start(
            self.find, self._drop, fetch_again, self.known, lambda claim: finish_opening(self, claim)
        )
        alone, claim = await self.ownership.alone(), self.ownership.claim
        await resume_left_work(self.store, self.find, self._left_work, alone=alone, claim=claim)

    def stop_taking_work(self) -> None:
        """The bot is stopping: no new turn starts, and a turn whose CLI dies now (it may
        get the stop signal too) is told as cut off by the restart, not as a failure."""
        self._accepting = False
        for conversation in self._cache.values():
            conversation.stop_taking_work()

    async def close(self, grace: float | None = None) -> None:
        """Stop taking work, let running turns finish within `grace`, close every CLI."""
        self.stop_taking_work()
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        await self._left_work.finish(grace)  # an upload cut short stays pending: the next start finishes it
        await asyncio.gather(*(c.shut_down(grace) for c in list(self._cache.values())), return_exceptions=True)
        for conversation in self._cache.values():
            await conversation.session.close(force=True)
        # Streams closing in the background: give them a moment to land.
        drains = [conversation.relay.drain() for conversation in self._cache.values()]
        try:
            await asyncio.wait_for(asyncio.gather(*drains), timeout=10)
        except TimeoutError:
            log.warning("some streams were still closing at shutdown")
        await self.ownership.stop()  # last: what was cut off is now the other replicas'

    async def _reap_idle(self) -> None:
        idle = self.settings.idle_seconds
        retention = self.settings.transcript_retention_days * 86_400
        next_expiry = 0.0
        while True:
            try:
                await self.pool.evict_idle(idle)
                self._wake_held()
                await self._forget_idle(idle)
                if time.monotonic() >= next_expiry:  # a directory walk: at most hourly
                    next_expiry = time.monotonic() + min(3_600.0, retention / 4)
                    live = [c.session for c in self._cache.values() if c.busy]
                    folders = [s.config_dir for s in live if s.config_dir]
                    expire_transcripts(self.settings.state_dir, retention, keep=folders)
                    await self.transcripts.expire(retention, keep=[s.session_id for s in live if s.session_id])
            except Exception:
                log.exception("closing idle sessions failed")
            await asyncio.sleep(max(0.5, min(idle / 4, 30.0)))

    async def _forget_idle(self, idle: float) -> None:
        """Conversations at rest for `idle` seconds (no turn, no process, nothing waiting in
        the store, not looked up) leave memory: `find` rebuilds one from the store when its
        thread is used again, so memory holds the threads in use, not every one ever seen."""
        since = time.monotonic() - idle

        def at_rest(key: ThreadKey, conversation: Conversation) -> bool:
            return (
                self._cache.get(key) is conversation and self._found_at.get(key, 0.0) <= since
                and conversation.at_rest(since) and not self.pool.holds(conversation)
            )

        for key, conversation in list(self._cache.items()):
            if at_rest(key, conversation) and not await self.store.pending_replies(*key) and at_rest(key, conversation):
                del self._cache[key]
                self._found_at.pop(key, None)
                await self.ownership.release(key)
                log.debug("forgot the idle conversation %s", conversation.record.name)

    def _drop(self, conversation: Conversation) -> None:
        """Another replica owns the thread: this cached copy would go stale."""
        if self._cache.get(conversation.key) is conversation and not self.pool.holds(conversation):
            del self._cache[conversation.key]
            self._found_at.pop(conversation.key, None)

    def _wake_held(self) -> None:
        """Threads a daily budget held: a new UTC day may let their replies through."""
        today = utc_day()
        for conversation in self._cache.values():
            conversation.recheck_budget(today)

    def budgets_changed(self) -> int:
        """An admin changed a budget in Slack: every thread a budget held checks again now,
        whatever day it was held on (a used-up budget holds it again, saying so only if
        that budget is new). Returns how many threads were woken."""
        return sum(conversation.recheck_budget() for conversation in list(self._cache.values()))

    # -- lookups -------------------------------------------------------------------

    @property
    def in_memory(self) -> int:
        """How many conversations are held in memory now."""
        return len(self._cache)

    def known(self, channel: str, thread_ts: str) -> bool:
        """An interview thread this process holds in memory (asked without the database)."""
        return (channel, thread_ts) in self._cache

    async def find(self, channel: str, thread_ts: str) -> Conversation | None:
        key = (channel, thread_ts)
        self._found_at[key] = time.monotonic()  # whoever holds it now keeps it in memory a while
        if key in self._cache:
            return self._cache[key]
        record = await self.store.get_interview(channel, thread_ts)
        if record is None or record.thread_ts.startswith(CLAIMING):
            self._found_at.pop(key, None)
            return None
        # Rebuilt (after a restart, or forgotten at rest): the root is written from the store (by the owner).
        shown = await self.ownership.elsewhere(key)
        return self._cache.setdefault(key, self._materialize(record, root_shown=shown))

    async def find_by_name(self, name: str, *, include_cancelled: bool = False) -> InterviewRecord | None:
        return await self.store.find_by_name(name, include_cancelled=include_cancelled)

    async def list_interviews(self, team_id: str | None) -> list[InterviewRecord]:
        records = await self.store.list_interviews(team_id)
        return [r for r in records if not r.thread_ts.startswith(CLAIMING)]  # threads still being opened

    async def forget_conversations(self, name: str) -> None:
        """Starting over: the project's earlier Claude transcripts are deleted, not kept:
        their folders on disk and the store's copy."""
        records = [r for r in await self.store.list_interviews() if r.name.lower() == name.lower()]
        delete_transcripts(transcript_dir(self.settings.state_dir, r.channel, r.thread_ts) for r in records)
        await self.transcripts.forget_project(project_dir(self.settings.generations_dir, name))

    def _materialize(self, record: InterviewRecord, *, root_shown: bool = True) -> Conversation:
        folder = project_dir(self.settings.generations_dir, record.name)
        tracker = SpecTracker.restore(folder, record.spec_written, record.spec_reported)
        session = SpecSession(
            folder, self._session_settings, session_id=record.session_id, tracker=tracker,
            config_dir=transcript_dir(self.settings.state_dir, record.channel, record.thread_ts),
            transcripts=self.transcripts,
        )
        relay = ThreadRelay(
            self.scheduler, record.channel, record.thread_ts,
            streaming=self.streaming, min_interval=self.min_interval,
        )
        conversation = Conversation(
            record, folder, session, relay, store=self.store, pool=self.pool, questions=self.questions,
            budgets=self.budgets, quick_model=self.settings.quick_model, accepting=self._accepting,
            metrics=self.metrics, lease=self.ownership.may_run,
        )
        conversation.vouch = session.vouch = self.ownership.vouch
        relay.gate, relay.lost = session.still_held, lambda: session.fenced  # fencing.py
        root = RootMessage(relay)
        watch = RootWatch(conversation, root.show, shown=root_shown)
        if root_shown and watch.last is not None:  # just posted as it stands
            root.assume(watch.last)
        return conversation

    # -- who may act ---------------------------------------------------------------

    def refusal(self, conversation: Conversation | None, user_id: str | None, channel: str | None) -> str | None:
        """The one permission check for every input in a thread (message, click, Stop,
        Cancel): why this person may not act there (one sentence), or None."""
        refusal = self.settings.refusal(user_id, channel)
        if refusal is not None or conversation is None:
            return refusal
        owner = conversation.record.started_by
        if self.settings.thread_owner_only and user_id != owner:
            return (
                f"Only <@{owner}>, who started this interview, can answer or act here "
                "(this bot is set to owner-only), so that was not passed on."
            )
        return None

    # -- starting ------------------------------------------------------------------

    async def claim(
        self, name: str, channel: str, user_id: str, team_id: str | None
    ) -> tuple[InterviewRecord, bool]:
        """Claim the project name for a new interview (atomically): (claim, True), or
        (the interview that already has it, False)."""
        record = InterviewRecord(channel, claiming(self.ownership.id), name, user_id, team_id=team_id)
        existing = await self.store.claim_name(record)
        return (record, True) if existing is None else (existing, False)

    async def release(self, claim: InterviewRecord, thread_ts: str | None = None) -> None:
        """The thread could not be opened: the name is free again. `thread_ts`, the root
        message `start` was moving the claim to, is cleared too, wherever it failed."""
        for key in dict.fromkeys(ts for ts in (claim.thread_ts, thread_ts) if ts):
            self._cache.pop((claim.channel, key), None)
            self._found_at.pop((claim.channel, key), None)
            await self.store.remove_interview(claim.channel, key)
            await self.store.drop_pending(claim.channel, key)  # the queued opening message

    async def start(self, claim: InterviewRecord, thread_ts: str, opening: str | None = None) -> Conversation:
        """Begin the claimed interview in its thread (its session creates the folder)."""
        await self.store.move_interview(claim.channel, claim.thread_ts, thread_ts)
        claim.thread_ts = thread_ts
        # The opening message is queued like a reply, so a crash before the
        # greeting still ends in a greeting after restart.
        starter = f"<@{claim.started_by}>"
        await self.store.accept_reply(
            claim.channel, thread_ts, claim.started_by, opening or opening_message(claim.name, starter),
            thread_ts, None, user_team=claim.team_id,
        )
        conversation = self._cache.setdefault((claim.channel, thread_ts), self._materialize(claim))
        self._found_at[(claim.channel, thread_ts)] = time.monotonic()
        conversation.wake_up()
        log.info("interview %s started in %s/%s by %s", claim.name, claim.channel, thread_ts, claim.started_by)
        return conversation

    # -- replies and clicks --------------------------------------------------------

    async def hold(
        self, conversation: Conversation, reply: Reply, files: Sequence[Mapping[str, Any]] = ()
    ) -> PendingReply | Accepted:
        """Store a reply the moment it arrives, holding its place in the thread's order
        while its files and author are fetched (`complete`); or say why not. `files`, what
        fetching its files takes, is stored with it: if the bot stops before it is complete,
        the next start fetches them again (`open`)."""
        if conversation.record.status == Status.CANCELLED:
            return Accepted.CANCELLED
        pending = await self.store.accept_reply(
            reply.channel, reply.thread_ts, reply.user_id, reply.text, reply.ts, reply.event_id, ready=False,
            user_team=reply.user_team, slack_files=files, held_by=self.ownership.id,
        )
        if pending is None:
            log.info("dropped a duplicate delivery of %s/%s", reply.channel, reply.ts)
            return Accepted.DUPLICATE
        return pending

    async def complete(
        self, conversation: Conversation, held: PendingReply, author: str | None,
        attachments: Sequence[Attachment], notes: Sequence[str] = (),
    ) -> Accepted:
        """The held reply is ready: it is stored with the files one turn can take and the
        caps on files waiting leave room for, the thread hears of every file not passed
        on (`notes`: those not fetched), and Claude gets it (with any replies behind it).

        QUEUED; CANCELLED or STALE if it went meanwhile (its interview cancelled, or it was
        deleted). The bot stopping meanwhile leaves it held, its files listed, for the next
        start: nothing would say in the thread which files were not passed on."""
        if not conversation.accepting:
            return Accepted.QUEUED
        async with self._storing:  # the room measured is the room used
            room = held_room(*await self.store.held_bytes(held.channel, held.thread_ts, held.user_id))
            fitted = fit_reply(held.text, attachments, notes, room)
            if not await self.store.complete_reply(held.id, fitted.text, author, fitted.files, self.ownership.id):
                return Accepted.CANCELLED if conversation.record.status == Status.CANCELLED else Accepted.STALE
        try:
            if fitted.notes:
                listed = "\n".join(f"• {note}" for note in fitted.notes)
                await conversation.relay.note(f"I couldn't pass on every file:\n{listed}")
        finally:
            conversation.wake_up()
        return Accepted.QUEUED

    async def edit(
        self, conversation: Conversation, ts: str, previous: str | None, text: str, event_id: str | None = None,
        *, unchanged_only: bool = False,
    ) -> ReplyChange:
        """A person edited their reply `ts` (from `previous`): if it still waits, Claude gets
        `text` instead; SENT if Claude already has the earlier version. `unchanged_only`:
        only if it still reads `previous` (our own rewording must not undo a later edit)."""
        if conversation.record.status == Status.CANCELLED:
            return ReplyChange.NONE  # nothing waits there, and nothing will be sent
        return await self.store.edit_reply(
            conversation.record.channel, ts, previous, text, event_id, unchanged_only=unchanged_only
        )

    async def forget(self, channel: str, ts: str, event_id: str | None = None) -> ReplyChange:
        """The message `ts` was deleted: if it waits for Claude, it goes with its files;
        SENT if Claude already read it."""
        return await self.store.forget_reply(channel, ts, event_id)

    async def take_click(
        self, conversation: Conversation, question_id: str, index: int, picked: list[int],
        user_id: str, author: str | None, user_team: str | None = None,
    ) -> Click | None:
        """Options (by index) clicked for part `index` of a question, stored before the
        click is acknowledged; None if the click changes nothing."""
        if conversation.record.status == Status.CANCELLED:
            return None
        return await self.questions.take_click(conversation, question_id, index, picked, user_id, author, user_team)

    async def finish_click(self, conversation: Conversation, click: Click, author: str | None = None) -> Accepted:
        """Show a stored click and hand it on; `author`: the clicker's name, looked up since."""
        if author is not None:
            await self.store.name_author(click.reply_id, author)
        return await self.questions.finish_click(conversation, click)

    async def choose_other(self, conversation: Conversation, question_id: str, index: int, user_id: str) -> bool:
        """`user_id` chose "Other…" on part `index`: their next typed reply answers that part
        alone. False if the question is not open in this thread."""
        stored = await self.store.get_question(question_id)
        if stored is None or stored.answered or (stored.channel, stored.thread_ts) != conversation.key:
            return False
        await self.store.choose_other(question_id, index, user_id)
        return True

    async def stop(self, conversation: Conversation, turn: str | None = None) -> bool:
        """Interrupt Claude's current answer in that thread (with `turn`, a Stop button's:
        only if it is still that answer); False if there is none. Another replica running it is asked to."""
        return await conversation.stop(turn) or await self.ownership.forward(conversation, f"{STOP}{turn or ''}")

    async def cancel(self, conversation: Conversation) -> InterviewRecord | None:
        """End the interview for good (files kept); None if it had already ended."""
        if not await conversation.cancel():
            return None
        await self.ownership.forward(conversation, CANCEL)  # a turn running elsewhere ends too
        return conversation.record
