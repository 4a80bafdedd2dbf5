"""One turn as people see it: Claude's text, what it is doing, questions and notes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ...events import (
    ASK_TOOL,
    Failed,
    FileWritten,
    Notice,
    Question,
    SessionEvent,
    TextDelta,
    TextDone,
    ToolActivity,
    ToolFailed,
    ToolStarting,
    TurnDone,
)
from ...markup import escape
from ..blocks import retry_buttons
from ..scheduler import Priority
from .errors import SLACK_ERRORS, slack_error
from .links import LinkFilter
from .long_answer import LongAnswer, pointer_after, share_answer
from .posted import StatusLine, update_soon
from .status import THINKING as THINKING_STATUS
from .status import THINKING_LOADING, ThreadStatus
from .stream import FENCE, GrowingMessage, split_point

if TYPE_CHECKING:
    from .base import ThreadBase
    from .support import Recipient

log = logging.getLogger(__name__)

THINKING = "Thinking"  # the status line's, where Slack refuses the thread's status
STATUS_DELAY = 1.0  # seconds before a turn that has shown nothing says Claude is thinking
# A message of only this much text, right before a question, is its lead-in: the question
# is written into it (one card), not posted below it.
LEAD_IN_MAX = 280  # a sentence or two; a longer text is an answer of its own
ASKING = "is preparing a question…"


class TurnView:
    """What one turn has shown so far: the message growing with Claude's text (which
    also shows what Claude is doing), and the first Slack error (reported once, at the end).

    A status line that got no text is never deleted: what the turn shows next (a question,
    a note) takes its place, or at the end it says what was done."""

    def __init__(
        self, relay: ThreadBase, recipient: Recipient | None,
        stop_claude: Callable[[], Awaitable[object]] | None, turn: str, first: str | None = None,
    ) -> None:
        self.relay, self.recipient, self.stop_claude = relay, recipient, stop_claude
        self.turn = turn  # what its Stop buttons carry
        # The turn's first message may already be in the thread (its "Queued" note).
        self.reply: GrowingMessage | None = None if first is None else self._new_message(takes_over=first)
        self.separator = ""
        self.error: str | None = None
        self.stopped = False  # the person stopped the stream: the rest of the turn isn't shown
        self.links = LinkFilter()  # Claude's links show their targets, even cut across deltas
        self.answer = LongAnswer(relay.message_limit)  # past two messages' worth, the rest is a file
        self.spare: StatusLine | None = None  # a finished status line that got no text
        self.held_note: str | None = None  # a note that may take the place of the status line
        self.lead_reply: GrowingMessage | None = None  # a message Claude's text began (a lead-in?)
        # Quick answers show no activity: "thinking" appears (as the thread's status) only
        # once Claude has been at it for a moment with nothing to show.
        self.started = False
        self._thinking = asyncio.create_task(self._think_later())

    async def _think_later(self) -> None:
        status = self.relay.status
        if not status.shown:  # one already up ("queued") says "thinking" at once
            await asyncio.sleep(STATUS_DELAY)
        if self.started or not await self.relay.gate():  # (a stall may have made it due)
            return
        if not await status.show(THINKING_STATUS, THINKING_LOADING) and not self.started:
            self._activity(THINKING)  # Slack refused the status: a status line, as it can

    async def show(self, event: SessionEvent) -> None:
        relay = self.relay
        if self.stopped and isinstance(event, (TextDelta, TextDone, ToolActivity, ToolFailed, Question)):
            return
        try:
            if self.held_note is not None and not isinstance(event, (Failed, TurnDone)):
                note, self.held_note = self.held_note, None
                await relay.note(note)  # Claude goes on: its status line stays
            if isinstance(event, TextDelta):
                self.started = True
                await self._show_text(self.links.feed(self.separator + event.text))
                self.separator = ""
            elif isinstance(event, TextDone):
                await self._show_text(self.links.flush())
                await self._end_answer()
                self.separator = "\n\n" if self.reply is not None and self.reply.text else ""
            elif isinstance(event, ToolStarting):
                await self._tool_starting(event.tool)
            elif isinstance(event, ToolActivity):
                self.started = True
                await self._show_text(self.links.flush())  # the text before it stays above its card
                log.info("%s/%s: %s", relay.channel, relay.thread_ts, event.summary)
                if not (event.tool == ASK_TOOL and relay.status.usable):  # else the status says so
                    self._activity(event.summary, event.id)
            elif isinstance(event, ToolFailed):
                log.info("%s/%s: tool call failed: %s", relay.channel, relay.thread_ts, event.output)
                if self.reply is not None:
                    self.reply.tool_failed(event.id, event.output)
            elif isinstance(event, FileWritten):
                log.info("%s/%s: wrote %s", relay.channel, relay.thread_ts, event.path)
            elif isinstance(event, Question):
                self.started = True
                lead = self._lead_in()
                await self._finish_text()
                await self._ask(event, lead)
            elif isinstance(event, Notice):
                await self._notice(f":information_source: {event.message}")
            elif isinstance(event, (Failed, TurnDone)):
                await self._finish_text()
                if isinstance(event, Failed):
                    log.error("%s/%s: %s (%s)", relay.channel, relay.thread_ts, event.message, event.detail)
                    await self._note(f":warning: {event.message}", retry_buttons(self.turn))
        except SLACK_ERRORS as exc:
            self._failed(exc)
            self.reply, self.separator = None, ""  # later text starts a new message

    def _new_message(self, takes_over: str | None = None) -> GrowingMessage:
        return GrowingMessage(
            self.relay, self.recipient, self.turn, on_user_stop=self._user_stopped, takes_over=takes_over
        )

    def _activity(self, title: str, tool: str = "") -> None:
        """Claude is doing `title`: shown in the message it is writing (started if need be)."""
        if self.reply is None:
            self.reply = self._new_message()
        self.reply.activity(title, tool)

    async def _show_text(self, text: str) -> None:
        """Claude's words (its links already made to show their targets) as written: never
        a mention, a ping or a masked link."""
        if text and not self.stopped:
            fresh = self.reply is None
            await self._add_text(text)
            if fresh:
                self.lead_reply = self.reply

    def _lead_in(self) -> GrowingMessage | None:
        """The message being written, if it is only a few words Claude began it with: a
        question that comes now is its lead-in's card."""
        reply = self.reply
        if reply is None or reply is not self.lead_reply or reply.tasks.marks or not self.relay.status.usable:
            return None
        return reply if 0 < len(reply.text) <= LEAD_IN_MAX else None

    async def _tool_starting(self, tool: str) -> None:
        """A question is on its way (its input still coming): the thread's status says so."""
        status: ThreadStatus = self.relay.status
        if tool == ASK_TOOL and status.usable:
            self.started = True
            await status.show(ASKING)

    async def _add_text(self, text: str) -> None:
        """Claude's words (as written) into the thread, escaped: once the answer passes the
        long-answer cut-off, the message shown so far says the full answer follows as a file
        and the rest is kept for it (long_answer.py)."""
        shown, passed = self.answer.take(escape(text), text)
        await self._add_chunks(shown)
        if passed:
            pointer = pointer_after(self.reply.text if self.reply is not None else "")
            if pointer.startswith("\n" + FENCE):  # the rest, if ever posted, opens it again
                self.answer.rest = FENCE + "\n" + self.answer.rest
            await self._add_chunks(pointer)

    async def _end_answer(self) -> None:
        """Claude's text stopped: what was held back near the cut-off shows now; an answer
        past it is shared whole as a file, or, if Slack refuses that, its rest is posted."""
        if not self.stopped:
            await self._add_chunks(self.answer.text_ended())
        if not self.answer.over:
            return
        answer, self.answer = self.answer, LongAnswer(self.relay.message_limit)
        reply, self.reply = self.reply, None
        if reply is not None:
            try:
                await reply.finish()  # the short answer: the file comes right below it
            except SLACK_ERRORS as exc:
                self._failed(exc)  # reported at the end; the file still carries the whole answer
        error = await share_answer(self.relay, answer.whole)
        if error is not None:
            await self.relay.note(
                f":warning: I couldn't share the full answer as a file (Slack said {escape(error)}), "
                "so the rest of Claude's answer follows here."
            )
            await self._add_chunks(answer.rest)

    async def _add_chunks(self, text: str) -> None:
        """Add text to the current message, continuing in new ones past the size limit."""
        if not text:
            return
        limit = self.relay.message_limit
        while True:
            reply = self.reply = self.reply or self._new_message()
            combined = reply.text + text
            if len(combined) <= limit:
                await reply.add(text)
                return
            # Leave room to close a code fence that the cut would leave open.
            cut = split_point(combined, len(reply.text), limit - len(FENCE) - 1)
            head, text = combined[len(reply.text) : cut], combined[cut:]
            if (reply.text + head).count(FENCE) % 2:
                head += "\n" + FENCE
                text = FENCE + "\n" + text
            if head:
                await reply.add(head)
            self.reply = None
            await reply.finish()

    def _user_stopped(self) -> None:
        """The person stopped the stream in Slack: they want Claude to stop, as with Stop."""
        if self.stopped:
            return
        self.stopped = True
        if self.stop_claude is not None:
            self.relay.background(self.stop_claude())

    async def _notice(self, text: str) -> None:
        """A note while Claude shows only a status line is held: if the turn ends next (the
        note says it was stopped), the note takes that line's place."""
        if self.reply is not None and self.reply.bare_status() is not None and self.held_note is None:
            self.held_note = text
        else:
            await self.relay.note(text)

    async def _note(self, text: str, buttons: Sequence[dict[str, Any]] = ()) -> None:
        await self._in_status_line(lambda into: self.relay.note(text, into=into, buttons=buttons))

    async def _in_status_line(self, show: Callable[[str | None], Awaitable[object]]) -> None:
        """Show the turn's next message (`show(into)`: a question, a note) in its finished
        status line if chat.update can take it now; else it is posted, and the line says
        what was done once an update is free."""
        line, self.spare = self.spare, None
        into = line.ts if line is not None and update_soon(self.relay) else None
        try:
            await show(into)
        finally:
            if line is not None and into is None:
                self.relay.background(line.mark_done(self.relay, Priority.REFRESH))

    async def _ask(self, question: Question, lead: GrowingMessage | None = None) -> None:
        relay = self.relay
        try:
            if lead is not None and lead.ts is not None and not lead.halted and update_soon(relay):
                line, self.spare = self.spare, None  # (a status line of an earlier message)
                if line is not None:
                    relay.background(line.mark_done(relay, Priority.REFRESH))
                await relay.post_question(question, into=lead.ts, lead=lead.text)  # one card
            else:
                await self._in_status_line(lambda into: relay.post_question(question, into=into))
            await relay.status.clear()  # "preparing a question": an update doesn't take it down
        except SLACK_ERRORS as exc:
            self._failed(exc)
            if self.stop_claude is not None:
                await self.stop_claude()

    async def _finish_text(self) -> None:
        await self._show_text(self.links.flush())  # what was held back for a possible link
        await self._end_answer()
        self.answer = LongAnswer(self.relay.message_limit)  # what Claude writes next is a new answer
        reply, self.reply, self.separator = self.reply, None, ""
        if reply is not None:
            await reply.finish()
            if (line := reply.bare_status()) is not None:
                if self.spare is not None:  # not expected: each is taken by what comes next
                    self.relay.background(self.spare.mark_done(self.relay, Priority.REFRESH))
                self.spare = line
        if self.held_note is not None:
            note, self.held_note = self.held_note, None
            await self._note(note)

    def _failed(self, exc: BaseException) -> None:
        relay = self.relay
        log.error("Slack refused a write in %s/%s: %s", relay.channel, relay.thread_ts, slack_error(exc))
        self.error = self.error or slack_error(exc)

    async def close(self) -> None:
        self._thinking.cancel()
        await asyncio.gather(self._thinking, return_exceptions=True)
        if self.relay.lost():  # the thread is another replica's now: nothing to tidy here
            if self.reply is not None:
                self.reply.drop()
            self.relay.status.forget()
            return
        try:
            await self._finish_text()
        except SLACK_ERRORS as exc:
            self._failed(exc)
        if self.error is not None:
            await self._note(
                f":warning: Slack refused part of my answer ({self.error}). Reply here and I'll try again."
            )
        line, self.spare = self.spare, None
        if line is not None:
            try:  # the turn is over: its Stop goes, and the line says what Claude did
                await line.mark_done(self.relay, Priority.FIRST)
            except SLACK_ERRORS as exc:
                log.warning("could not finish the status line in %s: %s", self.relay.thread_ts, slack_error(exc))
        await self.relay.status.clear()  # if no message took it down
