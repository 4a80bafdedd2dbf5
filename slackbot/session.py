"""One Claude interview session: knows the Agent SDK, knows nothing of Slack.

`SpecSession.send(text)` yields `SessionEvent`s. The SDK client must stay in
the task that connected it, so each session has one long-lived worker task
that owns the client and takes messages from a queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_agent_sdk import (
    ClaudeAgentOptions,
    ClaudeSDKClient,
    HookContext,
    HookInput,
    HookJSONOutput,
    HookMatcher,
    PermissionResultAllow,
    PermissionResultDeny,
    ResultError,
    ResultMessage,
    ToolPermissionContext,
)

from .cli_process import bundled_cli, write_launcher
from .config import Settings
from .confine import ALLOWED_TOOLS, ASK_TOOL, check_tool
from .events import (
    Attachment,
    Failed,
    Notice,
    Question,
    SessionEvent,
)
from .private import private_folder
from .prompt import Message, compose, neutralize
from .spec import SpecTracker, prompts_dir
from .translate import CLI_FAILED, CLI_START_FAILED, TRANSCRIPT_LOST, EventTranslator, parse_question, timed_out

log = logging.getLogger(__name__)

SESSION_TOOLS = sorted(ALLOWED_TOOLS)
MAX_MESSAGE_BYTES = 128 * 2**20


@dataclass(frozen=True)
class SessionSettings:
    """What every session needs from the bot's configuration."""

    model: str
    skill_file: Path
    templates_dir: Path
    max_turns: int
    turn_timeout: float = 600.0  # seconds without any output before a turn is interrupted
    # The launcher that starts the CLI without the bot's secrets (see cli_process);
    # None runs the SDK's default (only for tests of the session alone).
    cli_path: Path | None = None

    @classmethod
    def for_bot(cls, settings: Settings) -> SessionSettings:
        """The bot's sessions: its model and skill, and a CLI launcher in its state folder."""
        launcher = write_launcher(settings.state_dir / "bin", bundled_cli(), settings.cli_niceness)
        return cls(
            model=settings.claude_model,
            skill_file=settings.skill_file,
            templates_dir=settings.templates_dir,
            max_turns=settings.max_turns,
            turn_timeout=settings.turn_timeout_seconds,
            cli_path=launcher,
        )


