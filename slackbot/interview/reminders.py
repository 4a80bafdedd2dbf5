"""One reminder when a question has waited: a question card still open
`NEWSPEC_REMINDER_AFTER` seconds (a day by default) after it was asked gets one message
in its thread, mentioning the person asked. Stored before it is posted, so a restart
never repeats it (a crash in between loses that one reminder rather than sending two)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from ..markup import escape
from ..slack.relay import SLACK_ERRORS
from ..slack.scheduler import SchedulerClosed, SlackScheduler
from ..store import StateStore

log = logging.getLogger(__name__)

LONGEST_PAUSE = 600.0  # seconds between checks, at most


def waited(seconds: float) -> str:
    """A rough span for people: "a day", "3 hours", "5 minutes"."""
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute")):
        if seconds >= size:
            count = round(seconds / size)
            return f"a {unit}" if count == 1 else f"{count} {unit}s"
    return "a moment"


def reminder_text(user: str, after: float) -> str:
    return (
        f":bell: <@{escape(user)}>, Claude's question in this thread has waited {waited(after)} for an answer. "
        "Pick an option on its card, or reply here."
    )


class Reminders:
    def __init__(self, store: StateStore, scheduler: SlackScheduler, after: float) -> None:
        self.store, self.scheduler, self.after = store, scheduler, after
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> int:
        """Remind of every question due; returns how many reminders were posted."""
        posted = 0
        for question in await self.store.due_reminders(time.time() - self.after):
            if not await self.store.claim_reminder(question.id):
                continue
            try:
                await self.scheduler.post(
                    channel=question.channel, thread_ts=question.thread_ts,
                    text=reminder_text(question.asked, self.after),
                )
                posted += 1
            except (*SLACK_ERRORS, SchedulerClosed):
                log.warning("could not remind %s of question %s", question.asked, question.id, exc_info=True)
        return posted

    def start(self) -> None:
        """Check again every so often while the bot runs (the start-up check is `check()`)."""
        self._task = asyncio.create_task(self._every(min(self.after / 4, LONGEST_PAUSE)), name="reminders")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _every(self, pause: float) -> None:
        while True:
            await asyncio.sleep(pause)
            try:
                await self.check()
            except Exception:  # the next check tries again
                log.exception("checking for questions to remind of failed")
