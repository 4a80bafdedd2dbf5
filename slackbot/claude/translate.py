"""The Agent SDK's messages as the session events the rest of the bot knows.

Keeps what the translation needs across messages: the text streamed so far (the
finished block is the truth), the conversation's id, and whether the turn was
stopped on purpose.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path
from typing import Any

from claude_agent_sdk import (
    AssistantMessage,
    ResultMessage,
    StreamEvent,
    SystemMessage,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)

from ..events import (
    ASK_TOOL,
    Choice,
    Failed,
    FileWritten,
    Notice,
    OverBudget,
    Question,
    QuestionItem,
    SessionEvent,
    SpecComplete,
    TextDelta,
    TextDone,
    ToolActivity,
    ToolFailed,
    ToolStarting,
    TurnDone,
)
from ..spec.files import SpecTracker
from .cli_options import OVER_BUDGET

log = logging.getLogger(__name__)

_MODEL_ERRORS = {
    "authentication_failed": "Claude rejected the bot's API credentials; an admin needs to check the key.",
    "billing_error": "Claude's account has a billing problem; an admin needs to check it.",
    "rate_limit": "Claude is rate-limited right now. Wait a minute, then reply here to try again.",
    "server_error": "Claude's service had an error. Reply here to try again.",
    "invalid_request": "Claude couldn't process that message. Try rephrasing your reply.",
}
_GENERIC_MODEL_ERROR = "Claude hit an error answering that. Reply here to try again."
_STOPPED = "Stopped. Reply here when you're ready to go on."
OVERLOADED = 529  # Claude's service is overloaded for the moment (the API's own status code)
_FINISHED = frozenset({"end_turn", "stop_sequence"})  # the answer was whole when the limit was reached

CLI_FAILED = "The Claude process stopped unexpectedly. Reply here to pick up where we left off."
TRANSCRIPT_LOST = (
    "I couldn't find the earlier part of this conversation, so Claude starts afresh here; "
    "files already in the project folder are kept."
)
CLI_START_FAILED = (
    "I couldn't start Claude for this interview. Reply here to try again, or ask an admin to check the bot's logs."
)


def timed_out(seconds: float) -> str:
    count, unit = (round(seconds / 60), "minute") if seconds >= 90 else (round(seconds), "second")
    span = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"Claude went quiet for {span}, so I stopped this turn. Reply here to continue."


class EventTranslator:
    def __init__(self, project_dir: Path, tracker: SpecTracker, session_id: str | None) -> None:
        self.project_dir = project_dir
        self.tracker = tracker
        self.session_id = session_id
        self.streamed = ""  # text streamed as deltas since the last finished text block
        self.interrupted = False  # the turn was stopped on purpose (Stop), not failed
        self.refused: set[str] = set()  # tool calls the confinement policy refused
        # A model error, said with the result that follows it: only the result has the HTTP status.
        self.failure: Failed | None = None

    def translate(self, message: Any) -> list[SessionEvent]:
        if isinstance(message, StreamEvent):
            return self._translate_stream(message)
        if isinstance(message, SystemMessage):
            if message.subtype == "init":
                self.session_id = message.data.get("session_id", self.session_id)
            return []
        if isinstance(message, AssistantMessage):
            return self._translate_assistant(message)
        if isinstance(message, UserMessage):
            return self._translate_tool_results(message)
        if isinstance(message, ResultMessage):
            return self._translate_result(message)
        return []

    def _translate_stream(self, message: StreamEvent) -> list[SessionEvent]:
        event = message.event
        block = event.get("content_block") or {}
        if message.parent_tool_use_id is None and event.get("type") == "content_block_start" and (
            block.get("type") == "tool_use"
        ):
            return [ToolStarting(str(block.get("name") or ""))]
        if message.parent_tool_use_id is not None or event.get("type") != "content_block_delta":
            return []
        delta = event.get("delta", {})
        if delta.get("type") != "text_delta" or not delta.get("text"):
            return []
        self.streamed += delta["text"]
        return [TextDelta(delta["text"])]

    def _translate_assistant(self, message: AssistantMessage) -> list[SessionEvent]:
        if message.parent_tool_use_id is not None:
            return []
        if message.error is not None:
            # The CLI's synthetic error text ("API Error: 500 …") is for logs, not people.
            log.error("model error in %s: %s %s", self.project_dir, message.error, message.content)
            self.streamed = ""
            self.failure = Failed(_MODEL_ERRORS.get(message.error, _GENERIC_MODEL_ERROR), detail=message.error)
            return []
        events: list[SessionEvent] = []
        for block in message.content:
            if isinstance(block, TextBlock) and block.text:
                # Deltas are the fast path; the finished block is the truth.
                # Send whatever the deltas missed so the thread ends up exact.
                if block.text.startswith(self.streamed):
                    missing = block.text[len(self.streamed) :]
                    if missing:
                        events.append(TextDelta(missing))
                else:
                    log.warning("streamed text diverged from the final block in %s", self.project_dir)
                self.streamed = ""
                events.append(TextDone(block.text))
            elif isinstance(block, ToolUseBlock):
                self.tracker.tool_called(block.id, block.name, block.input)
                events.append(ToolActivity(block.name, describe_tool(block.name, block.input), block.id))
        return events

    def _translate_tool_results(self, message: UserMessage) -> list[SessionEvent]:
        if isinstance(message.content, str):
            return []
        events: list[SessionEvent] = []
        for block in message.content:
            if isinstance(block, ToolResultBlock):
                path = self.tracker.tool_finished(block.tool_use_id, bool(block.is_error))
                if path is not None:
                    events.append(FileWritten(path))
                if block.is_error:
                    refused = block.tool_use_id in self.refused
                    self.refused.discard(block.tool_use_id)
                    why = tool_failure(_result_text(block.content), self.project_dir)
                    events.append(ToolFailed(block.tool_use_id, f"{'Refused' if refused else 'Failed'}: {why}"))
        return events

    def _translate_result(self, message: ResultMessage) -> list[SessionEvent]:
        self.session_id = message.session_id or self.session_id
        events: list[SessionEvent] = []
        failure, self.failure = self.failure, None
        if self.interrupted:
            events.append(Notice(_STOPPED))
        elif message.subtype == OVER_BUDGET:
            # Not an error for people: the bot, which knows the budgets, says why it paused.
            log.info("spend limit reached in %s (stop reason %s)", self.project_dir, message.stop_reason)
            if message.stop_reason not in _FINISHED:  # None: no model call was made
                events.append(OverBudget(reached=message.stop_reason is not None))
        elif failure is not None:
            events.append(dataclasses.replace(failure, overloaded=message.api_error_status == OVERLOADED))
        elif message.is_error:
            log.error(
                "Claude turn ended in error for %s: subtype=%s status=%s errors=%s",
                self.project_dir, message.subtype, message.api_error_status, message.errors,
            )
            events.append(Failed(_GENERIC_MODEL_ERROR, detail=f"{message.subtype}: {message.errors}"))
        files = self.tracker.take_completion()
        if files is not None:
            events.append(SpecComplete(self.project_dir, files))
        events.append(turn_done(message))
        return events


def turn_done(message: ResultMessage) -> TurnDone:
    """What a result says the turn cost: the running total, and this turn's tokens."""
    usage = message.usage or {}
    return TurnDone(
        message.session_id, message.total_cost_usd, message.num_turns,
        input_tokens=sum(
            int(usage.get(key) or 0)
            for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        ),
        output_tokens=int(usage.get("output_tokens") or 0),
    )