_END = object()






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
    ) -> None:
        self.project_dir = project_dir.resolve()
        self.settings = settings
        # This conversation's own CLI config folder (transcripts), if it has one.
        self.config_dir = config_dir
        self.tracker = tracker or SpecTracker(self.project_dir)
        self._translator = EventTranslator(self.project_dir, self.tracker, session_id)
        self._jobs: asyncio.Queue[tuple[Message, asyncio.Queue[Any]] | None] = asyncio.Queue()
        self._lifecycle = asyncio.Lock()
        self._worker: asyncio.Task[None] | None = None
        self._client: ClaudeSDKClient | None = None
        self._unanswered: list[Message] = []
        self._in_turn = False
        # AskUserQuestion calls waiting for people: id -> (question, answers so far, future).
        self._asking: dict[str, tuple[Question, dict[str, str], asyncio.Future[dict[str, str] | None]]] = {}
        self._emit: Callable[[SessionEvent], None] | None = None
        self._deadline: asyncio.Timeout | None = None

    # -- public API -------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        """The conversation's id (resumed by the next process), as the CLI last reported it."""
        return self._translator.session_id

    @session_id.setter
    def session_id(self, value: str | None) -> None:
        self._translator.session_id = value

    async def send(self, text: str, attachments: tuple[Attachment, ...] = ()) -> AsyncIterator[SessionEvent]:
        """Send one user message (with any attached images or text files); yield events
        until Claude's turn is over."""
        out: asyncio.Queue[Any] = asyncio.Queue()
        # Under the lock, so a close in progress finishes before a new worker starts.
        async with self._lifecycle:
            if self._worker is None or self._worker.done():
                self._worker = asyncio.create_task(self._work(), name=f"session:{self.project_dir.name}")
            self._jobs.put_nowait((Message(text, attachments), out))
        while (event := await out.get()) is not _END:
            yield event

    @property
    def pending_question(self) -> Question | None:
        """The question Claude is waiting on, if any (answered ones no longer count,
        even before the tool call has resumed)."""
        return next((question for question, _, future in self._asking.values() if not future.done()), None)

    def answer(self, question_id: str, answers: dict[str, str]) -> bool:
        """Answer items of a pending question (keyed by question text).

        Claude continues once every item has an answer. False if nothing new was
        answered: the item already was, or the question is not pending (answered,
        or asked by a process that has ended).
        """
        entry = self._asking.get(question_id)
        if entry is None or entry[2].done():
            return False
        question, collected, future = entry
        filled = False
        for item in question.items:
            if item.question in answers and item.question not in collected:  # first answer wins
                collected[item.question] = neutralize(answers[item.question])
                filled = True
        if all(item.question in collected for item in question.items):
            future.set_result(dict(collected))
        return filled

    async def interrupt(self) -> bool:
        """Stop the turn in progress (from any task); False when Claude isn't answering."""
        client = self._client
        if client is None or not self._in_turn:
            return False
        self._translator.interrupted = True
        for _, _, future in self._asking.values():
            if not future.done():
                future.set_result(None)  # the question is withdrawn with the turn
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
                message, out = job
                try:
                    await self._turn(message, out.put_nowait)
                finally:
                    out.put_nowait(_END)
        finally:
            # Nobody may wait forever on a job this worker will not run.
            while not self._jobs.empty():
                if (job := self._jobs.get_nowait()) is not None:
                    job[1].put_nowait(_END)
            await self._disconnect()

    async def _turn(self, message: Message, emit: Any) -> None:
        # Messages whose turn died with the CLI (or never started) may be missing
        # from the transcript the next process resumes; send them with this one.
        self._unanswered.append(message)
        if self._client is None:
            try:
                self._client = await self._connect_or_start_over(emit)
            except Exception as exc:  # the CLI is missing, broken or refused to start
                log.exception("could not start Claude for %s", self.project_dir)
                emit(Failed(CLI_START_FAILED, detail=repr(exc)))
                return
        self._translator.streamed = ""
        failed = False  # report at most one failure per turn
        loop = asyncio.get_running_loop()
        timeout = self.settings.turn_timeout
        self._in_turn, self._translator.interrupted, self._emit = True, False, emit
        try:
            # The deadline moves with every message: only silence times out.
            async with asyncio.timeout(timeout) as deadline:
                self._deadline = deadline
                await self._client.query(compose(self._unanswered))
                async for sdk_message in self._client.receive_response():
                    deadline.reschedule(loop.time() + timeout)
                    for event in self._translator.translate(sdk_message):
                        if isinstance(event, Failed):
                            if failed:
                                continue
                            failed = True
                        emit(event)
                    if isinstance(sdk_message, ResultMessage):
                        self._unanswered.clear()
                        return
            raise RuntimeError("the Claude CLI ended the turn without a result")
        except TimeoutError:
            log.error("Claude was silent for %.0fs in %s; interrupting", timeout, self.project_dir)
            if await self._interrupt():
                self._unanswered.clear()  # the transcript has the message
            else:
                await self._disconnect()
            emit(Failed(timed_out(timeout), detail="turn timeout"))
        except Exception as exc:
            log.exception("Claude turn failed for %s (session %s)", self.project_dir, self.session_id)
            await self._disconnect()  # the next message reconnects with resume
            if not failed:
                emit(Failed(CLI_FAILED, detail=repr(exc)))
        finally:
            self._in_turn, self._emit, self._deadline = False, None, None

    async def _interrupt(self) -> bool:
        """Interrupt the running turn and wait for its end; False if the CLI did not respond."""
        client = self._client
        if client is None:
            return False
        try:
            async with asyncio.timeout(10):
                await client.interrupt()
                async for message in client.receive_response():
                    if isinstance(message, ResultMessage):
                        self.session_id = message.session_id or self.session_id
                        return True
        except Exception:
            log.warning("interrupt failed for %s", self.project_dir, exc_info=True)
        return False

    async def _connect_or_start_over(self, emit: Any) -> ClaudeSDKClient:
        """Resume the conversation; if its transcript is gone, start a new one and say so."""
        try:
            return await self._connect()
        except ResultError as exc:
            if self.session_id is None or "No conversation found" not in str(exc):
                raise
            log.warning("transcript of session %s is missing; starting over", self.session_id)
            self.session_id = None
            emit(Notice(TRANSCRIPT_LOST))
            return await self._connect()

    async def _connect(self) -> ClaudeSDKClient:
        # The project folder is the CLI's working directory: it must exist first.
        prompts_dir(self.project_dir).mkdir(parents=True, exist_ok=True)
        env: dict[str, str] = {}
        if self.config_dir is not None:
            private_folder(self.config_dir)
            env["CLAUDE_CONFIG_DIR"] = str(self.config_dir)
        options = ClaudeAgentOptions(
            cli_path=self.settings.cli_path,
            env=env,
            system_prompt=self._system_prompt(),
            cwd=str(self.project_dir),
            model=self.settings.model,
            tools=list(SESSION_TOOLS),
            include_partial_messages=True,
            max_turns=self.settings.max_turns,
            resume=self.session_id,
            can_use_tool=self._can_use_tool,
            hooks={"PreToolUse": [HookMatcher(matcher=None, hooks=[self._guard_hook], on_failure="block")]},
            # Ignore user/project settings files: they could add hooks or tools.
            setting_sources=[],
            # Room for oversized tool calls to be parsed, and then refused by our
            # guard, instead of killing the session's message reader.
            max_buffer_size=MAX_MESSAGE_BYTES,
            stderr=lambda line: log.debug("claude[%s]: %s", self.project_dir.name, line),
        )
        client = ClaudeSDKClient(options)
        await client.connect()
        log.info("Claude session started for %s (resume=%s)", self.project_dir, self.session_id)
        return client

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.disconnect()
            except Exception:
                log.warning("error while closing Claude for %s", self.project_dir, exc_info=True)

    def _system_prompt(self) -> str:
        skill = self.settings.skill_file.read_text(encoding="utf-8")
        return skill.replace("$ARGUMENTS", str(self.project_dir)).replace(
            "$TEMPLATES", str(self.settings.templates_dir)
        )

    async def _can_use_tool(
        self, tool_name: str, tool_input: dict[str, Any], context: ToolPermissionContext
    ) -> PermissionResultAllow | PermissionResultDeny:
        """Route questions to people; keep file tools inside the project folder."""
        if tool_name == ASK_TOOL:
            return await self._ask_people(tool_input, context)
        reason = self._refusal(tool_name, tool_input)
        return PermissionResultAllow() if reason is None else PermissionResultDeny(message=reason)

    async def _guard_hook(self, hook_input: HookInput, tool_use_id: str | None, context: HookContext) -> HookJSONOutput:
        """The same check for every tool call, including those the CLI would allow by
        itself (e.g. reads inside its working directory): the boundary is ours."""
        raw: dict[str, Any] = dict(hook_input)
        reason = self._refusal(str(raw.get("tool_name", "")), raw.get("tool_input"))
        if reason is None:
            return {}
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        }

    def _refusal(self, tool_name: str, tool_input: Any) -> str | None:
        reason = check_tool(tool_name, tool_input, self.project_dir, self.settings.templates_dir)
        if reason is not None:
            log.warning("refused %s in %s: %s", tool_name, self.project_dir, reason)
        return reason

    async def _ask_people(
        self, tool_input: dict[str, Any], context: ToolPermissionContext
    ) -> PermissionResultAllow | PermissionResultDeny:
        question = parse_question(context.tool_use_id or f"q{len(self._asking)}", tool_input)
        if question is None or self._emit is None:
            return PermissionResultDeny(message="Ask with 1-4 questions, each with 2-4 options.")
        future: asyncio.Future[dict[str, str] | None] = asyncio.get_running_loop().create_future()
        self._asking[question.id] = (question, {}, future)
        # People take their time: the silence timeout does not run while they decide.
        if self._deadline is not None:
            self._deadline.reschedule(None)
        self._emit(question)
        try:
            answers = await future
        finally:
            del self._asking[question.id]
            if self._deadline is not None:
                self._deadline.reschedule(asyncio.get_running_loop().time() + self.settings.turn_timeout)
        if answers is None:
            return PermissionResultDeny(message="The team stopped this question.", interrupt=True)
        return PermissionResultAllow(updated_input={**tool_input, "answers": answers})
