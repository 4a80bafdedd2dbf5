"""One Claude interview session: knows the Agent SDK, knows nothing of Slack.

`SpecSession.send(text)` yields `SessionEvent`s. The SDK client must stay in
the task that connected it, so each session has one long-lived worker task
that owns the client and takes messages from a queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_agent_sdk import (
    ClaudeSDKClient,
    HookContext,
    HookInput,
    HookJSONOutput,
    PermissionResultAllow,
    PermissionResultDeny,
    ResultError,
    ResultMessage,
    ToolPermissionContext,
)

from ..events import ASK_TOOL, Attachment, Failed, Notice, ProcessStarted, SessionEvent
from ..spec.files import SpecTracker, prompts_dir
from ..store.private import private_folder
from .cli_options import OVER_BUDGET, SessionSettings, SpendCap, build_options
from .confine import check_tool
from .open_questions import OpenQuestions
from .prompt import Message, compose
from .resume import MirrorOnly, keep_total, restore
from .session_store import StoreSessionStore, transcript_of
from .transcript import marks_in, on_disk, saved_total
from .translate import (
    CLI_FAILED,
    CLI_START_FAILED,
    TRANSCRIPT_LOST,
    EventTranslator,
    parse_question,
    timed_out,
    turn_done,
)

log = logging.getLogger(__name__)

__all__ = ["SessionSettings", "SpecSession"]

_END = object()


@dataclass(frozen=True)
class _Job:
    """One message for the worker, and what the budgets allow for answering it."""

    message: Message
    message_id: str | None
    out: asyncio.Queue[Any]
    spend_limit: float | None
    spent: float


class SpecSession:
    """A Claude conversation that interviews people into `project_dir/prompts/`."""

    def __init__(
        self,
        project_dir: Path,
        settings: SessionSettings,
        *,
        session_id: str | None = None,
        tracker: SpecTracker | None = None,
        config_dir: Path | None = None,
        transcripts: StoreSessionStore | None = None,
    ) -> None:
        self.project_dir = project_dir.resolve()
        self.settings = settings
        # This conversation's own CLI config folder (transcripts), if it has one.
        self.config_dir = config_dir
        # The state store's copy of the transcript, which a resume loads, if it has one.
        self.transcripts = transcripts
        self.tracker = tracker or SpecTracker(self.project_dir)
        self._translator = EventTranslator(self.project_dir, self.tracker, session_id)
        self._jobs: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._lifecycle = asyncio.Lock()
        self._worker: asyncio.Task[None] | None = None
        self._client: ClaudeSDKClient | None = None
        self._in_turn = False
        self.questions = OpenQuestions()  # AskUserQuestion calls waiting for people
        self._emit: Callable[[SessionEvent], None] | None = None
        self._deadline: asyncio.Timeout | None = None
        self.model = settings.model  # for the next model call (see use_model)
        self._live_model: str | None = None  # the live process's
        self._cap = SpendCap()  # the live process's spend limit
        # Until its owner surely still holds the conversation; fenced: another replica took it over.
        self.vouch: Callable[[], Awaitable[object]] = lambda: asyncio.sleep(0)
        self.fenced = False

    # -- public API -------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        """The conversation's id (resumed by the next process), as the CLI last reported it."""
        return self._translator.session_id

    @session_id.setter
    def session_id(self, value: str | None) -> None:
        self._translator.session_id = value

    async def send(
        self, text: str, attachments: tuple[Attachment, ...] = (), *, message_id: str | None = None,
        spend_limit: float | None = None, spent: float = 0.0,
    ) -> AsyncIterator[SessionEvent]:
        """Send one user message (with any attached images or text files); yield events
        until Claude's turn is over.

        `message_id` (a UUID) is the id the CLI records the message under in its
        transcript: `delivered` looks for it if the turn does not finish.

        `spend_limit` is what Claude may spend from now on (None: no limit), enforced by
        the CLI itself (an `OverBudget` event says it stopped the turn); `spent` is the
        conversation's running total as the CLI last reported it."""
        out: asyncio.Queue[Any] = asyncio.Queue()
        # Under the lock, so a close in progress finishes before a new worker starts.
        async with self._lifecycle:
            if self._worker is None or self._worker.done():
                self._worker = asyncio.create_task(self._work(), name=f"session:{self.project_dir.name}")
            self._jobs.put_nowait(_Job(Message(text, attachments), message_id, out, spend_limit, spent))
        while (event := await out.get()) is not _END:
            yield event

    def use_model(self, model: str) -> None:
        """Run Claude on `model` from its next model call on (also mid-turn, once a
        pending question is answered), and in every process started later."""
        self.model = model

    async def delivered(self, marks: set[str]) -> set[str]:
        """Which of these marks (`message_id`s of messages sent, and `answer_mark`s of
        answers) the conversation's transcript holds: what Claude has even though
        the turn that carried it did not finish."""
        if not marks:
            return set()
        entries = await transcript_of(self.transcripts, self.project_dir, self.config_dir, self.session_id)
        return marks & marks_in(entries)

    async def interrupt(self) -> bool:
        """Stop the turn in progress (from any task); False when Claude isn't answering."""
        client = self._client
        if client is None or not self._in_turn:
            return False
        self._translator.interrupted = True
        self.questions.withdraw_all()  # a question is withdrawn with the turn
        try:
            await client.interrupt()
        except Exception:
            log.warning("interrupt failed for %s", self.project_dir, exc_info=True)
            return False
        return True

    async def close(self, *, force: bool = False) -> None:
        """End the CLI process; a later `send` starts a new one resuming the conversation.

        Normally the worker first finishes the messages already sent to it;
        `force` (shutdown) cancels a turn in flight.
        """
        async with self._lifecycle:
            worker = self._worker
            if worker is None or worker.done():
                return
            if force:
                worker.cancel()
            else:
                self._jobs.put_nowait(None)
            await asyncio.gather(worker, return_exceptions=True)

    # -- the worker task, sole owner of the SDK client ---------------------

    async def _work(self) -> None:
        try:
            while (job := await self._jobs.get()) is not None:
                try:
                    await self._turn(job, job.out.put_nowait)
                finally:
                    job.out.put_nowait(_END)
        finally:
            # Nobody may wait forever on a job this worker will not run.
            while not self._jobs.empty():
                if (job := self._jobs.get_nowait()) is not None:
                    job.out.put_nowait(_END)
            await self._disconnect()

    async def _ready(self, job: _Job, emit: Any) -> ClaudeSDKClient | None:
        """The live client, started (or restarted) with what the budgets allow; None if
        the CLI could not start (people were told)."""
        if self._client is not None and self._cap.outdated(job.spend_limit, job.spent):
            log.info("restarting Claude for %s: its spend limit changed", self.project_dir)
            await self._disconnect()  # the limit is fixed at the start of a process
        if self._client is None:
            try:
                self._client = await self._connect_or_start_over(emit, job)
            except Exception as exc:  # the CLI is missing, broken or refused to start
                log.exception("could not start Claude for %s", self.project_dir)
                emit(Failed(CLI_START_FAILED, detail=repr(exc)))
                return None
            if self.config_dir is not None:  # its total is known: what the CLI saved
                emit(ProcessStarted(self._cap.total_at_start))
        await self._switch_model()
        return self._client

    async def _turn(self, job: _Job, emit: Any) -> None:
        client = await self._ready(job, emit)
        if client is None:
            return
        self._translator.streamed, self._translator.failure = "", None
        failed = False  # report at most one failure per turn
        loop = asyncio.get_running_loop()
        timeout = self.settings.turn_timeout
        self._in_turn, self._translator.interrupted, self._emit = True, False, emit
        try:
            # The deadline moves with every message: only silence times out.
            async with asyncio.timeout(timeout) as deadline:
                self._deadline = deadline
                await client.query(compose([job.message], job.message_id))
                async for sdk_message in client.receive_response():
                    deadline.reschedule(loop.time() + timeout)
                    for event in self._translator.translate(sdk_message):
                        if isinstance(event, Failed):
                            if failed:
                                continue
                            failed = True
                        emit(event)
                    if isinstance(sdk_message, ResultMessage):
                        if sdk_message.subtype == OVER_BUDGET:
                            # This process may spend no more: the next message starts one with
                            # what the budgets then allow.
                            await self._disconnect()
                        return
            raise RuntimeError("the Claude CLI ended the turn without a result")
        except TimeoutError:
            log.error("Claude was silent for %.0fs in %s; interrupting", timeout, self.project_dir)
            result = await self._interrupt()
            if result is None:
                await self._disconnect()
            else:  # what the turn spent is reported now, not with the next turn's total
                emit(turn_done(result))
            emit(Failed(timed_out(timeout), detail="turn timeout"))
        except Exception as exc:
            log.exception("Claude turn failed for %s (session %s)", self.project_dir, self.session_id)
            await self._disconnect()  # the next message reconnects with resume
            if not failed:
                emit(Failed(CLI_FAILED, detail=repr(exc)))
        finally:
            self._in_turn, self._emit, self._deadline = False, None, None

    async def _switch_model(self) -> None:
        """Put the live process on the model asked for, if it isn't already."""
        client = self._client
        if client is None or self._live_model == self.model:
            return
        try:
            await client.set_model(self.model)
            self._live_model = self.model
            log.info("Claude for %s now runs on %s", self.project_dir, self.model)
        except Exception:  # the next call tries again; the process keeps its model meanwhile
            log.warning("could not switch %s to %s", self.project_dir, self.model, exc_info=True)

    async def _interrupt(self) -> ResultMessage | None:
        """Interrupt the running turn and wait for its end (its result); None if the CLI did not respond."""
        client = self._client
        if client is None:
            return None
        try:
            async with asyncio.timeout(10):
                await client.interrupt()
                async for message in client.receive_response():
                    if isinstance(message, ResultMessage):
                        self.session_id = message.session_id or self.session_id
                        return message
        except Exception:
            log.warning("interrupt failed for %s", self.project_dir, exc_info=True)
        return None

    async def _connect_or_start_over(self, emit: Any, job: _Job) -> ClaudeSDKClient:
        """Resume the conversation; if its transcript is gone, start a new one and say so."""
        try:
            return await self._connect(job)
        except ResultError as exc:
            if self.session_id is None or "No conversation found" not in str(exc):
                raise
            log.warning("transcript of session %s is missing; starting over", self.session_id)
            self.session_id = None
            emit(Notice(TRANSCRIPT_LOST))
            return await self._connect(job)

    async def _connect(self, job: _Job) -> ClaudeSDKClient:
        # The project folder is the CLI's working directory: it must exist first.
        prompts_dir(self.project_dir).mkdir(parents=True, exist_ok=True)
        env: dict[str, str] = {}
        if self.config_dir is not None:
            private_folder(self.config_dir)
            env["CLAUDE_CONFIG_DIR"] = str(self.config_dir)
        options = build_options(
            self.settings, self.project_dir, env=env, session_id=self.session_id, model=self.model,
            spend_limit=job.spend_limit, can_use_tool=self._can_use_tool, guard_hook=self._guard_hook,
            session_store=None if self.transcripts is None else MirrorOnly(self.transcripts.store, self.still_held),
        )
        # A new conversation's running total starts at 0; a resumed one from what the CLI last
        # saved (read before it starts), or without a transcript to read, the last one reported.
        # With the store, its copy is what the process resumes (written into config_dir).
        if self.config_dir is not None and self.transcripts is not None and self.session_id:
            start = saved_total(await restore(self.transcripts, self.project_dir, self.config_dir, self.session_id))
        elif self.config_dir is not None:
            start = saved_total(on_disk(self.config_dir, self.session_id))
        else:
            start = job.spent if self.session_id is not None else 0.0
        factory = self.settings.transport
        client = ClaudeSDKClient(options, transport=None if factory is None else factory(options))
        await client.connect()
        self._cap = SpendCap(job.spend_limit, start)
        self._live_model = self.model
        log.info("Claude session started for %s (resume=%s)", self.project_dir, self.session_id)
        return client

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.disconnect()
                if self.transcripts is not None and self.config_dir is not None and self.session_id and not self.fenced:
                    await keep_total(self.transcripts, self.project_dir, self.config_dir, self.session_id)
            except Exception:
                log.warning("error while closing Claude for %s", self.project_dir, exc_info=True)

    async def still_held(self) -> bool:
        """Whether this replica may still write for the conversation (its transcript, its
        thread): once its beat is known fresh, unless another replica took it over."""
        if not self.fenced:  # (known already: no need to wait)
            await self.vouch()
        return not self.fenced

    async def _can_use_tool(
        self, tool_name: str, tool_input: dict[str, Any], context: ToolPermissionContext
    ) -> PermissionResultAllow | PermissionResultDeny:
        """Route questions to people; keep file tools inside the project folder."""
        if tool_name == ASK_TOOL:
            return await self._ask_people(tool_input, context)
        reason = self._refusal(tool_name, tool_input, context.tool_use_id)
        return PermissionResultAllow() if reason is None else PermissionResultDeny(message=reason)

    async def _guard_hook(self, hook_input: HookInput, tool_use_id: str | None, context: HookContext) -> HookJSONOutput:
        """The same check for every tool call, including those the CLI would allow by
        itself (e.g. reads inside its working directory): the boundary is ours."""
        raw: dict[str, Any] = dict(hook_input)
        reason = self._refusal(str(raw.get("tool_name", "")), raw.get("tool_input"), tool_use_id)
        if reason is None:
            return {}
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        }

    def _refusal(self, tool_name: str, tool_input: Any, tool_use_id: str | None) -> str | None:
        reason = check_tool(tool_name, tool_input, self.project_dir, self.settings.templates_dir)
        if reason is not None:
            log.warning("refused %s in %s: %s", tool_name, self.project_dir, reason)
            if tool_use_id:
                self._translator.refused.add(tool_use_id)  # its card says "Refused", not "Failed"
        return reason

    async def _ask_people(
        self, tool_input: dict[str, Any], context: ToolPermissionContext
    ) -> PermissionResultAllow | PermissionResultDeny:
        question = parse_question(context.tool_use_id or f"q{len(self.questions)}", tool_input)
        if question is None or self._emit is None:
            return PermissionResultDeny(message="Ask with 1-4 questions, each with 2-4 options.")
        # People take their time: the silence timeout does not run while they decide.
        if self._deadline is not None:
            self._deadline.reschedule(None)
        waiting = self.questions.open(question)  # before anyone can answer it
        self._emit(question)
        try:
            answers = await waiting
        finally:
            self.questions.close(question.id)
            if self._deadline is not None:
                self._deadline.reschedule(asyncio.get_running_loop().time() + self.settings.turn_timeout)
        if answers is None:
            return PermissionResultDeny(message="The team stopped this question.", interrupt=True)
        await self._switch_model()  # an answer may change the model (quick mode): from this turn on
        return PermissionResultAllow(updated_input={**tool_input, "answers": answers})
