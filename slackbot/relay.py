"""Slack out: renders a session's events into one thread. Knows Slack, not the SDK.

Claude's text is streamed with Slack's native streaming (`chat_stream`) while
it works, and with post-then-`chat.update` (at most one update per message per
`min_interval`) when it does not. Long answers continue in a new message
before Slack's size limits. Markdown is sent as Markdown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError

from .blocks import answered_blocks, markdown_blocks, question_blocks, status_blocks, update_text, withdrawn_blocks
from .events import (
    Failed,
    FileWritten,
    Notice,
    Question,
    QuestionItem,
    SessionEvent,
    TextDelta,
    TextDone,
    ToolActivity,
    TurnDone,
)
from .scheduler import Priority, SlackScheduler
from .slack_text import escape
from .spec import SpecSummary
from .validate import Problem

log = logging.getLogger(__name__)

# Slack renders up to 12,000 chars of markdown per message, but long messages
# read badly in a thread; keep each one under Slack's ~4,000 readability mark.
MESSAGE_LIMIT = 3_900
FIRST_WORDS_WAIT = 1.0  # seconds an answer's first words may wait for a native stream
FENCE = "```"
# What a Slack write can fail with: Slack's refusal, or the network on the way there.
SLACK_ERRORS = (SlackApiError, SlackRequestError, aiohttp.ClientError, TimeoutError)


def split_point(text: str, start: int, limit: int) -> int:
    """Where to cut `text` (already longer than `limit`) so the head fits a message.

    The cut never falls before `start` (text up to there is already visible and
    can't be taken back). It prefers a paragraph break, then a line break, then
    a space; with none in reach it cuts at `start` when something is already
    visible (so the next message starts cleanly), else hard at `limit`.
    """
    window = text[:limit]
    for sep in ("\n\n", "\n", " "):
        at = window.rfind(sep, start)
        if at > start:
            return at + len(sep)
    return start if start > 0 else limit



@dataclass(frozen=True)
class Usage:
    """Model usage of a whole interview, as the SDK reported it turn by turn."""

    model_turns: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass
class StreamingSupport:
    """Whether native streaming works in this workspace, learnt once for all threads."""

    native: bool = True


class _Reply:
    """One Slack message that grows as Claude writes, throttled to one write per interval."""

    def __init__(self, relay: ThreadRelay, recipient_user_id: str | None) -> None:
        self.relay = relay
        self.recipient_user_id = recipient_user_id
        self.text = ""
        self.ts: str | None = None
        self._native = relay.streaming.native
        self._stream = None
        self._sent = 0  # chars of self.text already visible in Slack
        self._last_write = 0.0
        self._flusher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one write at a time for this message

    async def add(self, text: str) -> None:
        """Take more text; it reaches Slack from a background flusher, so a slow or
        rate-limited Slack never holds up reading Claude's answer."""
        self.text += text
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        try:
            while self._sent < len(self.text):
                await self._pace()
                async with self._lock:
                    if self._sent < len(self.text):
                        await self._write()
        except SLACK_ERRORS as exc:  # finish() retries whatever is still unsent
            log.warning("update failed in %s: %s", self.relay.thread_ts, _slack_error(exc))

    async def finish(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            if self._lock.locked():
                await asyncio.gather(self._flusher, return_exceptions=True)  # let a write land
            else:
                self._flusher.cancel()  # only sleeping: the final write below covers it
                await asyncio.gather(self._flusher, return_exceptions=True)
        async with self._lock:
            if self._sent < len(self.text):
                await self._pace()  # the last words too: at most one write per interval
            if self._native and self._stream is None and self.text:
                await self._write()  # starts a stream, or posts when streams are scarce
            if self._native and self._stream is not None:
                try:
                    await self._stop_native(self._stream)
                    return
                except SLACK_ERRORS as exc:
                    self._fall_back(exc)
            if self._sent < len(self.text):
                await self._post_or_update()

    async def _stop_native(self, stream: Any) -> None:
        # The last words go out as an append (the larger Tier 4 budget); the stop
        # itself (Tier 2) only closes the stream, so it runs in the background and
        # never holds up the thread's next turn.
        if self._sent < len(self.text):
            await self._append_native(priority=Priority.FIRST)

        async def stop() -> None:
            await stream.stop()

        self.relay.background(
            self.relay.scheduler.run("chat.stopStream", stop, fair_key=self.relay.thread_ts,
                                     priority=Priority.REFRESH)
        )

    async def _pace(self) -> None:
        """Keep this message's writes at least `min_interval` apart, as Slack sees them."""
        wait = self._last_write + self.relay.min_interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _write(self) -> None:
        try:
            await self._write_now()
        finally:
            # Counted from when the write landed: queueing must not bunch writes up.
            self._last_write = time.monotonic()

    async def _write_now(self) -> None:
        if self._native and self._stream is None and self.relay.scheduler.estimated_wait(
            "chat.startStream"
        ) > FIRST_WORDS_WAIT:
            # Streams are scarce (Tier 2, shared by every thread): when one would
            # keep people waiting, this message uses post-and-update instead.
            self._native = False
        if self._native:
            try:
                await self._append_native()
                return
            except SLACK_ERRORS as exc:
                self._fall_back(exc)
        await self._post_or_update()

    async def _append_native(self, priority: Priority | None = None) -> None:
        relay = self.relay
        if self._stream is None:
            # buffer_size=1: we batch ourselves, so every append reaches Slack
            # and we always know exactly which text is visible.
            self._stream = await relay.scheduler.client.chat_stream(
                channel=relay.channel,
                thread_ts=relay.thread_ts,
                recipient_team_id=relay.team_id,
                recipient_user_id=self.recipient_user_id,
                buffer_size=1,
            )
        stream = self._stream
        starting = stream.ts is None

        async def append() -> None:
            # Runs when the scheduler releases it: send all text there is by then.
            end = len(self.text)
            await stream.append(markdown_text=self.text[self._sent : end])
            self.ts = stream.ts
            self._sent = end

        if priority is None:
            priority = Priority.FIRST if starting else Priority.REFRESH
        await relay.scheduler.run(
            "chat.startStream" if starting else "chat.appendStream", append,
            fair_key=relay.thread_ts, priority=priority, coalesce_key=f"reply:{id(self)}",
        )

    def _fall_back(self, exc: Exception) -> None:
        log.warning(
            "native streaming failed in %s/%s (%s); falling back to chat.update",
            self.relay.channel, self.relay.thread_ts, _slack_error(exc),
        )
        self._native = False
        if self.ts is None:
            # Streaming never started here: don't try it again in this workspace.
            self.relay.streaming.native = False

    async def _post_or_update(self) -> None:
        relay = self.relay
        if self.ts is not None:
            ts = self.ts

            async def update() -> None:
                end = len(self.text)
                text = self.text[:end]
                await relay.scheduler.client.chat_update(
                    channel=relay.channel, ts=ts, text=text, blocks=markdown_blocks(text)
                )
                self._sent = end

            try:
                await relay.scheduler.run(
                    "chat.update", update, fair_key=relay.thread_ts, priority=Priority.REFRESH,
                    coalesce_key=f"reply:{id(self)}",
                )
                return
            except SLACK_ERRORS as exc:
                # A stream message that can no longer be edited: continue below it.
                log.warning("chat.update failed for %s: %s", self.ts, _slack_error(exc))
                self.text, self._sent = self.text[self._sent :], 0

        async def post() -> None:
            end = len(self.text)
            text = self.text[:end]
            response = await relay.scheduler.client.chat_postMessage(
                channel=relay.channel, thread_ts=relay.thread_ts, text=text, blocks=markdown_blocks(text),
                unfurl_links=False, unfurl_media=False,
            )
            self.ts = response["ts"]
            self._sent = end

        await relay.scheduler.run(
            "chat.postMessage", post, fair_key=relay.thread_ts, channel=relay.channel, priority=Priority.FIRST
        )


THINKING = "Thinking"
STATUS_DELAY = 1.0  # seconds before a turn without tool use shows a status line
WAITING = "Waiting for your answer"
class StatusLine:
    """A small live message under the thread saying what Claude is doing, with a Stop
    button; updated at most once per interval and deleted when the turn ends."""

    def __init__(self, relay: ThreadRelay) -> None:
        self.relay = relay
        self.ts: str | None = None
        self._shown = ""
        self._last = 0.0
        self._lock = asyncio.Lock()  # the delayed first showing and the turn's own
        self._delayed: asyncio.Task[None] | None = None
        self._late_started = False

    def show_later(self, activity: str, delay: float) -> None:
        async def later() -> None:
            await asyncio.sleep(delay)
            self._late_started = True  # from here on it must finish, not be cancelled
            await self.show(activity)

        self._late_started = False
        self._delayed = asyncio.create_task(later())

    async def show(self, activity: str) -> None:
        async with self._lock:
            await self._show(activity)

    async def _show(self, activity: str) -> None:
        now = time.monotonic()
        if activity == self._shown or (self.ts is not None and now - self._last < self.relay.min_interval):
            return
        relay, text = self.relay, f"{activity}…"
        try:
            if self.ts is None:
                # A nicety: it yields to answers, questions and notes.
                response = await relay.post(
                    Priority.REFRESH, text=text, blocks=status_blocks(activity, relay.thread_ts)
                )
                self.ts = response["ts"]
            else:
                await relay.scheduler.update(
                    Priority.REFRESH, channel=relay.channel, ts=self.ts, text=text, blocks=status_blocks(activity, relay.thread_ts)
                )
            self._shown, self._last = activity, now
        except SLACK_ERRORS as exc:  # a status line is a nicety: never fail the turn for it
            log.warning("status line failed in %s: %s", relay.thread_ts, _slack_error(exc))

    async def clear(self) -> None:
        if self._delayed is not None:
            if not self._late_started:
                self._delayed.cancel()  # still waiting: it never posts
            # A post under way must land first, or its message would outlive the turn.
            await asyncio.gather(self._delayed, return_exceptions=True)
        async with self._lock:
            ts, self.ts = self.ts, None
            if ts is None:
                return
        try:
            await self.relay.scheduler.delete(channel=self.relay.channel, ts=ts)
        except SLACK_ERRORS as exc:
            log.warning("could not clear the status line in %s: %s", self.relay.thread_ts, _slack_error(exc))


class _TurnView:
    """What one turn has shown so far: the message growing with Claude's text, the
    status line, and the first Slack error (reported once, at the end)."""

    def __init__(
        self, relay: ThreadRelay, recipient: str | None, on_unshown: Callable[[], Awaitable[object]] | None
    ) -> None:
        self.relay, self.recipient, self.on_unshown = relay, recipient, on_unshown
        self.reply: _Reply | None = None
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
                await relay.say(f":information_source: {event.message}")
            elif isinstance(event, (Failed, TurnDone)):
                await self._finish_text()
                if isinstance(event, Failed):
                    log.error("%s/%s: %s (%s)", relay.channel, relay.thread_ts, event.message, event.detail)
                    await relay.say(f":warning: {event.message}")
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
        log.error("Slack refused a write in %s/%s: %s", relay.channel, relay.thread_ts, _slack_error(exc))
        self.error = self.error or _slack_error(exc)

    async def close(self) -> None:
        try:
            await self._finish_text()
        except SLACK_ERRORS as exc:
            self._failed(exc)
        await self.status.clear()
        if self.error is not None:
            await self.relay.say(
                f":warning: Slack refused part of my answer ({self.error}). Reply here and I'll try again."
            )


class ThreadRelay:
    """Renders session events into one Slack thread."""

    def __init__(
        self,
        scheduler: SlackScheduler,
        channel: str,
        thread_ts: str,
        *,
        team_id: str | None,
        streaming: StreamingSupport,
        min_interval: float = 1.0,
        message_limit: int = MESSAGE_LIMIT,
    ) -> None:
        self.scheduler = scheduler
        self.channel = channel
        self.thread_ts = thread_ts
        self.team_id = team_id
        self.streaming = streaming
        self.min_interval = min_interval
        self.message_limit = message_limit
        self.queued_note: str | None = None  # ts of a "queued" note, deleted when the turn starts
        self._background: set[asyncio.Task[Any]] = set()
        self.question_messages: dict[tuple[str, int], str] = {}  # (question id, item) -> ts

    def background(self, call: Awaitable[Any]) -> None:
        """Run a Slack call nobody needs to wait for (closing a stream); failures are logged."""

        async def run() -> None:
            try:
                await call
            except SLACK_ERRORS as exc:
                log.warning("background Slack call failed in %s: %s", self.thread_ts, _slack_error(exc))

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for background calls (at shutdown)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def post(self, priority: Priority = Priority.FIRST, **kwargs: Any) -> Any:
        """chat.postMessage into this thread, through the workspace's scheduler."""
        return await self.scheduler.post(priority, channel=self.channel, thread_ts=self.thread_ts, **kwargs)

    async def say(self, text: str) -> None:
        """Post a short note in the thread; Slack errors are logged, never raised."""
        await self.post_note(text)

    async def post_note(self, text: str) -> str | None:
        """Post a note in the thread and return its ts (None if Slack refused)."""
        try:
            response = await self.post(text=text)
            return response["ts"]
        except SLACK_ERRORS as exc:
            log.error("could not post in %s/%s: %s", self.channel, self.thread_ts, _slack_error(exc))
            return None

    async def post_question(self, question: Question) -> None:
        for index, item in enumerate(question.items):
            response = await self.post(
                text=update_text(escape(item.question)), blocks=question_blocks(question.id, index, item)
            )
            self.question_messages[(question.id, index)] = response["ts"]

    async def show_answer(
        self, question_id: str, index: int, item: QuestionItem, who: str, answer: str,
        message_ts: str | None = None,
    ) -> None:
        """Replace a question's controls with who chose what."""
        await self._replace_question(
            question_id, index, message_ts, escape(f"{item.question} {answer}"), answered_blocks(item, who, answer)
        )

    async def show_withdrawn(self, question_id: str, index: int, item: QuestionItem) -> None:
        """Take the controls off a question nobody can answer any more."""
        await self._replace_question(
            question_id, index, None, escape(f"{item.question} (no longer open)"), withdrawn_blocks(item)
        )

    async def _replace_question(
        self, question_id: str, index: int, message_ts: str | None, text: str, blocks: list[dict]
    ) -> None:
        ts = message_ts or self.question_messages.get((question_id, index))
        if ts is None:
            return
        try:
            await self.scheduler.update(channel=self.channel, ts=ts, text=update_text(text), blocks=blocks)
        except SLACK_ERRORS as exc:
            log.warning("could not update a question in %s: %s", self.thread_ts, _slack_error(exc))

    async def post_summary(
        self, summary: SpecSummary, usage: Usage, project_dir: Path, problems: list[Problem]
    ) -> None:
        """A compact card after the files: what was specified, whether it checks out, what it cost."""
        features = "not stated" if summary.feature_count is None else str(summary.feature_count)
        count = len(problems)
        checked = ":white_check_mark: passed" if not problems else f":warning: {count} problem{'s' if count != 1 else ''}"
        fields = [
            ("Project", escape(summary.name)),
            ("Stack", escape(summary.stack)),
            ("Features", features),
            ("Validation", checked),
            ("Model turns", f"{usage.model_turns:,}"),
            ("Tokens", f"{usage.input_tokens:,} in · {usage.output_tokens:,} out"),
            ("Cost", f"${usage.cost_usd:.4f}"),
        ]
        blocks = [
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Saved in `{project_dir / 'prompts'}`"}]},
        ]
        text = escape(f"{summary.name}: {features} features, {summary.stack}, ${usage.cost_usd:.4f}")
        try:
            await self.post(text=text, blocks=blocks)
        except SLACK_ERRORS as exc:
            log.error("could not post the summary in %s: %s", self.thread_ts, _slack_error(exc))

    async def clear_queued_note(self) -> None:
        ts, self.queued_note = self.queued_note, None
        if ts is None:
            return
        try:
            await self.scheduler.delete(channel=self.channel, ts=ts)
        except SLACK_ERRORS as exc:
            log.warning("could not delete the queued note in %s: %s", self.thread_ts, _slack_error(exc))

    async def render(
        self, events: AsyncIterator[SessionEvent], recipient_user_id: str | None,
        on_unshown: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """Show one turn in the thread, to its end: a Slack error in one write is logged
        and reported once, and the turn goes on being shown (never left running
        unobserved). A question Slack refuses to show calls `on_unshown`, so Claude
        stops waiting for an answer nobody can give."""
        view = _TurnView(self, recipient_user_id, on_unshown)
        # Quick answers need no status line: it appears only once Claude has been
        # at it for a moment (or uses a tool), below the answer as it streams.
        view.status.show_later(THINKING, STATUS_DELAY)
        try:
            async for event in events:
                await view.show(event)
        finally:
            await view.close()

    async def _add_text(self, reply: _Reply | None, text: str, recipient: str | None) -> _Reply:
        """Add text to the current message, continuing in new ones past the size limit."""
        while True:
            if reply is None:
                reply = _Reply(self, recipient)
            combined = reply.text + text
            if len(combined) <= self.message_limit:
                await reply.add(text)
                return reply
            # Leave room to close a code fence that the cut would leave open.
            cut = split_point(combined, len(reply.text), self.message_limit - len(FENCE) - 1)
            head, text = combined[len(reply.text) : cut], combined[cut:]
            if (reply.text + head).count(FENCE) % 2:
                head += "\n" + FENCE
                text = FENCE + "\n" + text
            if head:
                await reply.add(head)
            await reply.finish()
            reply = None

    async def upload_spec(self, project_dir: Path, files: tuple[Path, ...], problems: list[Problem]) -> None:
        names = " and ".join(f"`{f.name}`" for f in files)
        comment = (
            f":white_check_mark: The spec for *{project_dir.name}* is ready: {names}, "
            f"saved in `{project_dir / 'prompts'}`."
        )
        if problems:
            listed = "\n".join(f"• {escape(problem)}" for problem in problems)
            comment = (
                f":warning: The spec for *{project_dir.name}* is saved in `{project_dir / 'prompts'}`, "
                f"but it still has problems a coding agent may trip over:\n{listed}\n"
                "Reply here and Claude can fix them."
            )
        try:
            await self.scheduler.run(
                "files.upload",
                lambda: self.scheduler.client.files_upload_v2(
                    channel=self.channel,
                    thread_ts=self.thread_ts,
                    initial_comment=comment,
                    file_uploads=[{"file": str(f), "filename": f.name, "title": f.name} for f in files],
                ),
                fair_key=self.thread_ts,
            )
        except SLACK_ERRORS as exc:
            log.error("upload failed in %s/%s: %s", self.channel, self.thread_ts, _slack_error(exc))
            await self.say(
                f":warning: The spec is written, but Slack refused the upload ({_slack_error(exc)}). "
                f"The files are in `{project_dir / 'prompts'}`."
            )


def _slack_error(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "unknown_error"))
    return str(exc) or type(exc).__name__
