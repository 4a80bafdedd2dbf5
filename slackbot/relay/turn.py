"""One turn as people see it: Claude's text, questions, notes and the status line."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..events import (
    Failed,
    FileWritten,
    Notice,
    Question,
    SessionEvent,
    TextDelta,
    TextDone,
    ToolActivity,
    TurnDone,
)
from ..slack_text import escape
from .errors import SLACK_ERRORS, slack_error
from .status import WAITING, StatusLine

if TYPE_CHECKING:
    from .stream import GrowingMessage, Recipient
    from .thread import ThreadRelay

log = logging.getLogger(__name__)


class TurnView:
    """What one turn has shown so far: the message growing with Claude's text, the
    status line, and the first Slack error (reported once, at the end)."""

    def __init__(
        self, relay: ThreadRelay, recipient: Recipient | None,
        on_unshown: Callable[[], Awaitable[object]] | None,
    ) -> None:
        self.relay, self.recipient, self.on_unshown = relay, recipient, on_unshown
        self.reply: GrowingMessage | None = None
        self.separator = ""
        self.status = StatusLine(relay)
        self.error: str | None = None

    async def show(self, event: SessionEvent) -> None:
        relay = self.relay
        try:
            if isinstance(event, TextDelta):
                # Claude's words show as written: never a mention, a ping or a masked link.
                self.reply = await relay._add_text(self.reply, self.separator + escape(event.text), self.recipient)
                self.separator = ""
            elif isinstance(event, TextDone):
                self.separator = "\n\n" if self.reply is not None and self.reply.text else ""
            elif isinstance(event, ToolActivity):
                log.info("%s/%s: %s", relay.channel, relay.thread_ts, event.summary)
                await self.status.show(event.summary)
            elif isinstance(event, FileWritten):
                log.info("%s/%s: wrote %s", relay.channel, relay.thread_ts, event.path)
            elif isinstance(event, Question):
                await self._finish_text()  # the text before the question stays above it
                await self._ask(event)
            elif isinstance(event, Notice):
                await relay.note(f":information_source: {event.message}")
            elif isinstance(event, (Failed, TurnDone)):
                await self._finish_text()
                if isinstance(event, Failed):
                    log.error("%s/%s: %s (%s)", relay.channel, relay.thread_ts, event.message, event.detail)
                    await relay.note(f":warning: {event.message}")
        except SLACK_ERRORS as exc:
            self._failed(exc)
            self.reply, self.separator = None, ""  # later text starts a new message

    async def _ask(self, question: Question) -> None:
        try:
            await self.relay.post_question(question)
        except SLACK_ERRORS as exc:
            self._failed(exc)
            if self.on_unshown is not None:
                await self.on_unshown()
            return
        await self.status.show(WAITING)

    async def _finish_text(self) -> None:
        reply, self.reply, self.separator = self.reply, None, ""
        if reply is not None:
            await reply.finish()

    def _failed(self, exc: BaseException) -> None:
        relay = self.relay
        log.error("Slack refused a write in %s/%s: %s", relay.channel, relay.thread_ts, slack_error(exc))
        self.error = self.error or slack_error(exc)

    async def close(self) -> None:
        try:
            await self._finish_text()
        except SLACK_ERRORS as exc:
            self._failed(exc)
        await self.status.clear()
        if self.error is not None:
            await self.relay.note(
                f":warning: Slack refused part of my answer ({self.error}). Reply here and I'll try again."
            )
