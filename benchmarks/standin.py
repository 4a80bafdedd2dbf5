"""A scripted stand-in for the `claude` CLI, in the bot's own process.

`StandIn` is an Agent SDK `Transport`: the SDK speaks its control protocol to it exactly
as to the CLI's stdin/stdout (the initialize handshake, hook and permission requests,
interrupts, model switches), and it answers every user message the way the CLI reports
a turn: a `system/init`, partial stream events (text deltas at `rate` tokens a second),
one assistant message per content block, and a `result` with usage and running cost.
Its transcript goes where the CLI keeps it (`CLAUDE_CONFIG_DIR/projects/...`) and is
mirrored to the SDK's session store as `transcript_mirror` frames, so the bot's
transcript path costs what it costs with the CLI.

The script of every conversation: each of its first `turns` messages gets a question;
the next gets the two spec files written with the `Write` tool (asked of the bot's
PreToolUse hook and `can_use_tool` first, as the CLI does, and written into the project
folder only if both allow it), then a closing line. No process per interview: the bot
runs it through `NEWSPEC_CLAUDE_TRANSPORT=benchmarks.standin:make_transport`.

Settings (environment, read when a conversation starts):
  NEWSPEC_STANDIN_TURNS   questions before the spec is written (default 3)
  NEWSPEC_STANDIN_TOKENS  tokens per answer (default 150)
  NEWSPEC_STANDIN_RATE    tokens a second (default 50)
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_agent_sdk import ClaudeAgentOptions, project_key_for_directory
from claude_agent_sdk._internal.transport import Transport

from slackbot.interview.wording import CUT_OFF

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / ".claude" / "templates"
FEATURES = 8  # the feature count the written prompt states (the example spec has 8)
PRICE_IN, PRICE_OUT = 3e-6, 15e-6  # USD per token, only so results carry a plausible cost
DONE_TEXT = "Both files are written: 8 features in 3 categories."


@dataclass(frozen=True)
class Script:
    turns: int = 3
    tokens: int = 150
    rate: float = 50.0

    @classmethod
    def from_env(cls) -> Script:
        env = os.environ
        return cls(
            int(env.get("NEWSPEC_STANDIN_TURNS", cls.turns)), int(env.get("NEWSPEC_STANDIN_TOKENS", cls.tokens)),
            float(env.get("NEWSPEC_STANDIN_RATE", cls.rate)),
        )


def make_transport(options: ClaudeAgentOptions) -> Transport:
    """The factory the bot's seam imports (slackbot/claude/transport.py)."""
    return StandIn(options, Script.from_env())


def spec_text(name: str) -> str:
    example = (TEMPLATES / "app_spec_example.txt").read_text()
    start, end = example.index("<project_name>") + len("<project_name>"), example.index("</project_name>")
    return example[:start] + name + example[end:]


def prompt_text(name: str) -> str:
    template = (TEMPLATES / "initializer_prompt.md").read_text()
    return template.replace("{{PROJECT_NAME}}", name).replace("{{FEATURE_COUNT}}", str(FEATURES))


def answer(project: str, turn: int, tokens: int) -> list[str]:
    """One answer as tokens, ending in a question; the first names the project."""
    words = [f"{project}-t{turn}-{i:04d} " for i in range(max(1, tokens - 1))]
    return [f"Let's spec **{project}**. " if turn == 0 else "", *words, "What next?"]