def parse_question(question_id: str, tool_input: dict[str, Any]) -> Question | None:
    try:
        items = tuple(
            QuestionItem(
                question=str(raw["question"]),
                header=str(raw.get("header") or ""),
                options=tuple(
                    Choice(str(option["label"]), str(option.get("description") or ""))
                    for option in raw["options"]
                ),
                multi_select=bool(raw.get("multiSelect")),
            )
            for raw in tool_input["questions"]
        )
    except (KeyError, TypeError):
        return None
    if not 1 <= len(items) <= 4 or any(not 1 <= len(i.options) <= 10 for i in items):
        return None
    return Question(question_id, items)


def describe_tool(tool: str, tool_input: dict[str, Any]) -> str:
    if tool == ASK_TOOL:
        return "Preparing a question"
    target = Path(str(tool_input.get("file_path") or tool_input.get("pattern") or "")).name
    verbs = {"Read": "Reading", "Write": "Writing", "Edit": "Editing", "Glob": "Looking for"}
    return f"{verbs.get(tool, 'Using ' + tool)} {target}".strip()


_TOOL_ERROR_TAG = re.compile(r"</?tool_use_error>")
_HOOK_PREFIX = re.compile(r"^\w+:\w+ hook error:\s*", re.IGNORECASE)  # the CLI's, on a hook's denial


def _result_text(content: Any) -> str:
    """A tool result's text: a string, or the text blocks of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return ""


def tool_failure(text: str, project_dir: Path) -> str:
    """Why a tool call failed, for a task card: its first line, the project's paths made
    relative (people know the project, not where the bot keeps it), first letter lowered."""
    line = _HOOK_PREFIX.sub("", _TOOL_ERROR_TAG.sub("", text).strip().split("\n", 1)[0].strip())
    for folder in {str(project_dir.resolve()), str(project_dir)}:
        line = line.replace(folder.rstrip("/") + "/", "")
    if not line:
        return "no reason given"
    return line[0].lower() + line[1:] if line[1:2].islower() else line
