"""A scripted fake of the Anthropic Messages API for driving the real `claude` CLI.

The bundled CLI (spawned by ``claude_agent_sdk``) is pointed at this server via
``ANTHROPIC_BASE_URL`` (see :func:`cli_env`). The CLI really executes the tool
calls we script (Write/Edit/Read/Glob...), so files really land on disk.

Usage::

    async with FakeAnthropic() as fake:
        fake.script(str(project_dir), [
            text("Hi! What should the app do?"),
            tool("Write", {"file_path": f"{project_dir}/prompts/app_spec.txt",
                           "content": "spec"}, text_before="Writing the spec…"),
            text("Done."),
        ])
        options = ClaudeAgentOptions(cwd=project_dir, system_prompt=f"... {project_dir} ...",
                                     env=cli_env(fake.base_url, tmp_path), ...)
        ...
        fake.verify()  # no step raised, nothing unscripted, every step used

(``claude_agent_sdk`` also exports a ``tool``: import this module's by module or alias.)

Routing: a *main* request (one that carries ``tools``) is matched to the script
key that occurs in its system prompt (longest key wins; the CLI's environment
message, which names the working directory, is searched as a fallback) and is
answered with that key's next step. Requests without tools (titles, summaries,
quota probes) are *utility* requests: answered with short text, recorded apart,
never consuming a script step.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeAlias

from aiohttp import web

log = logging.getLogger(__name__)

NO_MORE_SCRIPT = "(no more script)"
UTILITY_REPLY = "OK"
COMPACT_SUMMARY = "<summary>(fake summary of the conversation so far)</summary>"
# Start of the instruction the CLI appends when it asks for a compaction summary.
_COMPACT_MARKER = "Respond with TEXT ONLY. Do NOT call any tools."

# Proxy variables must be absent from the test process environment: the SDK
# passes os.environ through to the CLI, and a proxy would swallow loopback calls.
PROXY_VARS = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


# --------------------------------------------------------------------------- steps


@dataclass
class ToolUse:
    """One ``tool_use`` block; ``id`` is generated so tests can match results."""

    name: str
    input: dict[str, Any]
    id: str = field(default_factory=lambda: f"toolu_{uuid.uuid4().hex[:24]}")


Part: TypeAlias = "str | ToolUse"


@dataclass
class Turn:
    """One assistant message: text and/or tool_use blocks.

    ``chunk_size``/``delay`` split text into several ``text_delta`` events with a
    pause between them, so partial streaming can be observed.
    """

    parts: list[Part]
    stop_reason: str | None = None  # default: tool_use if any ToolUse, else end_turn
    chunk_size: int | None = None
    delay: float = 0.0
    usage: tuple[int, int] | None = None  # (input, output) tokens to report instead of estimates

    @property
    def tool_uses(self) -> list[ToolUse]:
        return [p for p in self.parts if isinstance(p, ToolUse)]

    @property
    def tool_ids(self) -> list[str]:
        return [p.id for p in self.tool_uses]

    @property
    def effective_stop_reason(self) -> str:
        if self.stop_reason:
            return self.stop_reason
        return "tool_use" if self.tool_uses else "end_turn"


@dataclass
class ApiError:
    """An HTTP error answer in Anthropic's shape.

    With ``mid_stream=True`` (streaming requests only) the stream starts normally
    and then carries an SSE ``error`` event, as the real API does on overload.
    """

    status: int = 500
    type: str = "api_error"
    message: str = "boom"
    headers: dict[str, str] = field(default_factory=dict)
    mid_stream: bool = False
    # Answer this many consecutive requests with the error. Even with
    # CLAUDE_CODE_MAX_RETRIES=0 the CLI retries some errors itself: a 400 up to
    # 5 times (dropping beta headers), a mid-stream error once without streaming.
    # 429/500/529 are not retried.
    times: int = 1

    def body(self) -> dict[str, Any]:
        return {"type": "error", "error": {"type": self.type, "message": self.message}}


Reply: TypeAlias = "Turn | ApiError"
# A step is a reply, or a (sync or async) function computing it from the request.
Step: TypeAlias = "Reply | Callable[[ModelRequest], Reply | Awaitable[Reply]]"


def text(content: str, *, chunk_size: int | None = None, delay: float = 0.0) -> Turn:
    """An assistant turn with one text block (stop_reason ``end_turn``)."""
    return Turn([content], chunk_size=chunk_size, delay=delay)


def tool(
    name: str,
    input: dict[str, Any],
    *,
    text_before: str | None = None,
    id: str | None = None,
    chunk_size: int | None = None,
    delay: float = 0.0,
) -> Turn:
    """A turn with an optional text block then one tool call (stop_reason ``tool_use``)."""
    use = ToolUse(name, input) if id is None else ToolUse(name, input, id)
    parts: list[Part] = [text_before, use] if text_before else [use]
    return Turn(parts, chunk_size=chunk_size, delay=delay)


def turn(*parts: Part, stop_reason: str | None = None) -> Turn:
    """A turn with any mix of text (``str``) and :class:`ToolUse` parts, e.g. parallel calls."""
    return Turn(list(parts), stop_reason=stop_reason)


def error(
    status: int = 500, type: str = "api_error", message: str = "boom", *, times: int = 1
) -> ApiError:
    return ApiError(status=status, type=type, message=message, times=times)


def overloaded(message: str = "Overloaded", *, mid_stream: bool = False) -> ApiError:
    return ApiError(status=529, type="overloaded_error", message=message, mid_stream=mid_stream)


def rate_limited(message: str = "Rate limited", retry_after: int = 1) -> ApiError:
    return ApiError(
        status=429,
        type="rate_limit_error",
        message=message,
        headers={"retry-after": str(retry_after)},
    )


# ------------------------------------------------------------------------ requests


@dataclass
class ToolResult:
    tool_use_id: str
    content_text: str
    is_error: bool

    def __getitem__(self, key: str) -> Any:  # also readable as a mapping
        return getattr(self, key)


def _text_of(content: Any) -> str:
    """Concatenate the text of a content value (string or list of blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


@dataclass(repr=False)  # bodies are huge (system prompt, tool schemas)
class ModelRequest:
    """One request the CLI sent to ``/v1/messages``.

    ``body`` is the parsed JSON; ``req["messages"]`` reads it like the dict.
    """

    body: dict[str, Any]
    path: str
    headers: dict[str, str]
    key: str | None = None  # the script key it was routed to, if any

    def __repr__(self) -> str:
        return (
            f"ModelRequest(key={self.key!r}, messages={len(self.messages)}, "
            f"last_user_text={self.last_user_text[:80]!r})"
        )

    def __getitem__(self, key: str) -> Any:
        return self.body[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.body.get(key, default)

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def model(self) -> str:
        return str(self.body.get("model", "claude-fake"))

    @property
    def has_tools(self) -> bool:
        return bool(self.body.get("tools"))

    @property
    def tool_names(self) -> list[str]:
        return [t.get("name", "") for t in self.body.get("tools") or []]

    @property
    def system_text(self) -> str:
        system = self.body.get("system")
        if isinstance(system, list):
            return "\n".join(_text_of([b]) for b in system)
        return system or ""

    @property
    def context_text(self) -> str:
        """System prompt plus the CLI's ``role: "system"`` messages (environment
        info: working directory etc.), used as a routing fallback."""
        extra = [_text_of(m.get("content")) for m in self.messages if m.get("role") == "system"]
        return "\n".join([self.system_text, *extra])

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def last_user_message(self) -> dict[str, Any] | None:
        return next((m for m in reversed(self.messages) if m.get("role") == "user"), None)

    @property
    def last_user_text(self) -> str:
        msg = self.last_user_message
        return _text_of(msg.get("content")) if msg else ""

    @property
    def tool_results(self) -> list[ToolResult]:
        msg = self.last_user_message
        content = msg.get("content") if msg else None
        if not isinstance(content, list):
            return []
        return [
            ToolResult(
                tool_use_id=b.get("tool_use_id", ""),
                content_text=_text_of(b.get("content")),
                is_error=bool(b.get("is_error", False)),
            )
            for b in content
            if isinstance(b, dict) and b.get("type") == "tool_result"
        ]


# -------------------------------------------------------------------------- server


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _chunks(s: str, size: int | None) -> list[str]:
    if not size or size <= 0 or len(s) <= size:
        return [s]
    return [s[i : i + size] for i in range(0, len(s), size)]


def _estimate_tokens(body: Any) -> int:
    # Rough but stable: the CLI only uses it for context accounting.
    return max(1, len(json.dumps(body)) // 4)


class FakeAnthropic:
    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []  # main conversation requests
        self.usage_sent: list[dict[str, Any]] = []  # usage reported for each main request
        self.emitted: list[tuple[str | None, str, float]] = []  # (script key, text delta, time.time())
        self.utility_requests: list[ModelRequest] = []
        self.unscripted: list[ModelRequest] = []  # main requests no step answered
        self.step_errors: list[Exception] = []  # exceptions raised by callable steps
        self.other_requests: list[tuple[str, str]] = []  # (method, path_qs), unknown paths
        self._scripts: dict[str, list[Step]] = {}
        self._changed = asyncio.Condition()
        self._msg_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        # Connectivity probe the CLI makes unless nonessential traffic is disabled.
        app.router.add_route("*", "/api/hello", self._hello)
        app.router.add_route("*", "/{tail:.*}", self._other)
        # shutdown_timeout small: the CLI may keep keep-alive connections open.
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeAnthropic:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        assert self._port is not None, "call start() first"
        return f"http://127.0.0.1:{self._port}"

    # -- scripting

    def script(self, key: str, steps: Sequence[Step]) -> None:
        """Queue steps for the conversation whose system prompt contains ``key``.

        Calling again with the same key appends to its queue.
        """
        self._scripts.setdefault(key, []).extend(steps)

    def verify(self, *, all_used: bool = True) -> None:
        """Fail if a step raised, a main request went unscripted, or (with
        ``all_used``) scripted steps were never consumed."""
        problems: list[str] = []
        if self.step_errors:
            problems.append(f"script steps raised: {self.step_errors!r}")
        if self.unscripted:
            problems.append(f"unscripted requests: {self.unscripted!r}")
        left = {k: len(v) for k, v in self._scripts.items() if v}
        if all_used and left:
            problems.append(f"unused steps per key: {left}")
        if problems:
            cause = self.step_errors[0] if self.step_errors else None
            raise AssertionError("; ".join(problems)) from cause

    def remaining(self, key: str) -> int:
        return len(self._scripts.get(key, []))

    def requests_for(self, key: str) -> list[ModelRequest]:
        return [r for r in self.requests if r.key == key]

    async def wait_for_requests(
        self, n: int, *, key: str | None = None, timeout: float = 10.0
    ) -> list[ModelRequest]:
        """Wait until at least ``n`` main requests (for ``key``, if given) arrived."""

        def pick() -> list[ModelRequest]:
            return self.requests if key is None else self.requests_for(key)

        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(lambda: len(pick()) >= n), timeout)
        except TimeoutError:
            got = len(pick())
            raise TimeoutError(f"expected {n} main requests (key={key!r}), got {got}") from None
        return pick()

    # -- handlers

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        req = ModelRequest(body=body, path=request.path_qs, headers=dict(request.headers))
        if self._is_utility(req):
            self.utility_requests.append(req)
            await self._notify()
            return await self._send(request, req, self._utility_reply(req))

        req.key = self._route(req)
        # Pop synchronously (no await before it) so concurrent requests never race.
        steps = self._scripts.get(req.key or "", [])
        step: Step | None = steps.pop(0) if steps else None
        if isinstance(step, ApiError) and step.times > 1:
            steps.insert(0, replace(step, times=step.times - 1))
        self.requests.append(req)
        await self._notify()

        if step is None:
            log.warning(
                "fake anthropic: unscripted request (key=%r): %r", req.key, req.last_user_text[:200]
            )
            self.unscripted.append(req)
            return await self._send(request, req, text(NO_MORE_SCRIPT))

        try:
            reply = step(req) if callable(step) else step
            if inspect.isawaitable(reply):
                reply = await reply
            if not isinstance(reply, Turn | ApiError):
                raise TypeError(f"script step returned {reply!r}, not a Turn or ApiError")
        except Exception as exc:
            # An assertion inside a step would otherwise only reach the test as
            # an opaque "API Error: 500"; keep it for verify().
            log.exception("fake anthropic: script step raised")
            self.step_errors.append(exc)
            reply = error(500, "api_error", f"fake script step raised {exc!r}")
        return await self._send(request, req, reply)

    def _route(self, req: ModelRequest) -> str | None:
        # Longest match wins, so key ".../app" never steals ".../app2"'s requests.
        for haystack in (req.system_text, req.context_text):
            found = [k for k in self._scripts if k in haystack]
            if found:
                return max(found, key=len)
        return None

    @staticmethod
    def _is_utility(req: ModelRequest) -> bool:
        # The main agent loop always sends its tool list; titles and quota probes
        # (max_tokens 1) don't. Compaction does send tools (to reuse the prompt
        # cache) but is recognisable by its instruction.
        return (
            not req.has_tools
            or req.body.get("max_tokens") == 1
            or _COMPACT_MARKER in req.last_user_text
        )

    @staticmethod
    def _utility_reply(req: ModelRequest) -> Turn:
        if _COMPACT_MARKER in req.last_user_text:
            return text(COMPACT_SUMMARY)
        return text(UTILITY_REPLY)

    async def _count_tokens(self, request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"input_tokens": _estimate_tokens(body)})

    async def _hello(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def _other(self, request: web.Request) -> web.Response:
        log.warning("fake anthropic: unhandled %s %s", request.method, request.path_qs)
        self.other_requests.append((request.method, request.path_qs))
        return web.json_response(
            {"type": "error", "error": {"type": "not_found_error", "message": "not found"}},
            status=404,
        )

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- responses

    async def _send(
        self, request: web.Request, req: ModelRequest, reply: Reply
    ) -> web.StreamResponse:
        if isinstance(reply, ApiError) and not (reply.mid_stream and req.stream):
            return web.json_response(
                reply.body(),
                status=reply.status,
                headers={"request-id": f"req_fake_{uuid.uuid4().hex[:12]}", **reply.headers},
            )
        if req.stream:
            return await self._stream(request, req, reply)
        assert isinstance(reply, Turn)
        return web.json_response(self._message_json(req, reply))

    def _usage(self, req: ModelRequest, output_tokens: int, fixed: tuple[int, int] | None = None) -> dict[str, Any]:
        usage = {
            "input_tokens": fixed[0] if fixed else _estimate_tokens(req.body.get("messages")),
            "output_tokens": fixed[1] if fixed else output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        if any(r is req for r in self.requests):  # main requests only: what a test can hold the bot's totals to
            self.usage_sent.append(usage)
        return usage

    def _message_json(self, req: ModelRequest, reply: Turn) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for part in reply.parts:
            if isinstance(part, ToolUse):
                content.append(
                    {"type": "tool_use", "id": part.id, "name": part.name, "input": part.input}
                )
            else:
                content.append({"type": "text", "text": part})
        return {
            "id": f"msg_fake_{next(self._msg_ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": req.model,
            "content": content,
            "stop_reason": reply.effective_stop_reason,
            "stop_sequence": None,
            "usage": self._usage(req, _estimate_tokens(content), reply.usage),
        }

    def billed(self) -> tuple[int, int]:
        """Input and output tokens this fake reported for main (scripted) requests."""
        return sum(u["input_tokens"] for u in self.usage_sent), sum(u["output_tokens"] for u in self.usage_sent)

    async def _stream(
        self, request: web.Request, req: ModelRequest, reply: Reply
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "request-id": f"req_fake_{uuid.uuid4().hex[:12]}",
            }
        )
        await resp.prepare(request)
        message = self._message_json(req, reply if isinstance(reply, Turn) else Turn([]))
        start_usage = {**message["usage"], "output_tokens": 1}
        start = {**message, "content": [], "stop_reason": None, "usage": start_usage}
        await self._event(resp, {"type": "message_start", "message": start})

        if isinstance(reply, ApiError):  # mid-stream error, as the real API sends on overload
            await resp.write(_sse("error", reply.body()))
            await resp.write_eof()
            return resp

        for index, part in enumerate(reply.parts):
            if isinstance(part, ToolUse):
                block: dict[str, Any] = {
                    "type": "tool_use",
                    "id": part.id,
                    "name": part.name,
                    "input": {},
                }
                pieces = _chunks(json.dumps(part.input), reply.chunk_size)
                deltas = [{"type": "input_json_delta", "partial_json": c} for c in pieces]
            else:
                block = {"type": "text", "text": ""}
                pieces = _chunks(part, reply.chunk_size)
                deltas = [{"type": "text_delta", "text": c} for c in pieces]
            await self._event(
                resp, {"type": "content_block_start", "index": index, "content_block": block}
            )
            for delta in deltas:
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                await self._event(
                    resp, {"type": "content_block_delta", "index": index, "delta": delta}
                )
                if "text" in delta:  # for benchmarks: when each piece of text left the model
                    self.emitted.append((req.key, delta["text"], time.time()))
            await self._event(resp, {"type": "content_block_stop", "index": index})

        await self._event(
            resp,
            {
                "type": "message_delta",
                "delta": {"stop_reason": reply.effective_stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        )
        await self._event(resp, {"type": "message_stop"})
        await resp.write_eof()
        return resp

    @staticmethod
    async def _event(resp: web.StreamResponse, data: dict[str, Any]) -> None:
        await resp.write(_sse(data["type"], data))


# --------------------------------------------------------------------- environment


def cli_env(base_url: str, tmp_path: str | os.PathLike[str]) -> dict[str, str]:
    """Environment for a hermetic, offline CLI run against the fake at ``base_url``.

    Directories are derived from ``tmp_path`` deterministically, so a second
    client built with the same ``tmp_path`` shares CLAUDE_CONFIG_DIR and can
    ``resume`` a session. Pass the result as ``ClaudeAgentOptions(env=...)``.

    The SDK merges ``os.environ`` underneath this: remove :data:`PROXY_VARS`
    from the test process (e.g. ``monkeypatch.delenv``); NO_PROXY is set too as
    a second line of defence.
    """
    root = Path(tmp_path) / "claude-env"
    home, config, tmp = root / "home", root / "config", root / "tmp"
    for d in (home, config, tmp):
        d.mkdir(parents=True, exist_ok=True)
    return {
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "test",
        "ANTHROPIC_AUTH_TOKEN": "",
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(config),
        "TMPDIR": str(tmp),
        "CLAUDE_CODE_TMPDIR": str(tmp),
        # Keeps the CLI off every host but ANTHROPIC_BASE_URL (telemetry, update
        # checks, connectivity probes), which could stall or leak offline.
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        # Default retries turn one scripted error into minutes of back-off.
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