class StandIn(Transport):
    def __init__(self, options: ClaudeAgentOptions, script: Script) -> None:
        self.options, self.script = options, script
        self.cwd = Path(str(options.cwd))
        self.session_id = options.resume or str(uuid.uuid4())
        config = (options.env or {}).get("CLAUDE_CONFIG_DIR")
        self.transcript = (
            Path(config) / "projects" / project_key_for_directory(str(self.cwd)) / f"{self.session_id}.jsonl"
            if config else None
        )
        self._out: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._answers: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._turns: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._turn: asyncio.Task[None] | None = None
        self._hooks: list[str] = []  # PreToolUse callback ids from initialize
        self._ready = False
        self._last_uuid: str | None = None
        self.total_cost = self._saved_total()
        self.messages = self._saved_messages()  # user messages this conversation had

    # -- Transport --------------------------------------------------------

    async def connect(self) -> None:
        self._ready = True
        self._worker = asyncio.create_task(self._work())

    async def write(self, data: str) -> None:
        for line in data.splitlines():
            if line.strip():
                self._take(json.loads(line))

    async def read_messages(self) -> AsyncIterator[dict[str, Any]]:
        while (message := await self._out.get()) is not None:
            yield message

    async def close(self) -> None:
        if not self._ready:
            return
        self._ready = False
        for task in (self._turn, self._worker):
            if task is not None:
                task.cancel()
        self._append({"type": "cost-state", "totalCostUSD": self.total_cost}, mirror=False)
        self._out.put_nowait(None)

    def is_ready(self) -> bool:
        return self._ready

    async def end_input(self) -> None:
        pass

    # -- what the SDK sends -----------------------------------------------

    def _take(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "control_request":
            self._control(message["request_id"], message["request"])
        elif kind == "control_response":
            response = message["response"]
            future = self._answers.pop(response.get("request_id"), None)
            if future is not None and not future.done():
                future.set_result(response)
        elif kind == "user":
            self._turns.put_nowait(message)

    def _control(self, request_id: str, request: dict[str, Any]) -> None:
        subtype = request.get("subtype")
        body: dict[str, Any] = {}
        if subtype == "initialize":
            for matcher in (request.get("hooks") or {}).get("PreToolUse", []):
                self._hooks += matcher.get("hookCallbackIds", [])
            body = {"commands": [], "models": [], "hook_on_failure_supported": True, "hooks_applied": True}
        elif subtype == "interrupt" and self._turn is not None and not self._turn.done():
            self._turn.cancel()
        self._send({"type": "control_response",
                     "response": {"subtype": "success", "request_id": request_id, "response": body}})

    async def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """A control request to the SDK; its answer (the CLI waits the same way)."""
        request_id = f"standin_{uuid.uuid4().hex[:12]}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._answers[request_id] = future
        self._send({"type": "control_request", "request_id": request_id, "request": request})
        response = await future
        if response.get("subtype") == "error":
            raise RuntimeError(str(response.get("error")))
        return dict(response.get("response") or {})

    # -- turns ---------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            message = await self._turns.get()
            self._turn = asyncio.create_task(self._answer(message))
            try:
                await self._turn
            except asyncio.CancelledError:
                if not self._ready:
                    raise
                self._result(time.monotonic(), 0, 0, "error_during_execution", "[Request interrupted by user]")

    async def _answer(self, message: dict[str, Any]) -> None:
        started = time.monotonic()
        if _carries_on(message):  # the bot's note after a turn was cut off: that turn's answer again
            turn = max(0, self.messages - 1)
        else:
            turn = self.messages
            self.messages += 1
        self._send({"type": "system", "subtype": "init", "session_id": self.session_id, "cwd": str(self.cwd),
                    "model": self.options.model, "tools": list(self.options.tools or []), "uuid": _uuid()})
        self._append({"type": "user", "uuid": message.get("uuid") or _uuid(), "message": message["message"]})
        if turn < self.script.turns:
            out = await self._say(answer(self.cwd.name, turn, self.script.tokens))
            calls = 1
        else:
            out, calls = 0, 0
            for name, text in (("app_spec.txt", spec_text(self.cwd.name)), ("initializer_prompt.md",
                                                                           prompt_text(self.cwd.name))):
                out += await self._write(self.cwd / "prompts" / name, text)
                calls += 1
            out += await self._say([DONE_TEXT])
            calls += 1
        self._result(started, calls * 2000, out, "success", DONE_TEXT)

    async def _say(self, tokens: list[str]) -> int:
        """One model call that answers in text, streamed token by token."""
        message_id = self._start_message()
        self._event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        pause = 1 / self.script.rate
        for token in tokens:
            if token:
                self._event({"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": token}})
                await asyncio.sleep(pause)
        self._event({"type": "content_block_stop", "index": 0})
        self._end_message(message_id, [{"type": "text", "text": "".join(tokens)}], len(tokens))
        return len(tokens)

    async def _write(self, path: Path, content: str) -> int:
        """One model call that writes a file with the Write tool, as the CLI runs it."""
        tool_id = f"toolu_{uuid.uuid4().hex[:20]}"
        tool_input = {"file_path": str(path), "content": content}
        message_id = self._start_message()
        self._event({"type": "content_block_start", "index": 0,
                     "content_block": {"type": "tool_use", "id": tool_id, "name": "Write", "input": {}}})
        self._event({"type": "content_block_delta", "index": 0,
                     "delta": {"type": "input_json_delta", "partial_json": json.dumps(tool_input)}})
        self._event({"type": "content_block_stop", "index": 0})
        tokens = len(content) // 4
        block = {"type": "tool_use", "id": tool_id, "name": "Write", "input": tool_input}
        self._end_message(message_id, [block], tokens, stop="tool_use")
        refusal = await self._permission(tool_id, tool_input)
        if refusal is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        text = refusal or f"File created successfully at: {path}"
        result = {"type": "tool_result", "tool_use_id": tool_id, "content": text, "is_error": refusal is not None}
        user = {"type": "user", "message": {"role": "user", "content": [result]}, "parent_tool_use_id": None,
                "session_id": self.session_id, "uuid": _uuid(), "tool_use_result": {"type": "create",
                                                                                     "filePath": str(path)}}
        self._send(user)
        self._append({"type": "user", "uuid": user["uuid"], "message": user["message"]})
        return tokens

    async def _permission(self, tool_id: str, tool_input: dict[str, Any]) -> str | None:
        """The PreToolUse hooks, then `can_use_tool`: why the call is refused, or None."""
        for callback in self._hooks:
            hook = await self._ask({"subtype": "hook_callback", "callback_id": callback, "tool_use_id": tool_id,
                                    "input": {"hook_event_name": "PreToolUse", "session_id": self.session_id,
                                              "cwd": str(self.cwd), "tool_name": "Write", "tool_input": tool_input,
                                              "tool_use_id": tool_id, "permission_mode": "default"}})
            decision = (hook.get("hookSpecificOutput") or {})
            if decision.get("permissionDecision") == "deny":
                return f"PreToolUse:Write hook error: {decision.get('permissionDecisionReason')}"
        allowed = await self._ask({"subtype": "can_use_tool", "tool_name": "Write", "input": tool_input,
                                   "tool_use_id": tool_id, "permission_suggestions": []})
        if allowed.get("behavior") != "allow":
            return str(allowed.get("message") or "denied")
        tool_input.update(allowed.get("updatedInput") or {})
        return None

    # -- what the SDK receives ----------------------------------------------

    def _start_message(self) -> str:
        message_id = f"msg_{uuid.uuid4().hex[:20]}"
        self._event({"type": "message_start", "message": {"id": message_id, "type": "message", "role": "assistant",
                                                          "model": self.options.model, "content": [],
                                                          "usage": {"input_tokens": 2000, "output_tokens": 1}}})
        return message_id

    def _end_message(self, message_id: str, content: list[dict[str, Any]], tokens: int, stop: str = "end_turn") -> None:
        self._event({"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": tokens}})
        self._event({"type": "message_stop"})
        for block in content:  # the CLI reports each content block as an assistant message of its own
            body = {"id": message_id, "type": "message", "role": "assistant", "model": self.options.model,
                    "content": [block], "stop_reason": stop, "usage": {"input_tokens": 2000, "output_tokens": tokens}}
            entry = {"type": "assistant", "message": body, "parent_tool_use_id": None,
                     "session_id": self.session_id, "uuid": _uuid()}
            self._send(entry)
            self._append({"type": "assistant", "uuid": entry["uuid"], "message": body})

    def _result(self, started: float, tokens_in: int, tokens_out: int, subtype: str, text: str) -> None:
        self.total_cost += tokens_in * PRICE_IN + tokens_out * PRICE_OUT
        elapsed = int((time.monotonic() - started) * 1000)
        self._send({"type": "result", "subtype": subtype, "is_error": subtype != "success",
                    "duration_ms": elapsed, "duration_api_ms": elapsed, "num_turns": 1, "result": text,
                    "session_id": self.session_id, "total_cost_usd": self.total_cost, "stop_reason": "end_turn",
                    "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out}, "uuid": _uuid()})

    def _event(self, event: dict[str, Any]) -> None:
        self._send({"type": "stream_event", "uuid": _uuid(), "session_id": self.session_id, "event": event,
                    "parent_tool_use_id": None})

    def _send(self, message: dict[str, Any]) -> None:
        if self._ready:
            self._out.put_nowait(message)

    # -- the transcript, on disk and mirrored ---------------------------------

    def _append(self, entry: dict[str, Any], *, mirror: bool = True) -> None:
        if self.transcript is None:
            return
        entry = {**entry, "sessionId": self.session_id, "cwd": str(self.cwd), "parentUuid": self._last_uuid,
                 "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self._last_uuid = entry.get("uuid") or self._last_uuid
        self.transcript.parent.mkdir(parents=True, exist_ok=True)
        with self.transcript.open("a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")
        if mirror:
            self._send({"type": "transcript_mirror", "filePath": str(self.transcript), "entries": [entry]})

    def _entries(self) -> list[dict[str, Any]]:
        if self.transcript is None or not self.transcript.is_file():
            return []
        return [json.loads(line) for line in self.transcript.read_text().splitlines() if line.strip()]

    def _saved_total(self) -> float:
        return next((float(e["totalCostUSD"]) for e in reversed(self._entries()) if e.get("type") == "cost-state"),
                    0.0)

    def _saved_messages(self) -> int:
        """User messages (not tool results, nor the bot's note to carry on) the conversation
        had: where its script stands."""
        return sum(1 for e in self._entries() if e.get("type") == "user" and not _carries_on(e)
                   and not any(isinstance(b, dict) and b.get("type") == "tool_result"
                               for b in (e.get("message") or {}).get("content") or []))


def _carries_on(message: dict[str, Any]) -> bool:
    """Whether a user message is the bot's note that the last turn was cut off (a replica or
    process stopped mid-answer): Claude answers that turn again rather than the next."""
    content = (message.get("message") or {}).get("content")
    texts = [content] if isinstance(content, str) else [
        b.get("text", "") for b in content or [] if isinstance(b, dict) and b.get("type") == "text"]
    return any(CUT_OFF in text for text in texts)


def _uuid() -> str:
    return str(uuid.uuid4())
