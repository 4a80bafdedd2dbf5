"""The thread's status line under its last message (assistant.threads.setStatus): that
Claude is thinking, or where a waiting turn stands in line. Nothing is posted, so nothing
is left behind or deleted.

Slack takes the status down itself when the app posts in the thread, and after two
minutes without a message: a status still wanted is set again before then. Where Slack
refuses the method (a workspace or conversation that doesn't allow it), `show` says so
and the caller posts what it would have shown instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from ..scheduler import Priority, SchedulerClosed, SlackScheduler
from .errors import SLACK_ERRORS, slack_error

log = logging.getLogger(__name__)

METHOD = "assistant.threads.setStatus"
THINKING = "is thinking…"
# Rotated under it while Claude works: with no message yet there is no Stop button, but
# typing `stop` in the thread works (listeners/messages.py).
THINKING_LOADING = ("Claude is thinking…", "Type stop in this thread to stop Claude.")
# Slack clears a status after two minutes without a message: renewed well before that.
REFRESH_AFTER = 100.0
LOADING_MESSAGES_MAX = 10  # Slack takes up to ten rotating loading messages
# Refusals that mean the status can't be shown here at all (the token, its scopes, the
# kind of conversation): from then on this thread shows its status lines and notes.
REFUSED = frozenset({
    "not_allowed_token_type", "missing_scope", "channel_not_found", "method_not_supported_for_channel_type",
    "no_permission", "not_in_channel", "unknown_method",
})


def queued(ahead: int) -> str:
    """E.g. "is queued — 2 interviews ahead": Slack puts the app's name before it."""
    if ahead == 0:
        return "is queued — next in line"
    return f"is queued — {ahead} interview{'s' if ahead != 1 else ''} ahead"


class ThreadStatus:
    """One thread's status, as this bot set it and as Slack shows it (to our knowledge)."""

    def __init__(
        self, scheduler: SlackScheduler, channel: str, thread_ts: str, refresh_after: float = REFRESH_AFTER
    ) -> None:
        self.scheduler, self.channel, self.thread_ts = scheduler, channel, thread_ts
        self.refresh_after = refresh_after
        self.usable = True  # until Slack refuses the method here
        self.shown = ""  # what Slack shows now, as far as we know ("" nothing)
        self._loading: tuple[str, ...] = ()
        self._posts = 0  # messages the bot posted in the thread
        self._refresher: asyncio.Task[None] | None = None

    async def show(self, status: str, loading: Sequence[str] = ()) -> bool:
        """Show `status` (with up to ten rotating `loading` messages); False if Slack
        refused it (the caller shows it some other way)."""
        if not self.usable:
            return False
        self.shown, self._loading = status, tuple(loading[:LOADING_MESSAGES_MAX])
        posts = self._posts
        if not await self._set(status, self._loading, Priority.FIRST):
            self.shown = ""
            self._stop_refresh()
            return False
        if self._posts != posts:
            # A message went out meanwhile: Slack may have had it before the status, which
            # would then stay up over what was posted. What was posted says more: it goes.
            self.shown = ""
            await self._set("", (), Priority.FIRST)
            return True
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.create_task(self._refresh())
        return True

    async def clear(self) -> None:
        """Take the status down, if Slack may still show it (errors are logged)."""
        self._stop_refresh()
        if self.shown:
            self.shown = ""
            await self._set("", (), Priority.FIRST)

    def forget(self) -> None:
        """Whatever it shows is no longer this bot's to change (another replica took the
        thread over): nothing more is written, not even to take it down."""
        self.shown = ""
        self._stop_refresh()

    def posted(self) -> None:
        """The bot posted in the thread: Slack took the status down itself (a status set
        at the same time is taken down by `show`)."""
        self._posts += 1
        self.shown = ""
        self._stop_refresh()

    def _stop_refresh(self) -> None:
        if self._refresher is not None and self._refresher is not asyncio.current_task():
            self._refresher.cancel()
        self._refresher = None

    async def _refresh(self) -> None:
        """Set the status again before Slack's two minutes are up, while it is wanted."""
        while self.shown:
            await asyncio.sleep(self.refresh_after)
            if self.shown:
                await self._set(self.shown, self._loading, Priority.REFRESH)

    async def _set(self, status: str, loading: tuple[str, ...], priority: Priority) -> bool:
        client = self.scheduler.client

        async def call() -> None:
            await client.assistant_threads_setStatus(
                channel_id=self.channel, thread_ts=self.thread_ts, status=status,
                loading_messages=list(loading) or None,
            )

        try:
            await self.scheduler.run(METHOD, call, fair_key=self.thread_ts, priority=priority)
            return True
        except SLACK_ERRORS as exc:
            error = slack_error(exc)
            if error in REFUSED:
                self.usable = False
                log.info("no thread status in %s (%s): posting status lines instead", self.channel, error)
            else:
                log.warning("could not set the status of %s/%s: %s", self.channel, self.thread_ts, error)
            return False
        except SchedulerClosed:  # the bot is stopping
            return False
