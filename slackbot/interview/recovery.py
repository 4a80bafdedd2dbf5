"""What a start finds left by the last run, and finishes: names claimed for threads
never opened, turns cut off (their stale Stop buttons taken down, what Claude lacks
sent again), replies still waiting, files still downloading, and spec uploads under
way. The slow parts run in the background, each as one task `BackgroundWork` keeps."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ..store import PendingReply, StateStore, Status
from ..store.records import CLAIMING, claimed_by
from .conversation import Conversation
from .delivery import resume_upload

log = logging.getLogger(__name__)

__all__ = ["CLAIMING", "BackgroundWork", "FetchAgain", "Find", "resume_cut_off", "resume_left_work"]
# Fetches a held reply's files (from what `hold` kept of them) and its author, then `complete`s it.
FetchAgain = Callable[[Conversation, PendingReply, list[dict[str, Any]]], Awaitable[object]]
Find = Callable[[str, str], Awaitable[Conversation | None]]  # a thread's conversation (channel, ts)


Claim = Callable[[str, str], Awaitable[bool]]  # whether this process may take a thread's work on


async def _anyone(channel: str, thread_ts: str) -> bool:
    return True


class BackgroundWork:
    """Tasks left to finish what the last run began; each is referenced until done and
    its failure logged (what it leaves stays stored: the next start tries again)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s failed; the next start tries again", task.get_name(), exc_info=error)

    async def finish(self, grace: float) -> None:
        """Give the work `grace` seconds; what is cut off stays stored for the next start."""
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)


async def resume_left_work(
    store: StateStore, find: Find, work: BackgroundWork, *, alone: bool = True, claim: Claim = _anyone,
) -> None:
    """Finish what the last run left: uploads, cut-off turns, waiting replies (`find`
    gives a thread's conversation, rebuilt from the store). Downloads cut off are fetched
    again, and threads claimed but never opened are opened, by the replica taking them
    over (ownership.py).

    Not `alone` (other replicas live on the database): a spec upload is resumed if
    the thread's lease can be `claim`ed (its owner stopped); a thread's waiting replies
    and cut-off turn go to whichever replica holds its lease."""
    for record in await store.list_interviews():
        if record.thread_ts.startswith(CLAIMING):  # /newspec acked, its thread not opened yet
            # A claim names its replica: once that one is no longer live (the last run
            # included), a live replica opens the thread in its place (ownership.py).
            # Only a claim from before claims named their replica is released, alone.
            if alone and claimed_by(record.thread_ts) is None:
                log.info("releasing the name %s, claimed by a thread that was never opened", record.name)
                await store.remove_interview(record.channel, record.thread_ts)
        elif record.upload_pending and record.status != Status.CANCELLED:
            if not await claim(record.channel, record.thread_ts):
                continue  # the live replica uploading it
            if (conversation := await find(record.channel, record.thread_ts)) is not None:
                work.start(resume_upload(conversation), f"upload:{record.name}")
    # Woken, each thread's first turn here resumes one cut off mid-way (`resume_cut_off`),
    # if its lease is this replica's (ownership.py): another live replica may run it.
    for channel, thread_ts in await store.threads_with_pending():
        if (conversation := await find(channel, thread_ts)) is not None:
            log.info("resuming %s: replies were waiting from before the restart", conversation.record.name)
            conversation.wake_up()


async def resume_cut_off(conversation: Conversation) -> None:
    """The thread's last turn was cut off (this process or another stopped mid-turn):
    what Claude has is not sent again, the rest waits for the next turn."""
    log.info("resuming %s: the last run stopped mid-turn", conversation.record.name)
    await conversation.relay.take_down_stops()  # before a new turn shows its own
    await conversation.recover()
