"""HTTP mode's front door: Slack's signature and replay checks run on the raw body,
before anything parses it, and only then does Bolt see the request.

Slow clients are bounded before any of that: a request's head and its body must each
arrive in time (see HttpLimits).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)

# Slack's payloads are a few KB; a large body is not from Slack (aiohttp answers 413).
MAX_REQUEST_BYTES = 1024 * 1024
# SignatureVerifier accepts timestamps up to 5 minutes either side of now.
SLACK_WINDOW_SECONDS = 5 * 60
# Remember a pair a little past the window, so it is never forgotten while the
# verifier, having read the clock a moment earlier, could still accept it.
_REMEMBER_MARGIN_SECONDS = 60
# After refusing a request whose body is still coming, aiohttp reads and drops the rest for
# this long before closing (so the client sees the answer, not a reset); keep that short.
_LINGER_SECONDS = 1.0


@dataclass(frozen=True)
class HttpLimits:
    """How long a client may take to send a request.

    Slack sends each request in one go and wants an answer within 3 s, so the defaults
    leave it ample room and a slow client none to hold connections for long.
    """

    # Seconds for a request's head (request line and headers) to arrive, counted from the
    # connection opening or from the previous response; so also how long an idle kept-alive
    # connection stays open. (aiohttp's keep-alive timer: it runs from the connection's start
    # and is not put off by bytes of a head that is still incomplete.)
    head_timeout: float = 10.0
    # Seconds to read a /slack/events body once its head is in (at most MAX_REQUEST_BYTES).
    body_timeout: float = 10.0

    def __post_init__(self) -> None:
        # aiohttp takes a head timeout of 0 as "never": refuse it rather than run unbounded.
        if min(self.head_timeout, self.body_timeout) <= 0:
            raise ValueError(f"HTTP limits must be positive: {self}")


DEFAULT_LIMITS = HttpLimits()


class ReplayGuard:
    """Refuses a second delivery of a signed request: the same (timestamp, signature) pair.

    Slack's retries are new requests (new timestamp and signature, plus
    X-Slack-Retry-Num), so they pass. Only pairs that passed the signature
    check are remembered, and each is forgotten once its timestamp is outside
    Slack's window (a replay would fail the timestamp check by then), so the
    memory is bounded by Slack's own request rate.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._seen: set[tuple[str, str]] = set()
        self._expiry: list[tuple[int, tuple[str, str]]] = []  # min-heap of (forget after, pair)

    def __len__(self) -> int:
        return len(self._seen)

    def first_time(self, timestamp: str, signature: str) -> bool:
        """True (and remembered) the first time a verified pair is seen, False after.

        `timestamp` must already have passed the signature check (a whole number).
        """
        self._forget_expired()
        pair = (timestamp, signature)
        if pair in self._seen:
            return False
        self._seen.add(pair)
        heapq.heappush(self._expiry, (int(timestamp) + SLACK_WINDOW_SECONDS + _REMEMBER_MARGIN_SECONDS, pair))
        return True

    def _forget_expired(self) -> None:
        now = self._clock()
        while self._expiry and self._expiry[0][0] < now:
            _, pair = heapq.heappop(self._expiry)
            self._seen.discard(pair)


def _refuse(reason: str) -> web.Response:
    # Nothing of the request (body, signature) is logged: it is untrusted input.
    log.info("refused a request to /slack/events: %s", reason)
    return web.Response(status=401, text="invalid request")


async def _read_body(request: web.Request, timeout: float) -> bytes | None:
    """The raw body, or None if it did not all arrive within `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            return await request.read()  # capped by client_max_size (413 beyond it)
    except TimeoutError:
        return None


def build_web_app(app: AsyncApp, signing_secret: str, limits: HttpLimits = DEFAULT_LIMITS) -> web.Application:
    """Slack's requests at POST /slack/events and GET /healthz for load balancers.

    A request reaches Bolt only if its raw body arrived within the body timeout and carries a
    valid signature within Slack's 5-minute window and was not accepted before; Bolt checks
    the signature again (defence in depth).
    """
    verifier = SignatureVerifier(signing_secret)  # raises on an empty secret: fail closed
    guard = ReplayGuard()

    async def events(request: web.Request) -> web.Response:
        raw = await _read_body(request, limits.body_timeout)
        if raw is None:  # nothing of it reaches Bolt
            log.info("refused a request to /slack/events: body not received within %ss", limits.body_timeout)
            response = web.Response(status=408, text="request timeout")
            response.force_close()
            return response
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:  # Slack sends UTF-8; such a body cannot be verified
            return _refuse("body is not UTF-8")
        timestamp = request.headers.get("X-Slack-Request-Timestamp")
        signature = request.headers.get("X-Slack-Signature")
        try:
            valid = verifier.is_valid(body, timestamp, signature)
        except (ValueError, TypeError):  # a timestamp that is not a number; a non-ASCII signature
            valid = False
        if not valid or timestamp is None or signature is None:  # (is_valid refuses None too)
            return _refuse("missing or invalid signature, or timestamp outside 5 minutes")
        if not guard.first_time(timestamp, signature):
            return _refuse("replay of a request already accepted")
        # Only now is the body parsed (by Bolt, from the text already read).
        # First value of each header, as checked above (a repeated header cannot differ for Bolt).
        headers: dict[str, str | Sequence[str]] = dict(request.headers)
        bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=headers)
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    async def healthz(request: web.Request) -> web.Response:
        # Up or not, nothing more: load balancers need no more, strangers should learn no more.
        return web.json_response({"ok": True})

    web_app = web.Application(
        client_max_size=MAX_REQUEST_BYTES,
        # aiohttp's keep-alive timer closes a connection still waiting for a complete head.
        handler_args={"keepalive_timeout": limits.head_timeout, "lingering_time": _LINGER_SECONDS},
    )
    web_app.router.add_post("/slack/events", events)
    web_app.router.add_get("/healthz", healthz)
    return web_app
