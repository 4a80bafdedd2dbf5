"""Which replica runs a thread's turns: several bot processes may share one database.

Any replica acks and stores what arrives; a thread's turns run on the one that holds its
lease (store/replicas.py). `may_run` is the one check, made by a conversation before each
turn: the lease is claimed (free, ours, or its owner dead), or the owner, another live
replica, is woken to answer the replies now stored (PostgreSQL's NOTIFY) and this
replica does nothing more with the thread.

A thread newly ours may have a turn cut off on the replica that held it: it is resumed
as after a restart (what Claude's transcript shows it has is not sent again). Every
heartbeat also looks for threads whose owner died with replies waiting, and wakes them
here, through the same check, and for replies a replica no longer live left held while
it fetched their author and files: this one fetches them again (`_adopt_holds`). Wake-ups
sent while this replica's LISTEN connection was down are lost: once it is back, the
threads it owns with replies waiting are woken (`_missed`). A replica caches a
conversation only while it owns the thread: one it saw as a non-owner is dropped, so
taking a thread over starts from the store, not from a stale copy. A replica that finds, on waking from a stall, that it
was taken for dead stands down from the threads it held (fencing.py).

On SQLite (one process) every thread is this process's, and wake-ups go nowhere.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ..metrics import Metrics
from ..store import InterviewRecord, StateStore
from ..store.records import Claim
from .conversation import Conversation
from .delivery import resume_upload
from .fencing import let_go, stop_at_once
from .recovery import BackgroundWork, FetchAgain, resume_cut_off

log = logging.getLogger(__name__)

ThreadKey = tuple[str, str]  # (channel, thread_ts)
STOP = "stop:"  # a wake-up's note: stop the turn (its id follows; none: whatever runs)
CANCEL = "cancel"  # a wake-up's note: the interview was cancelled (its turn ends)
Find = Callable[[str, str], Awaitable[Conversation | None]]
Drop = Callable[[Conversation], None]  # forget a cached conversation (this replica doesn't own it)
Known = Callable[[str, str], bool]  # whether a thread's conversation is held in memory
Open = Callable[[InterviewRecord], Coroutine[Any, Any, None]]  # open the thread of a claimed name (opening.py)


class Ownership:
    """This replica's id, its heartbeat, and the threads whose lease it holds."""

    def __init__(self, store: StateStore, timeout: float, metrics: Metrics | None = None) -> None:
        self.store = store
        self.timeout = timeout
        self.metrics = metrics or Metrics()
        self.id = uuid.uuid4().hex
        self._owned: set[ThreadKey] = set()  # leases claimed (a cut-off turn already resumed)
        self._find: Find | None = None
        self._fetch_again: FetchAgain | None = None
        self._drop: Drop = lambda conversation: None
        self._known: Known = lambda channel, thread_ts: False
        self._open: Open | None = None
        self._beat_at = time.time()  # when the last beat that found this replica live began
        self._beaten = asyncio.Event()  # set (and replaced) at every beat
        self._beating: asyncio.Task[None] | None = None
        self._wakes = BackgroundWork()
        self._accepting = True
        self.live_count = 1  # replicas live on the database, this one included, as last counted

    def share(self) -> float:
        """This replica's share of the workspace's Slack budgets: an even split among the
        replicas live (read before every Slack write, so it is the count of the last beat)."""
        return 1 / max(1, self.live_count)

    @property
    def leases_held(self) -> int:
        return len(self._owned)

    async def _count_live(self) -> int:
        self.live_count = max(1, len(await self.store.live_replicas(self.timeout)))
        return self.live_count

    async def start(self, find: Find, drop: Drop, fetch_again: FetchAgain, known: Known, open_claimed: Open) -> None:
        """Beat, listen for wake-ups, and from now on take over threads whose owner died,
        replies held by a replica no longer live (`fetch_again` fetches their files) and
        names it claimed but had not opened yet (`open_claimed` opens their threads)."""
        self._find, self._drop, self._fetch_again, self._known = find, drop, fetch_again, known
        self._open = open_claimed
        self._beat_at = time.time()
        await self.store.heartbeat(self.id)
        log.info("replica %s (host %s, pid %d)", self.id, socket.gethostname(), os.getpid())
        if await self._count_live() > 1:
            # The others count this one at their next beat (every third of the timeout) and
            # halve their share then: until they have, this one writes nothing to Slack.
            await asyncio.sleep(self.timeout / 2)
            self._beat_at = time.time()
            await self.store.heartbeat(self.id)  # its next beat is a third of the timeout away
            await self._count_live()
        await self.store.listen_for_wakes(self._woken, self._missed)
        await self._adopt_holds()
        await self._adopt_claims()
        self._beating = asyncio.create_task(self._beat(), name="replica-heartbeat")

    async def stop(self) -> None:
        """Stopped cleanly: the other replicas take this one's threads at once."""
        self._accepting = False
        if self._beating is not None:
            self._beating.cancel()
            await asyncio.gather(self._beating, return_exceptions=True)
        await self._wakes.finish(0)
        try:
            await self.store.leave(self.id)
        except Exception as exc:  # unreachable, or closed by a stop cut short: its leases lapse instead
            log.warning("replica %s could not hand its threads over: %s", self.id, exc)

    async def may_run(self, conversation: Conversation) -> bool:
        """Whether this replica runs the conversation's next turn (see the module docstring)."""
        key = conversation.key
        if not await self.claim(*key):
            self._owned.discard(key)
            self._drop(conversation)
            await self.store.wake_owner(*key)
            log.info("%s: another replica owns the thread; woke it", conversation.record.name)
            return False
        if key not in self._owned:
            self._owned.add(key)
            if key in await self.store.threads_in_flight():  # cut off where it ran before
                await resume_cut_off(conversation)
        return True

    async def vouch(self) -> None:
        """Return once this replica's leases surely still hold: at once while its last beat
        is fresh (no database read), else after its next beat (by then, if it was taken
        for dead, its turns are stopped: see fencing.py). Others take a replica for dead a
        timeout after its last beat; this one keeps a third of the timeout in hand."""
        while time.time() - self._beat_at > self.timeout * 2 / 3:
            await self._beaten.wait()

    async def claim(self, channel: str, thread_ts: str) -> bool:
        """Take the thread's lease (for a turn, or work outside one: its first turn here
        still checks for one cut off); a lease taken from a replica no longer live is counted."""
        claim = await self.store.claim_thread(channel, thread_ts, self.id, self.timeout)
        if claim is Claim.TAKEN_OVER:
            self.metrics.lease_takeovers.inc()
        return bool(claim)

    async def alone(self) -> bool:
        """Whether no other replica is live on the database."""
        return await self.store.live_replicas(self.timeout) in ([], [self.id])

    async def elsewhere(self, key: ThreadKey) -> bool:
        """Whether another live replica owns the thread now."""
        owner = await self.store.owner_of(*key)
        return owner not in (None, self.id) and owner in await self.store.live_replicas(self.timeout)

    async def release(self, key: ThreadKey) -> None:
        """The conversation left memory at rest: its thread is anyone's."""
        self._owned.discard(key)
        await self.store.release_thread(*key, self.id)

    async def forward(self, conversation: Conversation, note: str) -> bool:
        """Ask the thread's owner, if another replica, to act on `note`; whether there is one."""
        if not await self.elsewhere(conversation.key):
            return False
        await self.store.wake_owner(*conversation.key, note)
        return True

    def _woken(self, channel: str, thread_ts: str, note: str) -> None:
        """Another replica stored replies in a thread (or forwards a Stop or Cancel): done here if ours."""
        if (channel, thread_ts) in self._owned and self._accepting:
            self._wakes.start(self._wake(channel, thread_ts, note), f"wake:{channel}/{thread_ts}")

    def _missed(self) -> None:
        """Wake-ups sent while this replica couldn't hear them are lost: every thread it
        owns with replies waiting is woken, as if it had heard them."""
        if self._accepting:
            self._wakes.start(self._wake_owned(), "wake:missed")

    async def _wake_owned(self) -> None:
        for key in await self.store.threads_with_pending():
            if key in self._owned:
                await self._wake(*key)

    async def _adopt_holds(self) -> None:
        """Replies held while their author and files were fetched by a replica no longer
        live (or an earlier run): those without files go to Claude as they are, the
        files of the others are fetched again here (store/replies.py `adopt_holds`)."""
        for held, files in await self.store.adopt_holds(self.id, self.timeout):
            if not files:
                await self._wake(held.channel, held.thread_ts)
            elif self._find is not None and self._fetch_again is not None:
                if (conversation := await self._find(held.channel, held.thread_ts)) is not None:
                    log.info("fetching the files of a reply in %s again: the replica fetching them stopped",
                             conversation.record.name)
                    # In the background: the reply holds its thread's later replies until then.
                    fetching = self._fetch_again(conversation, held, files)
                    self._wakes.start(_as_none(fetching), f"files:{conversation.record.name}")

    async def _adopt_claims(self) -> None:
        """Names a replica no longer live (or the last run) claimed for a `/newspec` it acked
        but whose thread it never opened: this one opens them, in the background."""
        for channel, placeholder in await self.store.adopt_orphaned_claims(self.id, self.timeout):
            claim = await self.store.get_interview(channel, placeholder)
            if claim is not None and self._open is not None:
                self._wakes.start(self._open(claim), f"open:{claim.name}")

    async def _wake(self, channel: str, thread_ts: str, note: str = "") -> None:
        if self._find is None or (conversation := await self._find(channel, thread_ts)) is None:
            return
        if note.startswith(STOP):
            await conversation.stop(note.removeprefix(STOP) or None)
        elif note == CANCEL:
            await conversation.cancel()
        else:
            conversation.wake_up()

    async def _finish_uploads(self) -> None:
        """Spec uploads a stopped replica left under way: this one finishes them, once it
        holds the thread's lease (the upload checks the thread for what already landed)."""
        for channel, thread_ts in await self.store.orphaned_uploads(self.timeout):
            if self._find is None or not await self.claim(channel, thread_ts):
                continue
            if (conversation := await self._find(channel, thread_ts)) is not None:
                log.info("finishing the spec upload of %s: its replica stopped", conversation.record.name)
                self._wakes.start(resume_upload(conversation), f"upload:{conversation.record.name}")

    async def _stand_down(self) -> None:
        """Taken for dead: the threads this replica held that another took meanwhile (its
        lease is no longer ours) are another's now. Their turns stop before anything of them
        runs again and their conversations are forgotten: they are resumed from the store by
        whichever replica holds them, as after a kill. Threads nobody took (the database was
        unreachable, say, and nobody else could take them either) go on here."""
        held = set(self._owned)  # as the query begins: one claimed meanwhile is surely ours
        owned = held - await self.store.threads_of(self.id)  # one query, however many threads
        self._owned -= owned
        find = self._find
        stopped = [c for key in owned if find and self._known(*key) and (c := await find(*key)) is not None]
        for conversation in stopped:  # no await in between: no turn goes on meanwhile
            stop_at_once(conversation)
        for conversation in stopped:
            await let_go(conversation)
            self._drop(conversation)
        for key in owned:
            await self.store.release_thread(*key, self.id)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.timeout / 3)
            try:
                began = time.time()
                if not await self.store.heartbeat(self.id, self.timeout):
                    log.warning("replica %s was taken for dead: it stands down from its threads", self.id)
                    await self._stand_down()
                self._beat_at = began
                self._beaten.set()
                self._beaten = asyncio.Event()
                await self._count_live()
                for channel, thread_ts in await self.store.orphaned_threads(self.timeout):
                    log.info("taking over %s/%s: its replica stopped", channel, thread_ts)
                    await self._wake(channel, thread_ts)
                await self._finish_uploads()
                await self._adopt_holds()
                await self._adopt_claims()
            except Exception:
                log.exception("the replica heartbeat failed")


async def _as_none(work: Awaitable[object]) -> None:
    await work
