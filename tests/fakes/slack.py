"""A fake Slack for tests: Web API, Socket Mode and response_url on one local aiohttp server.

Or, instead of Socket Mode, Slack's signed HTTP requests to the app's request URLs
(``request_urls``, several: replicas behind a load balancer; see ``signing_secret``).

It is driven by the real ``slack_sdk`` ``AsyncWebClient`` and by Bolt's
``AsyncSocketModeHandler``::

    async with FakeSlack(channels_with_bot={"C1"}) as fake:
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        app = AsyncApp(client=client)            # register listeners on it
        handler = AsyncSocketModeHandler(app, "xapp-test")  # uses app.client, so the fake
        await handler.connect_async()
        await fake.wait_connected()
        sent = await fake.send_message("C1", "U1", "hello")   # a Delivery: ack, latency, ts
        replies = await fake.wait_for(lambda: fake.thread("C1", sent.ts))
        assert "hi" in replies[0].visible_text
        await handler.close_async()              # before the fake stops, or it reconnects in vain

Everything Slack is asked or told is recorded in ``fake.calls``; what a user
would see is in ``messages`` / ``thread()`` / ``ephemerals()`` / ``uploads``
(``as_shown`` turns entities into the characters a client shows).

Text a test sends as a person typed it reaches the app as Slack encodes it
(``slack_encoded``: ``&amp;``, ``&lt;``, ``&gt;``; mentions and links as markup);
``users.info`` knows only the people the fake has seen.

Behaviour not in Slack's documentation but reported by people who measured
the live API (kept because bots trip over it): a stream dies about 5 minutes
after it started (``message_not_in_streaming_state``; slack_sdk issue #1859),
and stays a broken pill until ``chat.update`` repairs it; while a stream is
open only its recipient sees it grow, everyone else sees the words of its
``chat.startStream`` until it is stopped (see ``thread_text(viewer=…)``); ``chat.update`` on a
message that is still streaming fails with ``streaming_state_conflict``; a
stream opened with ``markdown_text`` takes only ``markdown_text`` and one
opened with ``chunks`` only ``chunks`` (``streaming_mode_mismatch``); streams
need ``recipient_team_id`` and ``recipient_user_id``.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import dataclasses
import hashlib
import hmac
import inspect
import itertools
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import yaml
from aiohttp import ClientConnectorError, ClientSession, ClientTimeout, WSCloseCode, WSMsgType, web

log = logging.getLogger(__name__)

T = TypeVar("T")
JSON = dict[str, Any]

# Fields slack_sdk sends as JSON strings inside form bodies and query strings.
_JSON_STRING_FIELDS = ("blocks", "attachments", "chunks", "files", "metadata", "loading_messages")
_ACK_DEADLINE = 3.0  # seconds Slack waits for an ack before showing an error / retrying
_MAX_TEXT = 40_000
_MAX_MARKDOWN = 12_000
_MAX_BLOCKS = 50
_MAX_SECTION_TEXT = 3_000
_MAX_SECTION_FIELDS = 10  # Block Kit: a section's `fields`, at most 10 ...
_MAX_FIELD_TEXT = 2_000  # ... of at most 2,000 characters each
# Slack: a response_url can be used "up to 5 times within 30 minutes". What it answers
# past that is not documented; assumed (as for an unknown URL): HTTP 404 with a one-word
# body, `used_url` for a 6th use and `expired_url` after the half hour.
RESPONSE_URL_USES = 5
TRIGGER_LIFETIME = 3.0  # Slack: a trigger_id opens a view within 3 seconds, once
RESPONSE_URL_LIFETIME = 30 * 60.0


def manifest_scopes() -> str:
    """The bot scopes the app asks for in the repository's manifest.yml, comma-separated
    (as Slack lists them in ``x-oauth-scopes``): the fake grants what the app would get."""
    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "manifest.yml").read_text())
    return ",".join(manifest["oauth_config"]["scopes"]["bot"])


DEFAULT_SCOPES = manifest_scopes()
# The bot-token scope each Web API method needs, from each method's page in Slack's
# reference ("Scopes: Bot token"); any one of a tuple will do. conversations.* need the
# scope of the conversation's kind (see `_needed_scopes`); auth.test and
# chat.getPermalink need none; apps.connections.open takes the app-level token.
# assistant.threads.setStatus takes chat:write (or, for now, assistant:write).
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys((
        "chat.postMessage", "chat.update", "chat.postEphemeral", "chat.delete",
        "chat.startStream", "chat.appendStream", "chat.stopStream",
    ), ("chat:write",)),
    "assistant.threads.setStatus": ("chat:write", "assistant:write"),
    "conversations.join": ("channels:join",),
    "reactions.add": ("reactions:write",),
    "reactions.remove": ("reactions:write",),
    "users.info": ("users:read",),
    "users.list": ("users:read",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    "files.info": ("files:read",),
}
# conversations.* by the kind of conversation: (its *:read scope, its *:history scope).
_KIND_SCOPES = {
    "channel": ("channels:read", "channels:history"), "group": ("groups:read", "groups:history"),
    "im": ("im:read", "im:history"), "mpim": ("mpim:read", "mpim:history"),
}
_LIST_TYPES = {"public_channel": "channel", "private_channel": "group", "mpim": "mpim", "im": "im"}


class SlackError(Exception):
    """Raised inside a method handler to answer ``{"ok": false, "error": ...}``."""

    def __init__(
        self, error: str, messages: list[str] | None = None, status: int | None = None, extra: JSON | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []
        self.status = status  # the HTTP status; None: 429 for "ratelimited", else 200
        self.extra = extra or {}  # more fields of the answer (missing_scope: needed, provided)


class AckTimeout(AssertionError):
    """The app did not ack an envelope in time."""


# --------------------------------------------------------------------------- records


@dataclass
class ApiCall:
    method: str
    args: JSON
    ts_received: float
    token: str | None = None
    http_verb: str = "POST"
    response: JSON = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    def __str__(self) -> str:
        outcome = "ok" if self.ok else f"error={self.response.get('error')}"
        return f"{self.method} {_short(self.args)} -> {outcome}"


@dataclass
class Message:
    """A message as stored by the fake. ``text`` is the final text (for streams: all markdown)."""

    channel: str
    ts: str
    text: str = ""
    thread_ts: str | None = None
    user: str | None = None
    bot_id: str | None = None
    blocks: list[JSON] | None = None
    subtype: str | None = None
    files: list[JSON] | None = None
    metadata: JSON | None = None
    edits: int = 0  # successful chat.update calls
    deleted: bool = False
    reactions: dict[str, list[str]] = field(default_factory=dict)
    # Streaming (chat.startStream): state is "streaming", "stopped" or "dead".
    streamed: bool = False
    stream_state: str | None = None
    stream_error: str = "message_not_in_streaming_state"  # answered once the stream is dead
    stream_mode: str | None = None  # "text" or "chunks": fixed by the first call carrying content
    stream_started: float = 0.0
    stream_recipient: str | None = None  # who sees the stream grow while it is open
    stream_first: str = ""  # what everyone else sees meanwhile: the text chat.startStream carried
    appends: int = 0  # successful chat.appendStream calls
    chunks: list[JSON] = field(default_factory=list)  # non-markdown chunks, in order
    tasks: dict[str, JSON] = field(default_factory=dict)  # task_update chunks merged by id

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def visible_text(self) -> str:
        # Once edited with chat.update, a streamed message shows what the edit gave it (its
        # blocks, else its text), like any other message; before, its streamed text and
        # chat.stopStream's blocks below it.
        return _visible_text(self.text, self.blocks, text_and_blocks=self.streamed and not self.edits)

    @property
    def broken(self) -> bool:
        """A stream Slack ended without our stop (it expired) and nobody repaired with
        chat.update: a broken "streaming" pill, most people seeing only its first words."""
        return (self.streamed and self.stream_state == "dead" and not self.edits
                and self.stream_error != "stopped_by_user")

    def visible_to(self, viewer: str | None) -> str:
        """What `viewer` sees (None: as the stream's recipient, or anyone once it's over).
        Others see only a stream's first words while it is open, or broken."""
        hidden = self.stream_state == "streaming" or self.broken
        if viewer is not None and hidden and not self.edits and viewer != self.stream_recipient:
            return self.stream_first
        return self.visible_text

    def to_api(self) -> JSON:
        """The message as the Web API / Events API would show it."""
        out: JSON = {"type": "message", "ts": self.ts, "text": self.text}
        for key in ("user", "bot_id", "thread_ts", "blocks", "subtype", "files", "metadata"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.reactions:
            out["reactions"] = [{"name": n, "users": u, "count": len(u)} for n, u in self.reactions.items()]
        if self.edits:
            out["edited"] = {"user": self.user, "ts": self.ts}
        return out


@dataclass
class Ephemeral:
    """Something only ``user`` sees: chat.postEphemeral, a response_url post or a command ack."""

    channel: str
    user: str
    text: str = ""
    blocks: list[JSON] | None = None
    thread_ts: str | None = None
    source: str = "chat.postEphemeral"  # or "response_url" / "ack"
    ts: str = ""

    @property
    def visible_text(self) -> str:
        return _visible_text(self.text, self.blocks)


@dataclass
class OpenView:
    """A modal opened with views.open for `user` (the person whose action gave the trigger)."""

    id: str
    user: str
    view: JSON

    @property
    def visible_text(self) -> str:
        return blocks_text(self.view.get("blocks"))


@dataclass
class Upload:
    file_id: str
    filename: str
    content: bytes
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    message_ts: str | None = None  # the message that shows the file

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")


@dataclass
class Ack:
    envelope_id: str
    type: str
    payload: JSON | None
    latency: float  # seconds from sending the envelope to receiving the ack

    @property
    def late(self) -> bool:
        return self.latency > _ACK_DEADLINE


@dataclass
class Delivery:
    """An envelope pushed over Socket Mode and the app's ack to it."""

    envelope_id: str
    type: str
    payload: JSON
    ack: JSON  # the ack's payload ({} when the app acked without one)
    latency: float
    connection: int = 0  # which Socket Mode connection took it (1: the first opened); HTTP: which request URL

    @property
    def ts(self) -> str | None:
        return self.payload.get("event", {}).get("ts")

    @property
    def event_id(self) -> str | None:
        return self.payload.get("event_id")

    @property
    def response_url(self) -> str | None:
        return self.payload.get("response_url")


@dataclass
class _ResponseTarget:
    channel: str
    user: str
    message_ts: str | None = None
    issued: float = field(default_factory=time.monotonic)
    uses: int = 0


@dataclass
class _PendingFile:
    filename: str
    length: int
    content: bytes | None = None
    redirect_to: str | None = None  # the download answers 302 to here instead of the bytes


# --------------------------------------------------------------------------- helpers


def signed_headers(
    secret: str, body: str | bytes, timestamp: int | None = None, content_type: str | None = None
) -> dict[str, str]:
    """Headers for an HTTP-mode request Bolt accepts: v0 HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    text = body.decode() if isinstance(body, bytes) else body
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{text}".encode(), hashlib.sha256).hexdigest()
    if content_type is None:
        content_type = "application/json" if text.lstrip().startswith("{") else "application/x-www-form-urlencoded"
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}", "Content-Type": content_type}


def form_body(payload: Mapping[str, Any]) -> str:
    """Form-encode a slash command payload; interactive payloads go as ``form_body({"payload": json.dumps(p)})``."""
    return urlencode({k: v for k, v in payload.items() if v is not None})


def blocks_text(blocks: Iterable[JSON] | None) -> str:
    """The text a reader sees in blocks (section, header, markdown, context, rich_text, button labels)."""
    lines: list[str] = []
    for block in blocks or []:
        kind = block.get("type")
        if kind in ("section", "header"):
            lines += [_obj_text(block.get("text"))] + [_obj_text(f) for f in block.get("fields", [])]
        elif kind == "markdown":
            lines.append(block.get("text", ""))
        elif kind in ("context", "actions"):
            lines.append(" ".join(filter(None, (_obj_text(e.get("text", e)) for e in block.get("elements", [])))))
            # radio buttons and checkboxes show each option's text with its description under it
            lines += [
                "\n".join(filter(None, (_obj_text(o.get("text")), _obj_text(o.get("description")))))
                for e in block.get("elements", []) for o in e.get("options") or []
            ]
        elif kind == "rich_text":
            lines += [_rich_text(e) for e in block.get("elements", [])]
        elif kind == "context_actions":  # feedback buttons: their two labels
            lines += [" ".join(_obj_text(e.get(b, {}).get("text")) for b in ("positive_button", "negative_button"))
                      for e in block.get("elements", []) if e.get("type") == "feedback_buttons"]
    return "\n".join(line for line in lines if line)


def _obj_text(obj: Any) -> str:
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return obj["text"]
    return ""


def _rich_text(element: JSON) -> str:
    kind = element.get("type")
    if kind in ("text", "link"):
        return element.get("text") or element.get("url", "")
    if kind == "user":
        return f"<@{element.get('user_id')}>"
    if kind == "channel":
        return f"<#{element.get('channel_id')}>"
    if kind == "emoji":
        return f":{element.get('name')}:"
    sep = "\n" if kind == "rich_text_list" else ""
    return sep.join(_rich_text(e) for e in element.get("elements", []))


def _visible_text(text: str, blocks: list[JSON] | None, *, text_and_blocks: bool = False) -> str:
    # Slack renders blocks instead of text (text is the notification fallback);
    # a streamed message shows its streamed text with stop-blocks below it.
    if not blocks:
        return text
    if text_and_blocks:
        return "\n".join(p for p in (text, blocks_text(blocks)) if p)
    return blocks_text(blocks)


# Slack's control sequences: mentions (<@U…>, <!here>, <!subteam^…>), channel
# links (<#C…>), dates (<!date^…>) and links, masked or not (<https://…|label>).
# Real Slack turns each into a ping or a link; text escaped as &lt; never matches.
_CONTROL_SEQUENCE = re.compile(r"<([@#!]|[a-z][a-z0-9+.-]*:)[^<>]*>")


def control_sequences(value: Any) -> list[str]:
    """Every Slack control sequence in a value (text, or blocks of any depth)."""
    if isinstance(value, str):
        return [m.group(0) for m in _CONTROL_SEQUENCE.finditer(value)]
    if isinstance(value, dict):
        return [seq for item in value.values() for seq in control_sequences(item)]
    if isinstance(value, list):
        return [seq for item in value for seq in control_sequences(item)]
    return []


def _entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_encoded(typed: str) -> str:
    """What a person typed, as Slack delivers it in events (its formatting docs): `&`,
    `<` and `>` as `&amp;`, `&lt;`, `&gt;`, except in the markup a client inserts for a
    mention, a channel or a link, which a test writes as Slack sends it (`<@U1>`,
    `<#C1|general>`, `<!here>`, `<https://x.y|label>`; an `&` inside is still `&amp;`).
    To send text exactly as given (e.g. a literal `&lt;@U1&gt;`), pass ``raw=True``."""
    out, at = [], 0
    for match in _CONTROL_SEQUENCE.finditer(typed):
        out += [_entities(typed[at:match.start()]), match.group(0).replace("&", "&amp;")]
        at = match.end()
    return "".join([*out, _entities(typed[at:])])


_ENTITY = re.compile(r"&(amp|lt|gt);")


def as_shown(text: str) -> str:
    """How a Slack client shows text: each entity as its character, once (markup as is)."""
    return _ENTITY.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], text)


_TASK_STATUSES = frozenset({"pending", "in_progress", "complete", "error"})
# Slack's TaskUpdateChunk type (its SDKs' chunk.ts); the 256-character cap on details and
# output is from another SDK's documentation of the same chunk, Slack's own states none.
_TASK_FIELDS = frozenset({"type", "id", "title", "status", "details", "output", "sources"})
_TASK_TEXT = 256


def _short_text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= _TASK_TEXT


def _check_chunk(chunk: Any) -> None:
    """Refuse a stream chunk the way Slack documents them: a known type with its
    required fields (a task card needs an id, a title and one of four statuses)."""
    if not isinstance(chunk, dict):
        raise SlackError("invalid_chunks")
    kind = chunk.get("type")
    if kind == "markdown_text":
        ok = isinstance(chunk.get("text"), str)
    elif kind == "task_update":
        ok = (
            bool(chunk.get("id")) and isinstance(chunk.get("title"), str) and bool(chunk["title"].strip())
            and chunk.get("status") in _TASK_STATUSES and set(chunk) <= _TASK_FIELDS
            and all(_short_text(chunk[key]) for key in ("details", "output") if key in chunk)
        )
    elif kind == "plan_update":
        ok = isinstance(chunk.get("title"), str)
    elif kind == "blocks":
        ok = isinstance(chunk.get("blocks"), list)
    else:
        ok = False
    if not ok:
        raise SlackError("invalid_chunks")


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, default=repr, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _ts_key(ts: str) -> tuple[int, int]:
    sec, _, frac = ts.partition(".")
    return int(sec), int(frac.ljust(6, "0") or 0)


def _field_problems(fields: list[Any], pointer: str) -> list[str]:
    """A section's fields as Block Kit limits them (count, and each text's length)."""
    problems = []
    if len(fields) > _MAX_SECTION_FIELDS:
        problems.append(f"[ERROR] must provide at most {_MAX_SECTION_FIELDS} items [json-pointer:{pointer}]")
    for n, item in enumerate(fields):
        if len(_obj_text(item)) > _MAX_FIELD_TEXT:
            limit = _MAX_FIELD_TEXT + 1
            problems.append(f"[ERROR] must be less than {limit} characters [json-pointer:{pointer}/{n}/text]")
    return problems


def _check_content(text: str | None, blocks: Any) -> None:
    """Reject what Slack rejects, so oversize output fails in tests rather than in production."""
    if text and len(text) > _MAX_TEXT:
        raise SlackError("msg_too_long")
    if blocks is None:
        return
    if not isinstance(blocks, list) or not all(isinstance(b, dict) and "type" in b for b in blocks):
        raise SlackError("invalid_blocks_format")
    problems: list[str] = []
    if len(blocks) > _MAX_BLOCKS:
        problems.append(f"[ERROR] no more than {_MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    markdown_total = 0
    for i, block in enumerate(blocks):
        if block["type"] == "section" and len(_obj_text(block.get("text"))) > _MAX_SECTION_TEXT:
            problems.append(
                f"[ERROR] must be less than {_MAX_SECTION_TEXT + 1} characters [json-pointer:/blocks/{i}/text/text]"
            )
        if block["type"] == "section":
            problems += _field_problems(block.get("fields") or [], f"/blocks/{i}/fields")
        if block["type"] == "markdown":
            markdown_total += len(block.get("text", ""))
        problems += _element_problems(block, f"/blocks/{i}")
        problems += _context_actions_problems(block, f"/blocks/{i}")
    if markdown_total > _MAX_MARKDOWN:
        problems.append(f"[ERROR] markdown blocks exceed {_MAX_MARKDOWN} characters in total")
    if problems:
        raise SlackError("invalid_blocks", problems)


# Element limits Slack enforces (characters, or items) that slack_sdk's models don't all check.
_ELEMENT_LIMITS = {
    ("button", "text"): 75, ("button", "value"): 2000, ("option", "text"): 75, ("option", "value"): 150,
    ("option", "description"): 75, ("any", "action_id"): 255, ("any", "block_id"): 255,
    ("context", "elements"): 10, ("checkboxes", "options"): 10, ("context_text", "text"): 3000,
    ("radio_buttons", "options"): 10,
}


def _element_problems(node: Any, where: str, parent: str = "") -> list[str]:
    """Every documented element limit a block breaks, as Slack words its errors."""
    problems: list[str] = []
    if isinstance(node, list):
        for n, item in enumerate(node):
            problems += _element_problems(item, f"{where}/{n}", parent)
        return problems
    if not isinstance(node, dict):
        return problems
    kind = "option" if parent == "options" else str(node.get("type", ""))

    def over(key: str, size: int, limit: int) -> None:
        if size > limit:
            problems.append(f"[ERROR] must be at most {limit} [json-pointer:{where}/{key}]")

    for key in ("action_id", "block_id"):
        if isinstance(node.get(key), str):
            over(key, len(node[key]), _ELEMENT_LIMITS[("any", key)])
    for key in ("text", "value", "description"):
        limit = _ELEMENT_LIMITS.get((kind, key))
        if limit is not None and key in node:
            value = _obj_text(node[key]) if isinstance(node[key], dict) else str(node[key])
            if not value.strip():
                problems.append(f"[ERROR] must not be empty [json-pointer:{where}/{key}]")
            over(key, len(value), limit)
    if kind == "context":
        over("elements", len(node.get("elements") or []), _ELEMENT_LIMITS[("context", "elements")])
        for n, element in enumerate(node.get("elements") or []):
            over(f"elements/{n}/text", len(_obj_text(element)), _ELEMENT_LIMITS[("context_text", "text")])
    if kind in ("checkboxes", "radio_buttons"):
        over("options", len(node.get("options") or []), _ELEMENT_LIMITS[(kind, "options")])
    for key, child in node.items():
        if isinstance(child, (list, dict)) and key not in ("text", "description"):
            problems += _element_problems(child, f"{where}/{key}", key)
    return problems


def _context_actions_problems(block: JSON, where: str) -> list[str]:
    """A `context_actions` block holds 1-5 `feedback_buttons` / `icon_button` elements; a
    feedback_buttons element lives nowhere else and has a positive and a negative button,
    each with plain text of 1-75 characters and a value of 1-2,000 (Block Kit reference)."""
    elements = block.get("elements") or []
    if block["type"] != "context_actions":
        inner = [e for e in elements if isinstance(e, dict) and e.get("type") == "feedback_buttons"]
        inner += [block.get("accessory")] if (block.get("accessory") or {}).get("type") == "feedback_buttons" else []
        return [f"[ERROR] feedback_buttons only in a context_actions block [json-pointer:{where}]"] if inner else []
    problems = [] if 1 <= len(elements) <= 5 else [f"[ERROR] must have 1 to 5 items [json-pointer:{where}/elements]"]
    for n, element in enumerate(elements):
        kind = element.get("type") if isinstance(element, dict) else None
        if kind not in ("feedback_buttons", "icon_button"):
            problems.append(f"[ERROR] unsupported type {kind!r} [json-pointer:{where}/elements/{n}]")
            continue
        for side in ("positive_button", "negative_button") if kind == "feedback_buttons" else ():
            button, at = element.get(side), f"{where}/elements/{n}/{side}"
            text = button.get("text") if isinstance(button, dict) else None
            label = text.get("text", "") if isinstance(text, dict) and text.get("type") == "plain_text" else ""
            if not 1 <= len(label) <= 75:
                problems.append(f"[ERROR] needs plain_text of 1 to 75 characters [json-pointer:{at}/text]")
            if not isinstance(button, dict) or not 1 <= len(str(button.get("value") or "")) <= 2000:
                problems.append(f"[ERROR] needs a value of 1 to 2000 characters [json-pointer:{at}/value]")
    return problems


# --------------------------------------------------------------------------- the fake


@dataclass
class EnforcedLimits:
    """Slack's rate limits, enforced by the fake when asked: at most `per_window[method]`
    calls in any `window` seconds (per workspace), and at most one new message per
    `channel_interval` seconds in each channel, whichever call creates it (see
    `message_channel`). Over either: HTTP 429 with Retry-After; a channel over its pace
    is refused alone, the other channels keep posting."""

    per_window: dict[str, int]
    window: float = 60.0
    channel_interval: float = 1.0
    _calls: dict[str, collections.deque[float]] = field(default_factory=dict)
    _channel_posts: dict[str, float] = field(default_factory=dict)

    def check(self, method: str, args: JSON, now: float) -> float:
        """0 if the call is within limits (and count it); else seconds to wait."""
        limit = self.per_window.get(method)
        calls = self._calls.setdefault(method, collections.deque())
        while calls and calls[0] <= now - self.window:
            calls.popleft()
        if limit is not None and len(calls) >= limit:
            return calls[0] + self.window - now
        if channel := message_channel(method, args):
            last = self._channel_posts.get(channel)
            if last is not None and now - last < self.channel_interval:
                return self.channel_interval - (now - last)
            self._channel_posts[channel] = now
        calls.append(now)
        return 0.0


def message_channel(method: str, args: JSON) -> str | None:
    """The channel a call adds a message to, if it adds one. Slack's "1 message a second
    per channel" counts messages, not methods: a stream's start and a shared upload's
    completion each put a message in the channel like chat.postMessage. chat.postEphemeral
    does not (Slack keeps an ephemeral message nowhere in the channel; it is Tier 4 per
    method, and its `rate_limited` is the method's), nor do updates, appends and stops,
    which change a message already there."""
    if method in ("chat.postMessage", "chat.startStream"):
        return str(args.get("channel") or "") or None
    if method == "files.completeUploadExternal":  # shared only when given a channel
        return str(args.get("channel_id") or "").strip() or str(args.get("channels") or "").split(",")[0] or None
    return None


@dataclass
class Gate:
    """A call held until the test lets it through (see `FakeSlack.hold_next`)."""

    method: str
    matches: Callable[[JSON], bool]
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


class FakeSlack:
    """One workspace with one bot. See the module docstring for usage."""

    users_per_page = 2  # users.list pages this many people at most (Slack pages too): callers must follow cursors

    def __init__(
        self,
        *,
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        team_id: str = "T1",
        app_id: str = "A1",
        enterprise_id: str | None = None,  # an Enterprise Grid organisation (E…)
        enterprise_install: bool = False,  # installed org-wide: team_id is the organisation's
        bot_token: str | None = None,  # None: any xoxb-/xoxp- token is accepted
        app_token: str | None = None,  # None: any xapp- token is accepted
        channels_with_bot: set[str] | None = None,  # None: the bot is in every channel
        private_channels: Iterable[str] = (),  # plus every "G…" id: cannot be joined
        streaming: bool = True,
        streaming_error: str = "feature_not_enabled",  # chat.startStream's answer when streaming=False
        stream_max_appends: int | None = None,  # a stream dies after this many successful appends
        stream_lifetime: float | None = 300.0,  # ...or this many seconds after it started (Slack: ~5 min)
        strict_stream_mode: bool = True,  # enforce streaming_mode_mismatch (see module docstring)
        fail_methods: Mapping[str, str] | None = None,
        delays: Mapping[str, float] | None = None,  # seconds to sleep before answering a method
        scopes: str = DEFAULT_SCOPES,
        rate_limits: EnforcedLimits | None = None,  # enforce Slack's rate limits (429s)
        members: Mapping[str, Iterable[str]] | None = None,  # channel -> its users; unlisted: everyone
        # Send the app message_changed / message_deleted for its own chat.update and
        # chat.delete calls, as Slack does to an app subscribed to channel messages.
        echo_changes: bool = False,
        response_url_lifetime: float = RESPONSE_URL_LIFETIME,  # seconds a response_url takes posts
        # Several apps' processes hold a connection each (replicas): Slack hands each
        # envelope to one of them, here in turn. Otherwise the newest connection is the live one.
        several_connections: bool = False,
        # HTTP mode: what requests to `request_urls` are signed with.
        signing_secret: str = "fake-signing-secret",
    ) -> None:
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.team_id = team_id
        self.app_id = app_id
        self.enterprise_id = enterprise_id
        self.enterprise_install = enterprise_install
        self.bot_token = bot_token
        self.app_token = app_token
        self.channels_with_bot = None if channels_with_bot is None else set(channels_with_bot)
        self.private_channels = set(private_channels)
        self.streaming = streaming
        self.streaming_error = streaming_error
        self.stream_max_appends = stream_max_appends
        self.stream_lifetime = stream_lifetime
        self.strict_stream_mode = strict_stream_mode
        # All knobs are plain attributes: tests may change them while the fake runs.
        self.fail_methods: dict[str, str] = dict(fail_methods or {})
        self.delays: dict[str, float] = dict(delays or {})
        self._gates: list[Gate] = []
        self.upload_failures: list[int] = []  # statuses the next uploads to an upload URL answer with
        self.scopes = scopes
        self.rate_limits = rate_limits
        self.rate_limited: list[ApiCall] = []  # calls answered with 429 by the limits
        # Channel membership of people (users.conversations). A channel not listed
        # has every user as a member, so tests that don't care need no set-up.
        self.members: dict[str, set[str]] = {c: set(users) for c, users in (members or {}).items()}
        self.archived_channels: set[str] = set()
        self.echo_changes = echo_changes
        self.response_url_lifetime = response_url_lifetime
        self.echoed: list[Delivery] = []  # message_changed / message_deleted sent for the app's own calls

        self.calls: list[ApiCall] = []
        self.acks: list[Ack] = []
        self.uploads: list[Upload] = []
        self.downloads_served: list[str] = []  # ids of files whose download was sent whole
        self.response_posts: list[tuple[str, JSON]] = []  # (response id, body)
        self.statuses: dict[tuple[str, str], str] = {}  # (channel, thread_ts) -> assistant status
        self.home_views: dict[str, JSON] = {}  # user -> the Home tab view last published for them
        self.trigger_lifetime = TRIGGER_LIFETIME  # seconds a trigger_id opens a view
        self.views: list[OpenView] = []  # modals opened with views.open, oldest first
        self._triggers: dict[str, tuple[float, str]] = {}  # trigger_id -> (issued, user)
        # assistant.threads.setStatus: every status a thread showed, in order ("" once it was
        # cleared: by the app, by a message the app posted there, or on expiry); channels
        # where the method is refused (channel -> error); seconds a status lasts unrenewed.
        self.status_history: dict[tuple[str, str], list[str]] = {}
        self.status_refusals: dict[str, str] = {}
        self.status_loading: dict[tuple[str, str], list[str]] = {}  # the loading messages last set
        self.status_lifetime = 120.0
        self._status_set_at: dict[tuple[str, str], float] = {}
        self.connections_opened = 0
        self.several_connections = several_connections
        self._handed = 0  # envelopes handed out in turn (several_connections)
        self._numbers: dict[web.WebSocketResponse, int] = {}  # connection -> its number
        # HTTP mode: once a test adds the app's request URLs (.../slack/events) here, envelopes
        # go to them as Slack's signed requests instead of over Socket Mode: in turn, as a load
        # balancer hands them out, a URL refusing the connection (its process gone) passing
        # the request to the next. A delivery's `connection` is then its URL's number (1: first).
        self.signing_secret = signing_secret
        self.request_urls: list[str] = []

        self._messages: list[Message] = []
        self._ephemerals: list[Ephemeral] = []
        self._users: dict[str, JSON] = {}
        self._files: dict[str, _PendingFile] = {}
        self._file_meta: dict[str, JSON] = {}
        self._fail_next: dict[str, list[tuple[str, int | None]]] = {}  # method -> [(error, HTTP status)]
        self._disconnect_next: dict[str, int] = {}  # method -> calls still to be cut off
        self._fail_matching: list[list[Any]] = []  # [method, error, predicate, times left]
        self._response_targets: dict[str, _ResponseTarget] = {}
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._pending_acks: dict[str, asyncio.Future[JSON]] = {}
        # Called with each ack the moment it arrives, before whoever sent the envelope
        # hears of it (e.g. to kill the app right after it acked).
        self.on_ack: Callable[[JSON], None] | None = None
        self._echoes: set[asyncio.Task[None]] = set()
        self._ts_us = 1_700_000_000_000_000
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.add_user(bot_user_id, name="newspec", real_name="newspec", is_bot=True)
        for user in sorted({u for users in self.members.values() for u in users}):
            self._user(user)

        self._methods: dict[str, Callable[[JSON, ApiCall], JSON | Awaitable[JSON]]] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.startStream": self._chat_start_stream,
            "chat.appendStream": self._chat_append_stream,
            "chat.stopStream": self._chat_stop_stream,
            "conversations.join": self._conversations_join,
            "conversations.info": self._conversations_info,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
            "assistant.threads.setStatus": self._assistant_set_status,
            "users.conversations": self._users_conversations,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeSlack:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_get("/link", self._handle_socket)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_get("/files-pri/{file_id}/{filename}", self._handle_download)
        app.router.add_post("/response/{rid}", self._handle_response_url)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        for task in list(self._echoes):
            task.cancel()
        await asyncio.gather(*self._echoes, return_exceptions=True)
        for fut in self._pending_acks.values():
            fut.cancel()
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"fake slack stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    # ------------------------------------------------------------------ views

    @property
    def messages(self) -> list[Message]:
        """Every message not deleted (human and bot), in the order they were stored."""
        self._expire_streams()
        return [m for m in self._messages if not m.deleted]

    def broken_streams(self) -> list[Message]:
        """Streams that ended without our stop and were never repaired (see `Message.broken`)."""
        return [m for m in self.messages if m.broken]

    def _expire_streams(self) -> None:
        """Streams older than `stream_lifetime` are over, as Slack ends them, whether or not
        anyone calls on them again."""
        if self.stream_lifetime is None:
            return
        now = time.monotonic()
        for m in self._messages:
            if m.stream_state == "streaming" and now - m.stream_started > self.stream_lifetime:
                m.stream_state = "dead"

    def message(self, channel: str, ts: str) -> Message | None:
        return next((m for m in self.messages if m.channel == channel and m.ts == ts), None)

    def thread(self, channel: str, thread_ts: str, *, include_root: bool = False) -> list[Message]:
        """Replies in a thread ordered by ts; the root message only with ``include_root=True``."""
        found = [
            m
            for m in self.messages
            if m.channel == channel
            and ((m.ts == thread_ts and include_root) or (m.ts != thread_ts and m.thread_ts == thread_ts))
        ]
        return sorted(found, key=lambda m: _ts_key(m.ts))

    def thread_text(
        self, channel: str, thread_ts: str, *, include_root: bool = False, viewer: str | None = None
    ) -> str:
        """Everything visible in a thread, one message per paragraph: handy for ``in`` assertions.
        With `viewer`, as that person sees it (an open stream shows others its first words)."""
        messages = self.thread(channel, thread_ts, include_root=include_root)
        return "\n\n".join(m.visible_to(viewer) for m in messages)

    def markup_posted(self) -> list[str]:
        """Every control sequence the bot has made Slack render anywhere: messages (text,
        blocks, streamed text), ephemerals and upload comments. What pings people."""
        found: list[str] = []
        for message in self._messages:
            if message.user == self.bot_user_id:
                found += control_sequences([message.text, message.blocks, message.chunks])
        for ephemeral in self._ephemerals:
            found += control_sequences([ephemeral.text, ephemeral.blocks])
        for upload in self.uploads:
            found += control_sequences(upload.initial_comment or "")
        return found

    def ephemerals(self, user: str | None = None, channel: str | None = None) -> list[Ephemeral]:
        return [e for e in self._ephemerals if user in (None, e.user) and channel in (None, e.channel)]

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    @property
    def connected(self) -> bool:
        return any(not ws.closed for ws in self._sockets)

    def dump(self, last: int = 30) -> str:
        """Recent API calls, acks and messages, for failure messages."""
        lines = [f"last {min(last, len(self.calls))} of {len(self.calls)} API calls:"]
        lines += [f"  {c}" for c in self.calls[-last:]]
        lines.append(f"acks: {[(a.type, round(a.latency, 3), a.payload) for a in self.acks[-10:]]}")
        lines.append("messages:")
        lines += [
            f"  {m.channel} ts={m.ts} thread={m.thread_ts} user={m.user} stream={m.stream_state}: "
            f"{_short(m.visible_text, 200)}"
            for m in self.messages[-last:]
        ]
        lines.append(f"ephemerals: {[(e.user, _short(e.visible_text, 120)) for e in self._ephemerals[-10:]]}")
        return "\n".join(lines)

    async def wait_for(
        self,
        predicate: Callable[[], T | Awaitable[T]],
        timeout: float = 10.0,
        *,
        interval: float = 0.02,
        what: str = "",
    ) -> T:
        """Poll ``predicate`` until it returns something truthy, and return that."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result  # type: ignore[return-value]
            if time.monotonic() >= deadline:
                label = what or getattr(predicate, "__name__", "condition")
                raise AssertionError(f"timed out after {timeout}s waiting for {label}\n{self.dump()}")
            await asyncio.sleep(interval)

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await self.wait_for(lambda: self.connected, timeout, what="a Socket Mode connection")

    # ------------------------------------------------------------------ test set-up

    def add_user(
        self, user_id: str, *, name: str | None = None, display_name: str | None = None,
        real_name: str | None = None, is_bot: bool = False, team_id: str | None = None,
    ) -> JSON:
        """A person; `team_id` other than the workspace's makes them a Slack Connect guest
        from another organisation (or a member of another Grid workspace)."""
        name = name or user_id.lower()
        real_name = real_name or name.title()
        user = {
            "id": user_id, "team_id": team_id or self.team_id, "name": name, "deleted": False, "real_name": real_name,
            "tz": "Europe/London", "tz_label": "Greenwich Mean Time", "tz_offset": 0, "is_bot": is_bot,
            "is_admin": False, "is_owner": False, "is_primary_owner": False, "is_app_user": False,
            "updated": 1700000000,
            "profile": {
                "display_name": display_name if display_name is not None else name,
                "display_name_normalized": display_name if display_name is not None else name,
                "real_name": real_name, "real_name_normalized": real_name,
                "email": None if is_bot else f"{name}@example.com", "team": self.team_id,
            },
        }
        if is_bot:
            user["profile"]["bot_id"] = self.bot_id
        self._users[user_id] = user
        return user

    def add_file(self, content: bytes | str, filename: str, *, mimetype: str = "text/plain",
                 title: str | None = None, user: str = "U1", external_url: str | None = None,
                 redirect_to: str | None = None) -> JSON:
        """Register a file a user attached; pass the returned object in ``send_message(files=[...])``.

        Downloading ``url_private_download`` needs ``Authorization: Bearer <bot token>``;
        without it the fake answers like Slack does: 200 with an HTML login page. The
        body arrives in small pieces (see ``download_piece``), as over a real network.

        ``external_url``: a remote file (Google Drive and the like) as Slack describes it:
        ``is_external``, mode ``external``, ``url_private`` is that URL and there is no
        ``url_private_download``; Slack holds no bytes for it. ``redirect_to``: a hosted
        file whose download answers ``302 Location: redirect_to``.
        """
        data = content.encode() if isinstance(content, str) else content
        file_id = f"F{next(self._ids):08d}"
        if external_url is not None:
            meta = self._file_object(file_id, filename, title or filename, len(data), mimetype, user)
            del meta["url_private_download"]
            meta.update(is_external=True, mode="external", external_type="gdrive", url_private=external_url)
            return meta
        self._files[file_id] = _PendingFile(filename, len(data), data, redirect_to)
        return self._file_object(file_id, filename, title or filename, len(data), mimetype, user)

    def shared_file(self, file: JSON) -> JSON:
        """``file`` (from `add_file`) as a Slack Connect shared channel delivers it in a message
        event: its id and ``file_access: check_file_info``, without name, type, size or any URL;
        the app must call ``files.info`` for the rest. The other fields are as other developers
        report real stubs (there is no Slack page showing one): mode ``file_access``, zero times."""
        return {"id": file["id"], "mode": "file_access", "file_access": "check_file_info",
                "created": 0, "timestamp": 0, "user": ""}

    def remove_file(self, file_id: str) -> None:
        """The file was deleted in Slack: its download answers 404 from now on."""
        self._files.pop(file_id, None)

    def add_member(self, channel: str, user: str) -> None:
        """Put ``user`` in ``channel``; from then on the channel has only the members added."""
        self._user(user)
        self.members.setdefault(channel, set()).add(user)

    def _matching_failure(self, method: str, args: JSON) -> str | None:
        for rule in self._fail_matching:
            if rule[0] == method and rule[3] > 0 and rule[2](args):
                rule[3] -= 1
                return str(rule[1])
        return None

    def is_member(self, channel: str, user: str) -> bool:
        return channel not in self.members or user in self.members[channel]

    def hold_next(self, method: str, matches: Callable[[JSON], bool] = lambda args: True) -> Gate:
        """The next call of `method` whose arguments match waits for `gate.release` (Slack
        slow to answer), so a test can act in between; `gate.reached` is set when it arrives.

        ``"files.download"`` holds a file's download after its first piece was sent (the
        download is under way); its arguments are ``{"file": id, "name": filename}``."""
        gate = Gate(method, matches)
        self._gates.append(gate)
        return gate

    def fail_next(self, method: str, error: str, times: int = 1, *, status: int | None = None) -> None:
        """Make the next ``times`` calls of ``method`` fail (``"ratelimited"`` answers HTTP 429 with
        Retry-After: 1). ``status=200`` with ``"ratelimited"`` is Slack's other way of saying it:
        ``{"ok": false, "error": "ratelimited"}`` in an HTTP 200, which slack_sdk does not retry."""
        self._fail_next.setdefault(method, []).extend([(error, status)] * times)

    def disconnect_next(self, method: str, times: int = 1) -> None:
        """Cut the connection of the next ``times`` calls of ``method`` without an answer, as a
        network failure would: the client gets no HTTP response at all (slack_sdk retries a
        connection error once, so a lasting fault needs ``times`` of 2 or more)."""
        self._disconnect_next[method] = self._disconnect_next.get(method, 0) + times

    def fail_when(self, method: str, error: str, matches: Callable[[JSON], bool], times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` whose arguments ``matches`` fail with
        ``error`` (e.g. only the post carrying a question's buttons); others go through."""
        self._fail_matching.append([method, error, matches, times])

    def fail_streams_in(
        self, channel: str, error: str, times: int | None = None,
        methods: Iterable[str] = ("chat.startStream", "chat.appendStream", "chat.stopStream"),
    ) -> None:
        """Make the stream methods (or ``methods``) fail with ``error`` in ``channel`` only: the next
        ``times`` calls of each, or every call when ``times`` is None. Other channels stream on,
        as on Slack, where ``not_in_channel`` or ``is_archived`` belong to one channel."""
        for method in methods:
            self._fail_matching.append(
                [method, error, lambda args: args.get("channel") == channel, math.inf if times is None else times]
            )

    def kill_stream(self, ts: str | None = None, error: str = "message_not_in_streaming_state") -> None:
        """End a live stream (all of them when ``ts`` is None) as Slack does when it expires or
        the user presses stop (``error="stopped_by_user"``): later appends/stops get ``error``."""
        for m in self._messages:
            if m.stream_state == "streaming" and ts in (None, m.ts):
                m.stream_state, m.stream_error = "dead", error

    # ------------------------------------------------------------------ Socket Mode

    async def send_envelope(
        self, type: str, payload: JSON, retry_attempt: int = 0, retry_reason: str = "",
        *, accepts_response_payload: bool | None = None, timeout: float = 5.0,
    ) -> JSON:
        """Push an envelope to the connected app and return the payload of its ack ({} if none)."""
        delivery = await self._deliver(type, payload, retry_attempt, retry_reason, accepts_response_payload, timeout)
        return delivery.ack

    async def send_slash_command(
        self, text: str, command: str = "/newspec", user_id: str = "U1", channel_id: str = "C1",
        team_id: str | None = None, *, enterprise_id: str | None = None, api_app_id: str | None = None,
        timeout: float = 5.0, raw: bool = False,
    ) -> Delivery:
        payload = self.slash_command_payload(
            text, command, user_id, channel_id, team_id, enterprise_id=enterprise_id, api_app_id=api_app_id,
            raw=raw,
        )
        return await self._deliver("slash_commands", payload, 0, "", None, timeout)

    async def send_message(
        self, channel: str, user: str, text: str, thread_ts: str | None = None, event_id: str | None = None,
        ts: str | None = None, subtype: str | None = None, bot_id: str | None = None,
        files: list[JSON] | None = None, *, retry_attempt: int = 0, retry_reason: str = "", timeout: float = 5.0,
        raw: bool = False,
    ) -> Delivery:
        """Deliver a ``message`` event and store the message so threads show it.

        ``text`` is what the person typed: it goes out encoded as Slack encodes it
        (`slack_encoded`); ``raw=True`` sends it exactly as given.
        Re-sending with the same ``ts`` (and ``event_id``) simulates a retry or a duplicate
        delivery; the message is stored once. ``files`` implies subtype ``file_share``.
        """
        payload = self.message_event_payload(
            channel, user, text, thread_ts, event_id, ts, subtype, bot_id, files, raw=raw
        )
        return await self._deliver("events_api", payload, retry_attempt, retry_reason, None, timeout)

    async def send_event(
        self, event: JSON, event_id: str | None = None, *, retry_attempt: int = 0, retry_reason: str = "",
        timeout: float = 5.0,
    ) -> Delivery:
        """Deliver any Events API event (app_mention, message_changed, ...) as-is."""
        payload = self.event_payload(event, event_id)
        return await self._deliver("events_api", payload, retry_attempt, retry_reason, None, timeout)

    async def edit_message(
        self, channel: str, ts: str, text: str, *, event_id: str | None = None, timeout: float = 5.0,
        raw: bool = False,
    ) -> Delivery:
        """Someone edits a stored message (a person: their own): its text changes and the app
        gets ``message_changed`` as Slack sends it (the new message and the previous one).
        ``text`` is as typed, encoded as in `send_message` (``raw=True``: as given)."""
        payload = self.message_changed_payload(channel, ts, text, event_id, raw=raw)
        return await self._deliver("events_api", payload, 0, "", None, timeout)

    async def delete_message(
        self, channel: str, ts: str, *, event_id: str | None = None, timeout: float = 5.0,
    ) -> Delivery:
        """Someone deletes a stored message: the app gets ``message_deleted`` as Slack sends it."""
        payload = self.message_deleted_payload(channel, ts, event_id)
        return await self._deliver("events_api", payload, 0, "", None, timeout)

    async def send_action(
        self, action_id: str, value: str | None = None, *, user_id: str = "U1", channel_id: str = "C1",
        message_ts: str | None = None, block_id: str = "actions", action_type: str = "button",
        actions: list[JSON] | None = None, state_values: JSON | None = None, timeout: float = 5.0,
    ) -> Delivery:
        """Deliver a ``block_actions`` interaction, e.g. a button press on the message at ``message_ts``."""
        payload = self.block_actions_payload(
            action_id, value, user_id=user_id, channel_id=channel_id, message_ts=message_ts,
            block_id=block_id, action_type=action_type, actions=actions, state_values=state_values,
        )
        return await self._deliver("interactive", payload, 0, "", None, timeout)

    async def request_reconnect(self, reason: str = "refresh_requested") -> None:
        """Tell connected clients to reconnect, as Slack does every few hours."""
        for ws in self._open_sockets():
            await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}})

    async def drop_connections(self) -> None:
        """Close every socket abruptly, as a network failure would."""
        for ws in self._open_sockets():
            await ws.close(code=WSCloseCode.ABNORMAL_CLOSURE)

    # ------------------------------------------------------------------ payload builders (also for HTTP mode)

    def slash_command_payload(
        self, text: str, command: str = "/newspec", user_id: str = "U1", channel_id: str = "C1",
        team_id: str | None = None, *, enterprise_id: str | None = None, api_app_id: str | None = None,
        raw: bool = False,
    ) -> dict[str, str]:
        """A command as Slack sends it; an org-wide install adds the organisation and
        the member workspace the person typed it in (``team_id``). Its ``text`` comes
        with `&`, `<` and `>` as entities (``raw=True``: as given). Assumed from other
        developers' reports: with ``should_escape: false`` (our manifest) a mention
        typed in a command arrives as plain ``@name`` text, so nothing stays markup."""
        text = text if raw else _entities(text)
        user = self._user(user_id)
        payload = {
            "token": "fake-verification-token", "team_id": team_id or self.team_id, "team_domain": "fake",
            "channel_id": channel_id, "channel_name": self._channel_name(channel_id), "user_id": user_id,
            "user_name": user["name"], "command": command, "text": text, "api_app_id": api_app_id or self.app_id,
            "is_enterprise_install": "true" if self.enterprise_install else "false",
            "response_url": self._response_url(_ResponseTarget(channel_id, user_id)),
            "trigger_id": self._trigger_id(user_id),
        }
        if enterprise_id or self.enterprise_id:
            payload["enterprise_id"] = str(enterprise_id or self.enterprise_id)
        return payload

    def event_payload(self, event: JSON, event_id: str | None = None) -> JSON:
        payload = {
            "token": "fake-verification-token", "team_id": self.team_id, "context_team_id": self.team_id,
            "context_enterprise_id": self.enterprise_id, "api_app_id": self.app_id, "event": event,
            "type": "event_callback", "event_id": event_id or f"Ev{next(self._ids):010d}",
            "event_time": int(time.time()),
            "authorizations": [{
                "enterprise_id": self.enterprise_id, "team_id": self.team_id, "user_id": self.bot_user_id,
                "is_bot": True, "is_enterprise_install": self.enterprise_install,
            }],
            "is_ext_shared_channel": False, "event_context": f"4-fake-{uuid.uuid4().hex[:12]}",
        }
        if self.enterprise_id:
            payload["enterprise_id"] = self.enterprise_id
        return payload

    def _event_team(self, user: str) -> str:
        """The author's team as a message event names it (``user_team``, ``source_team``):
        on Enterprise Grid the organisation (E…) for the organisation's own people, while
        the payload's ``team_id`` stays the workspace (T…); a Slack Connect guest's own team."""
        team = str(self._user(user)["team_id"])
        return self.enterprise_id if self.enterprise_id and team == self.team_id else team

    def message_event_payload(
        self, channel: str, user: str, text: str, thread_ts: str | None = None, event_id: str | None = None,
        ts: str | None = None, subtype: str | None = None, bot_id: str | None = None,
        files: list[JSON] | None = None, *, raw: bool = False,
    ) -> JSON:
        """Build a message event and store the message (once per ``(channel, ts)``);
        ``text`` as typed, encoded as Slack encodes it (``raw=True``: as given)."""
        if files and subtype is None:
            subtype = "file_share"
        ts = self._use_ts(ts)
        typed, text = text, text if raw else slack_encoded(text)
        event: JSON = {
            "type": "message", "channel": channel, "user": user, "text": text, "ts": ts, "event_ts": ts,
            "channel_type": self._channel_type(channel), "team": self._user(user)["team_id"],
            "user_team": self._event_team(user), "source_team": self._event_team(user),
            "blocks": [{"type": "rich_text", "block_id": uuid.uuid4().hex[:5], "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": typed}]}]}],
        }
        if bot_id is None:
            event["client_msg_id"] = str(uuid.uuid4())
        else:
            event["bot_id"] = bot_id
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
            root = self.message(channel, thread_ts)
            if root is not None:
                event["parent_user_id"] = root.user
        if subtype is not None:
            event["subtype"] = subtype
        if files:
            event.update(files=files, upload=False, display_as_bot=False)
        if subtype in (None, "file_share", "thread_broadcast", "bot_message") and self.message(channel, ts) is None:
            self._store(Message(channel, ts, text, thread_ts, user, bot_id, subtype=subtype, files=files))
        return self.event_payload(event, event_id)

    def message_changed_payload(
        self, channel: str, ts: str, text: str, event_id: str | None = None, *, raw: bool = False,
    ) -> JSON:
        """Change a stored message's text (as typed; ``raw=True``: as Slack holds it) and
        build the ``message_changed`` event for it."""
        message = self._find(channel, ts)
        previous = self._event_message(message)
        message.text = text if raw else slack_encoded(text)
        message.edits += 1
        return self.event_payload(self._changed_event(message, previous), event_id)

    def message_deleted_payload(self, channel: str, ts: str, event_id: str | None = None) -> JSON:
        """Delete a stored message and build the ``message_deleted`` event for it."""
        message = self._find(channel, ts)
        message.deleted = True
        return self.event_payload(self._deleted_event(message), event_id)

    def _event_message(self, message: Message) -> JSON:
        """A message as events carry it inside ``message`` / ``previous_message``."""
        out = message.to_api()
        if message.bot_id is None and message.user is not None:  # a person's, typed in a client
            team = self._user(message.user)["team_id"]
            out.update(team=team, user_team=self._event_team(message.user), source_team=self._event_team(message.user))
            out.setdefault("blocks", [{"type": "rich_text", "block_id": "edit", "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": message.text}]}]}])
        else:
            out.setdefault("app_id", self.app_id)
        if message.is_reply:
            root = self.message(message.channel, message.thread_ts or "")
            if root is not None and root.user:
                out["parent_user_id"] = root.user
        return out

    def _changed_event(self, message: Message, previous: JSON) -> JSON:
        # The event has its own ts; the message keeps its ts and says who edited it when.
        now = self._next_ts()
        current = {**self._event_message(message), "edited": {"user": message.user, "ts": now}}
        return {
            "type": "message", "subtype": "message_changed", "hidden": True, "channel": message.channel,
            "ts": now, "event_ts": now, "channel_type": self._channel_type(message.channel),
            "message": current, "previous_message": previous,
        }

    def _deleted_event(self, message: Message) -> JSON:
        now = self._next_ts()
        return {
            "type": "message", "subtype": "message_deleted", "hidden": True, "channel": message.channel,
            "ts": now, "event_ts": now, "deleted_ts": message.ts, "channel_type": self._channel_type(message.channel),
            "previous_message": self._event_message(message),
        }

    def _echo(self, event: JSON) -> None:
        """Send the app an event about its own Web API call: afterwards, on its own, like Slack."""
        async def deliver() -> None:
            try:
                self.echoed.append(await self.send_event(event))
            except (AssertionError, ConnectionError) as exc:  # no socket (the app stopped) or no ack
                log.info("fake slack: could not echo %s: %s", event.get("subtype"), exc)

        task = asyncio.get_running_loop().create_task(deliver())
        self._echoes.add(task)
        task.add_done_callback(self._echoes.discard)

    def block_actions_payload(
        self, action_id: str, value: str | None = None, *, user_id: str = "U1", channel_id: str = "C1",
        message_ts: str | None = None, block_id: str = "actions", action_type: str = "button",
        actions: list[JSON] | None = None, state_values: JSON | None = None,
    ) -> JSON:
        user = self._user(user_id)
        message = self.message(channel_id, message_ts) if message_ts else None
        action: JSON = {
            "type": action_type, "action_id": action_id, "block_id": block_id, "action_ts": f"{time.time():.6f}",
        }
        if value is not None:
            action["value"] = value
        if action_type == "button":
            action["text"] = {"type": "plain_text", "text": action_id, "emoji": True}
        container: JSON = {"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": False}
        if message is not None and message.thread_ts:
            container["thread_ts"] = message.thread_ts
        return {
            "type": "block_actions",
            "user": {"id": user_id, "username": user["name"], "name": user["name"], "team_id": user["team_id"]},
            "api_app_id": self.app_id, "token": "fake-verification-token", "container": container,
            "trigger_id": self._trigger_id(user_id), "team": {"id": self.team_id, "domain": "fake"},
            "enterprise": {"id": self.enterprise_id, "name": "Fake Org"} if self.enterprise_id else None,
            "is_enterprise_install": self.enterprise_install,
            "channel": {"id": channel_id, "name": self._channel_name(channel_id)},
            "message": message.to_api() if message else None,
            "state": {"values": state_values or {}},
            "response_url": self._response_url(_ResponseTarget(channel_id, user_id, message_ts)),
            "actions": actions or [action],
        }

    # ------------------------------------------------------------------ internals: socket mode

    def _open_sockets(self) -> list[web.WebSocketResponse]:
        return [ws for ws in self._sockets if not ws.closed]

    async def _deliver(
        self, type: str, payload: JSON, retry_attempt: int, retry_reason: str,
        accepts_response_payload: bool | None, timeout: float,
    ) -> Delivery:
        if self.request_urls:
            return await self._deliver_http(type, payload, retry_attempt, retry_reason, timeout)
        await self.wait_connected(timeout)
        ws = self._pick_socket()
        if accepts_response_payload is None:
            accepts_response_payload = type == "slash_commands" or payload.get("type") in (
                "view_submission", "block_suggestion")
        envelope_id = str(uuid.uuid4())
        future: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        self._pending_acks[envelope_id] = future
        started = time.perf_counter()
        await ws.send_json({
            "envelope_id": envelope_id, "type": type, "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt, "retry_reason": retry_reason,
        })
        try:
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise AckTimeout(f"no ack for {type} envelope within {timeout}s\n{self.dump()}") from None
        finally:
            self._pending_acks.pop(envelope_id, None)
        latency = time.perf_counter() - started
        ack_payload = reply.get("payload")
        self.acks.append(Ack(envelope_id, type, ack_payload, latency))
        if type == "slash_commands" and ack_payload:
            self._show_response(ack_payload, _ResponseTarget(payload["channel_id"], payload["user_id"]), "ack")
        return Delivery(envelope_id, type, payload, ack_payload or {}, latency, self._numbers.get(ws, 0))

    async def _deliver_http(
        self, type: str, payload: JSON, retry_attempt: int, retry_reason: str, timeout: float
    ) -> Delivery:
        """An envelope as Slack's HTTP request: events as JSON, commands as a form, interactions
        as a form's `payload` field; the response's body (if any) is the ack's payload."""
        if type == "events_api":
            body = json.dumps(payload)
        elif type == "slash_commands":
            body = form_body(payload)
        else:
            body = form_body({"payload": json.dumps(payload)})
        headers = signed_headers(self.signing_secret, body)
        if retry_attempt:
            headers.update({"X-Slack-Retry-Num": str(retry_attempt), "X-Slack-Retry-Reason": retry_reason})
        started = time.perf_counter()
        for _ in self.request_urls:
            self._handed += 1
            number = (self._handed - 1) % len(self.request_urls) + 1
            url = self.request_urls[number - 1]
            try:
                async with ClientSession(timeout=ClientTimeout(total=timeout)) as client, client.post(
                    url, data=body.encode(), headers=headers
                ) as response:
                    status, text = response.status, await response.text()
                break
            except ClientConnectorError:  # as a load balancer would, on to the next
                log.info("fake slack: %s refused the connection", url)
            except TimeoutError:
                raise AckTimeout(f"no answer to {type} from {url} within {timeout}s\n{self.dump()}") from None
        else:
            raise ConnectionError(f"fake slack: none of {self.request_urls} took the connection")
        assert status == 200, f"{url} answered {type} with {status}: {_short(text)}"
        latency = time.perf_counter() - started
        ack_payload = json.loads(text) if text.lstrip().startswith("{") else None
        envelope_id = str(uuid.uuid4())
        self.acks.append(Ack(envelope_id, type, ack_payload, latency))
        if type == "slash_commands" and ack_payload:
            self._show_response(ack_payload, _ResponseTarget(payload["channel_id"], payload["user_id"]), "ack")
        return Delivery(envelope_id, type, payload, ack_payload or {}, latency, number)

    def _pick_socket(self) -> web.WebSocketResponse:
        """Slack picks one connection: with several apps' connections open, each in turn;
        else the newest (an app reconnecting opens the new one before closing the old)."""
        sockets = self._open_sockets()
        if not self.several_connections:
            return sockets[-1]
        self._handed += 1
        return sockets[(self._handed - 1) % len(sockets)]

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse()  # autoping answers slack_sdk's "sdk-ping-pong" pings
        await ws.prepare(request)
        self._sockets.append(ws)
        self.connections_opened += 1
        self._numbers[ws] = self.connections_opened
        await ws.send_json({
            "type": "hello", "num_connections": len(self._open_sockets()),
            "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        })
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                future = self._pending_acks.get(data.get("envelope_id", ""))
                if future is not None and not future.done():
                    if self.on_ack is not None:
                        self.on_ack(data)
                    future.set_result(data)
                else:
                    log.warning("fake slack: unexpected socket message %s", _short(data))
        finally:
            self._sockets.remove(ws)
        return ws

    # ------------------------------------------------------------------ internals: web API

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: JSON = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                args.update(body if isinstance(body, dict) else {})
            else:
                form = await request.post()
                for key, value in form.items():
                    args[key] = value.file.read() if isinstance(value, web.FileField) else value
        for key in _JSON_STRING_FIELDS:
            value = args.get(key)
            if isinstance(value, str) and value[:1] in ("[", "{"):
                args[key] = json.loads(value)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else args.pop("token", None)
        args.pop("token", None)
        call = ApiCall(method, args, time.time(), token, request.method)
        self.calls.append(call)

        if delay := self.delays.get(method):
            await asyncio.sleep(delay)
        for gate in [g for g in self._gates if g.method == method and g.matches(args)]:
            self._gates.remove(gate)
            gate.reached.set()
            await gate.release.wait()
        if self._disconnect_next.get(method):
            self._disconnect_next[method] -= 1
            call.response = {"ok": False, "error": "(connection cut)"}
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("fake slack: connection cut")
        headers = {"x-oauth-scopes": self.scopes}
        if self.rate_limits is not None and (retry_after := self.rate_limits.check(method, args, time.monotonic())):
            self.rate_limited.append(call)
            call.response = {"ok": False, "error": "ratelimited"}
            return web.json_response(
                call.response, status=429, headers={**headers, "Retry-After": str(math.ceil(retry_after))}
            )
        try:
            self._check_token(method, token)
            self._check_scope(method, args)
            queued = self._fail_next.get(method)
            matched = self._matching_failure(method, args) if not queued else None
            error, status = queued.pop(0) if queued else (matched or self.fail_methods.get(method), None)
            if error:
                raise SlackError(error, status=status)
            handler = self._methods.get(method)
            if handler is None:
                log.warning("fake slack: unhandled method %s %s, answering ok", method, _short(args))
                result: JSON = {}
            else:
                result = handler(args, call)  # type: ignore[assignment]
                if inspect.isawaitable(result):
                    result = await result
            call.response = {"ok": True, **result}
        except SlackError as e:
            call.response = {"ok": False, "error": e.error, **e.extra}
            if e.messages:
                call.response["response_metadata"] = {"messages": e.messages}
            if e.status == 429 or (e.status is None and e.error == "ratelimited"):
                return web.json_response(call.response, status=429, headers={**headers, "Retry-After": "1"})
            return web.json_response(call.response, status=e.status or 200, headers=headers)
        return web.json_response(call.response, headers=headers)

    def _check_token(self, method: str, token: str | None) -> None:
        if not token:
            raise SlackError("not_authed")
        if method == "apps.connections.open":
            if not token.startswith("xapp-"):
                raise SlackError("not_allowed_token_type")
            if self.app_token is not None and token != self.app_token:
                raise SlackError("invalid_auth")
        elif token.startswith("xapp-"):
            raise SlackError("not_allowed_token_type")
        elif not token.startswith(("xoxb-", "xoxp-")) or self.bot_token not in (None, token):
            raise SlackError("invalid_auth")

    def _check_scope(self, method: str, args: JSON) -> None:
        """Slack refuses a method whose scope the token lacks, saying what was needed
        and what the token has: ``{"error": "missing_scope", "needed", "provided"}``."""
        needed = self._needed_scopes(method, args)
        granted = set(self.scopes.split(","))
        if needed and not granted & set(needed):
            raise SlackError("missing_scope", extra={"needed": ",".join(needed), "provided": self.scopes})

    def _needed_scopes(self, method: str, args: JSON) -> tuple[str, ...]:
        if method in ("conversations.info", "conversations.replies", "conversations.history"):
            kind = self._channel_type(str(args.get("channel") or "C"))
            return (_KIND_SCOPES[kind][0 if method == "conversations.info" else 1],)
        if method == "users.conversations":  # the scope of each kind asked for (every one is needed)
            kinds = [_LIST_TYPES.get(t.strip()) for t in str(args.get("types") or "public_channel").split(",")]
            for kind in kinds:
                if kind and _KIND_SCOPES[kind][0] not in self.scopes.split(","):
                    return (_KIND_SCOPES[kind][0],)
            return ()
        return METHOD_SCOPES.get(method, ())

    # ------------------------------------------------------------------ internals: state

    def _next_ts(self) -> str:
        self._ts_us += 100
        return f"{self._ts_us // 1_000_000}.{self._ts_us % 1_000_000:06d}"

    def _use_ts(self, ts: str | None) -> str:
        if ts is None:
            return self._next_ts()
        sec, frac = _ts_key(ts)
        self._ts_us = max(self._ts_us, sec * 1_000_000 + frac)  # later generated ts sort after it
        return ts

    def _store(self, message: Message) -> Message:
        self._messages.append(message)
        if message.user == self.bot_user_id and message.thread_ts:
            self._status_cleared((message.channel, message.thread_ts))
        return message

    def _post(self, channel: str, text: str, thread_ts: str | None = None, **fields: Any) -> Message:
        message = Message(channel, self._next_ts(), text, thread_ts or None, self.bot_user_id, self.bot_id, **fields)
        return self._store(message)

    def _require_member(self, channel: str | None) -> str:
        if not channel:
            raise SlackError("channel_not_found")
        if self.channels_with_bot is not None and channel not in self.channels_with_bot and not channel.startswith("D"):
            raise SlackError("not_in_channel")
        return channel

    def _find(self, channel: str | None, ts: str | None) -> Message:
        message = self.message(channel or "", ts or "")
        if message is None:
            raise SlackError("message_not_found")
        return message

    def _channel_type(self, channel: str) -> str:
        if channel.startswith("D"):
            return "im"
        return "group" if channel.startswith("G") or channel in self.private_channels else "channel"

    def _channel_name(self, channel: str) -> str:
        return "directmessage" if channel.startswith("D") else f"chan-{channel.lower()}"

    def _user(self, user_id: str) -> JSON:
        return self._users.get(user_id) or self.add_user(user_id)

    def _trigger_id(self, user: str = "") -> str:
        """A fresh trigger_id, as each interaction envelope carries: it opens one view,
        within `trigger_lifetime` seconds (see `_views_open`)."""
        trigger = f"{next(self._ids)}.{self.team_id[1:] or '1'}.{uuid.uuid4().hex}"
        self._triggers[trigger] = (time.monotonic(), user)
        return trigger

    def _response_url(self, target: _ResponseTarget) -> str:
        rid = uuid.uuid4().hex
        self._response_targets[rid] = target
        return f"{self.base_url}/response/{rid}"

    def _show_response(self, body: JSON, target: _ResponseTarget, source: str) -> None:
        """Render a command ack or response_url post the way Slack shows it; past Slack's
        limits it is refused, as a chat.postMessage would be."""
        text, blocks, thread_ts = body.get("text", ""), body.get("blocks"), body.get("thread_ts")
        _check_content(text, blocks)
        shown = next((e for e in self._ephemerals if target.message_ts and e.ts == target.message_ts), None)
        if shown is not None and (body.get("replace_original") or body.get("delete_original")):
            # An ephemeral message clicked: only its own person sees it replaced or gone.
            self._ephemerals.remove(shown)
            if body.get("replace_original"):
                self._ephemerals.append(dataclasses.replace(shown, text=text, blocks=blocks, source=source))
        elif body.get("delete_original") and target.message_ts:
            self._find(target.channel, target.message_ts).deleted = True
        elif body.get("replace_original") and target.message_ts:
            original = self._find(target.channel, target.message_ts)
            original.text, original.blocks = text, blocks
            original.edits += 1
        elif body.get("response_type") == "in_channel":
            self._post(target.channel, text, thread_ts, blocks=blocks)
        else:
            ephemeral = Ephemeral(target.channel, target.user, text, blocks, thread_ts, source, self._next_ts())
            self._ephemerals.append(ephemeral)

    def _file_object(self, file_id: str, filename: str, title: str, size: int, mimetype: str, user: str) -> JSON:
        meta = {
            "id": file_id, "name": filename, "title": title, "mimetype": mimetype,
            "filetype": filename.rpartition(".")[2] if "." in filename else "text", "size": size, "user": user,
            "created": int(time.time()), "is_external": False, "mode": "hosted",
            "url_private": f"{self.base_url}/files-pri/{file_id}/{quote(filename)}",
            "url_private_download": f"{self.base_url}/files-pri/{file_id}/{quote(filename)}",
            "permalink": f"https://fake.slack.com/files/{user}/{file_id}/{filename}",
        }
        self._file_meta[file_id] = meta
        return meta

    # ------------------------------------------------------------------ method handlers

    def _auth_test(self, args: JSON, call: ApiCall) -> JSON:
        return {
            "url": "https://fake.slack.com/", "team": "Fake Team", "user": self._users[self.bot_user_id]["name"],
            "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id, "app_id": self.app_id,
            "is_enterprise_install": self.enterprise_install,
            **({"enterprise_id": self.enterprise_id} if self.enterprise_id else {}),
        }

    def _apps_connections_open(self, args: JSON, call: ApiCall) -> JSON:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return {"url": f"ws://127.0.0.1:{self.port}/link?ticket={ticket}&app_id={self.app_id}"}

    def _chat_post_message(self, args: JSON, call: ApiCall) -> JSON:
        channel = self._require_member(args.get("channel"))
        text = args.get("text") or args.get("markdown_text") or ""
        blocks = args.get("blocks")
        if not (text or blocks or args.get("attachments")):
            raise SlackError("no_text")
        _check_content(text, blocks)
        broadcast = str(args.get("reply_broadcast")).lower() == "true"
        message = self._post(channel, text, args.get("thread_ts"), blocks=blocks, metadata=args.get("metadata"),
                             subtype="thread_broadcast" if broadcast else None)
        return {"channel": channel, "ts": message.ts, "message": message.to_api()}

    def _chat_update(self, args: JSON, call: ApiCall) -> JSON:
        message = self._find(args.get("channel"), args.get("ts"))
        if message.user != self.bot_user_id:
            raise SlackError("cant_update_message")
        if message.stream_state == "streaming":
            raise SlackError("streaming_state_conflict")
        text = args.get("text", args.get("markdown_text"))
        _check_content(text, args.get("blocks"))
        previous = self._event_message(message)
        if text is not None:
            message.text = text
        if "blocks" in args:
            message.blocks = args["blocks"] or None
        message.edits += 1
        if self.echo_changes:
            self._echo(self._changed_event(message, previous))
        return {"channel": message.channel, "ts": message.ts, "text": message.text, "message": message.to_api()}

    def _chat_post_ephemeral(self, args: JSON, call: ApiCall) -> JSON:
        channel = self._require_member(args.get("channel"))
        if not args.get("user"):
            raise SlackError("user_not_found")
        if not self.is_member(channel, str(args["user"])):
            raise SlackError("user_not_in_channel")  # Slack shows an ephemeral only to a member
        _check_content(args.get("text"), args.get("blocks"))
        ephemeral = Ephemeral(channel, args["user"], args.get("text", ""), args.get("blocks"), args.get("thread_ts"),
                              "chat.postEphemeral", self._next_ts())
        self._ephemerals.append(ephemeral)
        return {"message_ts": ephemeral.ts}

    def _chat_delete(self, args: JSON, call: ApiCall) -> JSON:
        message = self._find(args.get("channel"), args.get("ts"))
        if message.user != self.bot_user_id or message.stream_state == "streaming":
            raise SlackError("cant_delete_message")  # a stream still open can't be deleted either
        message.deleted = True
        if self.echo_changes:
            self._echo(self._deleted_event(message))
        return {"channel": message.channel, "ts": message.ts}

    def _chat_get_permalink(self, args: JSON, call: ApiCall) -> JSON:
        message = self._find(args.get("channel"), args.get("message_ts"))
        link = f"https://fake.slack.com/archives/{message.channel}/p{message.ts.replace('.', '')}"
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={message.channel}"
        return {"channel": message.channel, "permalink": link}

    def _chat_start_stream(self, args: JSON, call: ApiCall) -> JSON:
        if not self.streaming:
            raise SlackError(self.streaming_error)
        channel = self._require_member(args.get("channel"))
        if not args.get("thread_ts"):
            raise SlackError("invalid_arguments")
        for key in ("recipient_team_id", "recipient_user_id"):
            if not args.get(key):
                raise SlackError(f"missing_{key}")
        self._check_recipient_team(str(args["recipient_team_id"]), str(args["recipient_user_id"]))
        message = Message(channel, "", "", args["thread_ts"], self.bot_user_id, self.bot_id, streamed=True,
                          stream_state="streaming", stream_started=time.monotonic())
        self._stream_content(message, args)  # before storing: a refused start leaves nothing behind
        message.stream_recipient, message.stream_first = str(args["recipient_user_id"]), message.text
        message.ts = self._next_ts()
        self._store(message)
        return {"channel": channel, "ts": message.ts}

    def _check_recipient_team(self, team: str, user: str) -> None:
        """Slack documents ``recipient_team_id`` as "the team the user receiving the stream
        belongs to" (example ``T…``); Bolt's say_stream sends ``context.team_id``, or the
        organisation only when a request names no workspace (an org-wide install). Assumed
        from those two (Slack's exact answer is not documented): a workspace (T…) the
        recipient belongs to is taken, an organisation (E…) only from an org-wide install
        of that organisation; anything else is refused with ``invalid_arguments``."""
        if team.startswith("E"):
            if not (self.enterprise_install and team == self.enterprise_id):
                raise SlackError("invalid_arguments")
            return
        recipient = self._users.get(user)
        if recipient is not None and recipient["team_id"] != team:
            raise SlackError("invalid_arguments")  # a stream goes to a person in their own team

    def _chat_append_stream(self, args: JSON, call: ApiCall) -> JSON:
        message = self._live_stream(args)
        if self.stream_max_appends is not None and message.appends >= self.stream_max_appends:
            message.stream_state = "dead"
            raise SlackError(message.stream_error)
        if args.get("markdown_text") is None and args.get("chunks") is None:
            raise SlackError("invalid_arguments")
        self._stream_content(message, args)
        message.appends += 1
        return {"channel": message.channel, "ts": message.ts}

    def _chat_stop_stream(self, args: JSON, call: ApiCall) -> JSON:
        message = self._live_stream(args)
        _check_content(None, args.get("blocks"))
        self._stream_content(message, args)
        if args.get("blocks"):
            message.blocks = args["blocks"]
        if args.get("metadata"):
            message.metadata = args["metadata"]
        message.stream_state = "stopped"
        return {"channel": message.channel, "ts": message.ts, "message": message.to_api()}

    def _live_stream(self, args: JSON) -> Message:
        message = self._find(args.get("channel"), args.get("ts"))
        if not message.streamed or message.user != self.bot_user_id:
            raise SlackError("message_not_owned_by_app")
        self._expire_streams()
        if message.stream_state != "streaming":
            raise SlackError(message.stream_error)
        return message

    def _stream_content(self, message: Message, args: JSON) -> None:
        markdown, chunks = args.get("markdown_text"), args.get("chunks")
        if markdown is None and not chunks:
            return
        if markdown is not None and chunks:
            raise SlackError("invalid_arguments")
        for chunk in chunks or []:
            _check_chunk(chunk)
        mode = "text" if markdown is not None else "chunks"
        if self.strict_stream_mode and message.stream_mode not in (None, mode):
            raise SlackError("streaming_mode_mismatch")
        message.stream_mode = message.stream_mode or mode
        if markdown is not None:
            texts = [markdown]
        else:
            texts = [c.get("text", "") for c in chunks if c.get("type") == "markdown_text"]
        if any(len(t) > _MAX_MARKDOWN for t in texts):
            raise SlackError("msg_too_long")
        message.text += "".join(texts)
        for chunk in chunks or []:
            if chunk.get("type") == "markdown_text":
                continue
            message.chunks.append(chunk)
            if chunk.get("type") == "task_update" and "id" in chunk:
                task = message.tasks.setdefault(chunk["id"], {})
                details = task.get("details", "") + chunk.get("details", "")  # details append, the rest replace
                task.update(chunk)
                if details:
                    task["details"] = details

    def _conversations_join(self, args: JSON, call: ApiCall) -> JSON:
        channel = args.get("channel")
        if not channel:
            raise SlackError("channel_not_found")
        if self._channel_type(channel) != "channel":
            raise SlackError("method_not_supported_for_channel_type")
        if self.channels_with_bot is not None:
            self.channels_with_bot.add(channel)
        return {"channel": self._channel_info(channel)}

    def _conversations_info(self, args: JSON, call: ApiCall) -> JSON:
        if not args.get("channel"):
            raise SlackError("channel_not_found")
        return {"channel": self._channel_info(args["channel"])}

    def _channel_info(self, channel: str) -> JSON:
        kind = self._channel_type(channel)
        member = self.channels_with_bot is None or channel in self.channels_with_bot or kind == "im"
        return {
            "id": channel, "name": self._channel_name(channel), "is_channel": kind == "channel",
            "is_group": kind == "group", "is_im": kind == "im", "is_private": kind != "channel",
            "is_archived": False, "is_member": member, "context_team_id": self.team_id,
        }

    def _conversations_replies(self, args: JSON, call: ApiCall) -> JSON:
        channel = self._require_member(args.get("channel"))
        if self.message(channel, args.get("ts", "")) is None:
            raise SlackError("thread_not_found")
        found = self.thread(channel, args["ts"], include_root=True)
        return {"messages": [m.to_api() for m in found], "has_more": False, "response_metadata": {"next_cursor": ""}}

    def _conversations_history(self, args: JSON, call: ApiCall) -> JSON:
        channel = self._require_member(args.get("channel"))
        top = [m for m in self.messages if m.channel == channel and (not m.is_reply or m.subtype == "thread_broadcast")]
        top.sort(key=lambda m: _ts_key(m.ts), reverse=True)
        limit = int(args.get("limit") or 100)
        return {"messages": [m.to_api() for m in top[:limit]], "has_more": len(top) > limit,
                "response_metadata": {"next_cursor": ""}}

    def _reactions_add(self, args: JSON, call: ApiCall) -> JSON:
        message = self._find(args.get("channel"), args.get("timestamp"))
        users = message.reactions.setdefault(args.get("name", ""), [])
        if self.bot_user_id in users:
            raise SlackError("already_reacted")
        users.append(self.bot_user_id)
        return {}

    def _reactions_remove(self, args: JSON, call: ApiCall) -> JSON:
        message = self._find(args.get("channel"), args.get("timestamp"))
        users = message.reactions.get(args.get("name", ""), [])
        if self.bot_user_id not in users:
            raise SlackError("no_reaction")
        users.remove(self.bot_user_id)
        if not users:
            del message.reactions[args["name"]]
        return {}

    def _users_conversations(self, args: JSON, call: ApiCall) -> JSON:
        """The conversations ``user`` is in. With a bot token, as Slack documents: public
        channels they're in, and non-public ones only when the bot is in them too."""
        user = args.get("user")
        if not user or user not in self._users:
            raise SlackError("user_not_found")  # what Slack answers for an unknown user
        wanted = {"public_channel": "channel", "private_channel": "group", "mpim": "mpim", "im": "im"}
        types = str(args.get("types") or "public_channel").split(",")
        if any(t.strip() not in wanted for t in types):
            raise SlackError("invalid_types")
        kinds = {wanted[t.strip()] for t in types}
        include_archived = str(args.get("exclude_archived", "false")).lower() in ("0", "false")
        limit = args.get("limit") or 100
        if not str(limit).isdigit():
            raise SlackError("invalid_limit")
        limit = min(max(int(limit), 1), 1000)
        bot_token = (call.token or "").startswith("xoxb-")
        found = []
        for channel in sorted(self._known_channels()):
            kind = self._channel_type(channel)
            if kind not in kinds or not self.is_member(channel, user):
                continue
            bot_in = self.channels_with_bot is None or channel in self.channels_with_bot or kind == "im"
            if bot_token and kind != "channel" and not bot_in:
                continue
            if not include_archived and channel in self.archived_channels:
                continue
            found.append({**self._channel_info(channel), "is_archived": channel in self.archived_channels})
        cursor = str(args.get("cursor") or "")
        if cursor:
            try:
                start = int(base64.b64decode(cursor.encode(), validate=True).decode().removeprefix("offset:"))
            except ValueError:
                raise SlackError("invalid_cursor") from None
        else:
            start = 0
        page = found[start:start + limit]
        more = start + limit < len(found)
        next_cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
        return {"channels": page, "response_metadata": {"next_cursor": next_cursor}}

    def _known_channels(self) -> set[str]:
        """Every channel the fake has heard of: configured, posted in, or used in a payload."""
        known = set(self.members) | self.private_channels | set(self.archived_channels)
        known |= set(self.channels_with_bot or ())
        known |= {m.channel for m in self._messages} | {e.channel for e in self._ephemerals}
        known |= {t.channel for t in self._response_targets.values()}
        return known

    def _users_info(self, args: JSON, call: ApiCall) -> JSON:
        # Only people the workspace has (added, or seen acting in a payload): an id
        # mentioned in text, of someone long gone or mistyped, is not found.
        if args.get("user") not in self._users:
            raise SlackError("user_not_found")
        return {"user": self._users[args["user"]]}

    def _users_list(self, args: JSON, call: ApiCall) -> JSON:
        """Everyone the workspace has (bots too), a page at a time; the cursor is the next offset."""
        cursor = str(args.get("cursor") or "0")
        if not cursor.isdigit():
            raise SlackError("invalid_cursor")
        start, size = int(cursor), min(int(args.get("limit") or 1000), self.users_per_page)
        people = list(self._users.values())
        rest = start + size < len(people)
        return {"members": people[start:start + size],
                "response_metadata": {"next_cursor": str(start + size) if rest else ""}}

    def make_admin(self, user_id: str, role: str = "is_admin") -> None:
        """users.info will say ``user_id`` is a workspace admin: ``role`` (``is_admin``,
        ``is_owner`` or ``is_primary_owner``) turns true, and only that flag."""
        self._user(user_id)[role] = True

    def _assistant_set_status(self, args: JSON, call: ApiCall) -> JSON:
        channel, thread_ts = str(args.get("channel_id") or ""), str(args.get("thread_ts") or "")
        if not channel or not thread_ts or "status" not in args:
            raise SlackError("invalid_arguments")
        if channel in self.status_refusals:
            raise SlackError(self.status_refusals[channel])
        if len(args.get("loading_messages") or []) > 10:  # Slack takes up to 10
            raise SlackError("invalid_arguments")
        key = (channel, thread_ts)
        self.thread_status(channel, thread_ts)  # an expired one is cleared first
        status = str(args["status"])
        self.statuses[key] = status
        self._status_set_at[key] = time.monotonic()
        self.status_history.setdefault(key, []).append(status)
        self.status_loading[key] = [str(m) for m in args.get("loading_messages") or []]
        return {}

    def thread_status(self, channel: str, thread_ts: str) -> str:
        """What the thread shows now: a status lasts `status_lifetime` seconds after it was set."""
        key = (channel, thread_ts)
        if self.statuses.get(key) and time.monotonic() - self._status_set_at[key] >= self.status_lifetime:
            self._status_cleared(key)
        return self.statuses.get(key, "")

    def _status_cleared(self, key: tuple[str, str]) -> None:
        if self.statuses.get(key):
            self.statuses[key] = ""
            self.status_history[key].append("")

    def _files_get_upload_url(self, args: JSON, call: ApiCall) -> JSON:
        if not args.get("filename") or not str(args.get("length", "")).isdigit():
            raise SlackError("invalid_arguments")
        if int(args["length"]) == 0:
            # Slack refuses an empty file here. Assumed from a report in node-slack-sdk's
            # issues (#1563: `invalid_arguments`, "must be greater than 1 [json-pointer:/length]"
            # for a file not yet written); Slack's method page lists no error of its own for it.
            raise SlackError("invalid_arguments", ["[ERROR] must be greater than 1 [json-pointer:/length]"])
        file_id = f"F{next(self._ids):08d}"
        self._files[file_id] = _PendingFile(args["filename"], int(args["length"]))
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, args: JSON, call: ApiCall) -> JSON:
        files = args.get("files")
        if not isinstance(files, list) or not files:
            raise SlackError("invalid_arguments")
        channel = args.get("channel_id") or (args.get("channels") or "").split(",")[0] or None
        if channel:
            self._require_member(channel)
        thread_ts, comment = args.get("thread_ts"), args.get("initial_comment")
        done: list[tuple[JSON, Upload]] = []
        for item in files:
            pending = self._files.get(item.get("id", ""))
            if pending is None or pending.content is None:
                raise SlackError("file_not_found")
            title = item.get("title") or pending.filename
            meta = self._file_object(item["id"], pending.filename, title, len(pending.content),
                                     "text/plain", self.bot_user_id)
            upload = Upload(item["id"], pending.filename, pending.content, title, channel, thread_ts, comment)
            done.append((meta, upload))
        if channel:
            # Slack shows shared files in one message carrying the initial comment, or else
            # the blocks given: "If the initial_comment field is provided, the blocks field
            # is ignored" (the method's page).
            blocks = None if comment else args.get("blocks") or None
            _check_content(comment or "", blocks)
            message = self._post(channel, comment or "", thread_ts, files=[meta for meta, _ in done], blocks=blocks)
            for _, upload in done:
                upload.message_ts = message.ts
        self.uploads += [upload for _, upload in done]
        return {"files": [meta for meta, _ in done]}

    def _files_info(self, args: JSON, call: ApiCall) -> JSON:
        """The whole file object (URLs included), as for a file in a Slack Connect channel."""
        file_id = str(args.get("file") or "")
        meta = self._file_meta.get(file_id)
        if meta is None:
            raise SlackError("file_not_found")
        if file_id not in self._files and not meta.get("is_external"):
            raise SlackError("file_deleted")
        return {"file": dict(meta), "comments": [], "response_metadata": {"next_cursor": ""}}

    # ------------------------------------------------------------------ other endpoints

    async def _handle_upload(self, request: web.Request) -> web.Response:
        pending = self._files.get(request.match_info["file_id"])
        if pending is None:
            return web.Response(status=404, text="file not found")
        if self.upload_failures:  # the upload host is busy or failing, as files.slack.com can be
            status = self.upload_failures.pop(0)
            headers = {"Retry-After": "1"} if status == 429 else {}
            return web.Response(status=status, text="try again later", headers=headers)
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            part = next((v for v in form.values() if isinstance(v, web.FileField)), None)
            content = part.file.read() if part is not None else b""
        else:
            content = await request.read()
        pending.content = content
        # slack_sdk checks the status and reads a text/plain body.
        return web.Response(text=f"OK - {len(content)}", content_type="text/plain")

    # A download's body is written in pieces of this many bytes with a short pause
    # between them, so a client that reads "what has arrived so far" gets only part.
    download_piece = 8 * 1024

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        pending = self._files.get(request.match_info["file_id"])
        if pending is None or pending.content is None:
            return web.Response(status=404, text="file not found")
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        try:
            self._check_token("files.download", token if auth.startswith("Bearer ") else None)
        except SlackError:
            # What Slack really does without a valid token: a 200 HTML sign-in page.
            page = "<!DOCTYPE html><html><body>Sign in to Slack</body></html>"
            return web.Response(text=page, content_type="text/html")
        if pending.redirect_to is not None:
            return web.Response(status=302, headers={"Location": pending.redirect_to})
        mimetype = self._file_meta.get(request.match_info["file_id"], {}).get("mimetype", "application/octet-stream")
        response = web.StreamResponse(headers={"Content-Type": mimetype})
        response.enable_chunked_encoding()  # no Content-Length: the client must read to the end
        await response.prepare(request)
        file_id = request.match_info["file_id"]
        try:
            for start in range(0, len(pending.content), self.download_piece):
                await response.write(pending.content[start:start + self.download_piece])
                if start == 0:
                    await self._download_gate(file_id, pending.filename)
                await asyncio.sleep(0.001)
            await response.write_eof()
            self.downloads_served.append(file_id)
        except ConnectionResetError:
            pass  # the client stopped reading (a too-large file); fine for Slack too
        return response

    async def _download_gate(self, file_id: str, filename: str) -> None:
        """A download held by `hold_next("files.download")` waits here, part sent."""
        args = {"file": file_id, "name": filename}
        for gate in [g for g in self._gates if g.method == "files.download" and g.matches(args)]:
            self._gates.remove(gate)
            gate.reached.set()
            await gate.release.wait()

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        rid = request.match_info["rid"]
        target = self._response_targets.get(rid)
        if target is None:
            return web.Response(status=404, text="no_service")
        if time.monotonic() - target.issued > self.response_url_lifetime:
            return web.Response(status=404, text="expired_url")
        if target.uses >= RESPONSE_URL_USES:
            return web.Response(status=404, text="used_url")
        target.uses += 1
        text = await request.text()
        body = json.loads(text) if text.lstrip().startswith("{") else dict(await request.post())
        self.response_posts.append((rid, body))
        try:
            self._show_response(body, target, "response_url")
        except SlackError as e:
            return web.Response(status=404, text=e.error)
        return web.Response(text="ok", content_type="text/plain")

    # ------------------------------------------------------------------ App Home and feedback buttons

    async def send_app_home_opened(self, user_id: str = "U1", tab: str = "home", timeout: float = 5.0) -> Delivery:
        """``user_id`` opens the app's Home tab (or its Messages tab): ``app_home_opened``."""
        self._user(user_id)
        event = {
            "type": "app_home_opened", "user": user_id, "channel": f"D{user_id}", "tab": tab,
            "event_ts": f"{time.time():.6f}",
        }
        return await self.send_event(event, timeout=timeout)

    def _views_publish(self, args: JSON, call: ApiCall) -> JSON:
        """views.publish: a Home tab view (at most 100 blocks) for a person the workspace has."""
        user, view = args.get("user_id"), args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not user or user not in self._users:
            raise SlackError("user_not_found" if user else "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "home":
            raise SlackError("invalid_arguments", ["[ERROR] view type must be home [json-pointer:/view/type]"])
        blocks = view.get("blocks") or []
        problems = [] if len(blocks) <= 100 else ["[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"]
        problems += _element_problems(blocks, "/view/blocks")
        if problems:
            raise SlackError("invalid_arguments", problems)
        self.home_views[user] = view
        return {"view": {"id": f"V{next(self._ids):08d}", "team_id": self.team_id, **view}}

    async def send_feedback(self, message_ts: str, positive: bool, *, user_id: str = "U1",
                            channel_id: str = "C1") -> Delivery:
        """``user_id`` clicks a feedback button of the message at ``message_ts``: the action
        carries that button's value and text, as Slack sends a feedback_buttons click."""
        message = self._find(channel_id, message_ts)
        block, element = next(
            (b, e) for b in message.blocks or [] if b.get("type") == "context_actions"
            for e in b.get("elements", []) if e.get("type") == "feedback_buttons"
        )
        button = element["positive_button" if positive else "negative_button"]
        action = {
            "type": "feedback_buttons", "action_id": element.get("action_id", ""),
            "block_id": block.get("block_id", "feedback"), "value": button["value"], "text": button["text"],
            "action_ts": f"{time.time():.6f}",
        }
        return await self.send_action(
            action["action_id"], button["value"], user_id=user_id, channel_id=channel_id, message_ts=message_ts,
            actions=[action],
        )

    # ------------------------------------------------------------------ modals (views.open, view_submission)

    def _views_open(self, args: JSON, call: ApiCall) -> JSON:
        """Slack opens a modal only for a fresh trigger_id (one interaction's, within 3 s,
        used once) and a valid view."""
        trigger = str(args.get("trigger_id") or "")
        issued = self._triggers.pop(trigger, None)
        if issued is None:
            raise SlackError("invalid_trigger_id")
        if time.monotonic() - issued[0] > self.trigger_lifetime:
            raise SlackError("expired_trigger_id")
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        problems = _view_problems(view)
        if problems:
            raise SlackError("invalid_arguments", problems)
        opened = OpenView(f"V{next(self._ids):08d}", issued[1], {**view, "state": {"values": {}}})
        self.views.append(opened)
        return {"view": {"id": opened.id, **view}}

    def expire_triggers(self) -> None:
        """Every trigger_id issued so far is too old (the app took longer than 3 s)."""
        self._triggers = {t: (issued - self.trigger_lifetime - 1, user) for t, (issued, user) in self._triggers.items()}

    async def submit_view(
        self, view: OpenView, values: JSON, *, user_id: str | None = None, timeout: float = 5.0,
    ) -> Delivery:
        """The person presses the modal's submit button: a ``view_submission`` with the
        inputs' state (``{block_id: {action_id: {"type": ..., "value": ...}}}``)."""
        user_id = user_id or view.user
        user = self._user(user_id)
        payload = {
            "type": "view_submission", "api_app_id": self.app_id, "token": "fake-verification-token",
            "team": {"id": self.team_id, "domain": "fake"}, "trigger_id": self._trigger_id(user_id),
            "user": {"id": user_id, "username": user["name"], "name": user["name"], "team_id": user["team_id"]},
            "enterprise": {"id": self.enterprise_id, "name": "Fake Org"} if self.enterprise_id else None,
            "is_enterprise_install": self.enterprise_install,
            "view": {**view.view, "id": view.id, "state": {"values": values}, "team_id": self.team_id,
                     "app_id": self.app_id, "bot_id": self.bot_id},
            "response_urls": [],
        }
        return await self._deliver("interactive", payload, 0, "", None, timeout)


_VIEW_LIMITS = {"title": 24, "submit": 24, "close": 24, "callback_id": 255, "private_metadata": 3000, "blocks": 100}


def _view_problems(view: Any) -> list[str]:
    """What Slack refuses in a modal: wrong type, title/buttons too long or missing, too many
    blocks, no callback_id to route its submission, inputs without a submit button."""
    if not isinstance(view, dict) or view.get("type") != "modal":
        return ["[ERROR] must be a modal view [json-pointer:/view/type]"]
    problems = []
    for key, limit in _VIEW_LIMITS.items():
        value = view.get(key)
        size = len(value) if key == "blocks" and isinstance(value, list) else len(_obj_text(value) or "")
        if size > limit:
            problems.append(f"[ERROR] must be at most {limit} [json-pointer:/view/{key}]")
    if not _obj_text(view.get("title")).strip():
        problems.append("[ERROR] missing required field: title [json-pointer:/view/title]")
    if not view.get("callback_id"):
        problems.append("[ERROR] missing required field: callback_id [json-pointer:/view/callback_id]")
    blocks = view.get("blocks") or []
    if any(b.get("type") == "input" for b in blocks) and not view.get("submit"):
        problems.append("[ERROR] submit is required when the view has input blocks [json-pointer:/view/submit]")
    return problems + _element_problems(blocks, "/view/blocks")
