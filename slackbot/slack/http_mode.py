"""HTTP mode's front door: Slack's signature and replay checks run on the raw body,
before anything parses it, and only then does Bolt see the request.

Slow clients are bounded before any of that: a request's head and its body must each
arrive in time, and only so many connections are open at once (see HttpLimits).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import resource
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import cast

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)

# asyncio accepts up to `backlog` connections per wake-up, each holding a descriptor before
# the connection cap sees it, and a connection the cap closes lets go of its descriptor only
# on the loop's next turn, so several bursts can be open at once (ACCEPT_BURSTS_HELD are set
# aside). It is also the kernel's queue of connections not yet accepted: small, as the loop
# accepts at once and a slow-client flood should not queue up in the kernel either.
ACCEPT_BURST = 16
ACCEPT_BURSTS_HELD = 4

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
    """How long a client may take to send a request, and how many may be connected at once.

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
    # Connections open at once; lowered to fit the open-files limit if that is less.
    max_connections: int = 256

    def __post_init__(self) -> None:
        # aiohttp takes a head timeout of 0 as "never": refuse it rather than run unbounded.
        if min(self.head_timeout, self.body_timeout, self.max_connections) <= 0:
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


def connection_limit(wanted: int) -> int:
    """`wanted`, or half of what this process's open-files limit leaves after an accept
    burst, if that is lower.

    Past that limit accept() fails for everyone, /healthz and Slack included, and the store,
    the CLI's pipes and the Slack client's connections need descriptors too. asyncio accepts
    up to ACCEPT_BURST connections at a time before any of them reaches the cap (which then
    closes the excess), so descriptors for a few such bursts are set aside as well.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = (soft - ACCEPT_BURST * ACCEPT_BURSTS_HELD) // 2
    if soft == resource.RLIM_INFINITY or wanted <= room:
        return wanted
    log.warning("at most %d HTTP connections at once: the open-files limit (ulimit -n) is %d", max(1, room), soft)
    return max(1, room)


class _Counted(asyncio.Protocol):
    """aiohttp's protocol for one connection, passed everything once the cap admits it."""

    def __init__(self, inner: asyncio.Protocol, cap: ConnectionCap) -> None:
        self.inner, self._cap = inner, cap
        self.transport: asyncio.Transport | None = None
        self.admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Counted once connected, not when accepted: a connection that never gets this far
        # (its transport failed) then holds no place.
        self.transport = cast(asyncio.Transport, transport)
        self.admitted = self._cap.admit(self)
        if self.admitted:
            self.inner.connection_made(transport)
        else:  # no room: aiohttp never sees it
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cap.forget(self)
        if self.admitted:
            self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class ConnectionCap:
    """At most `limit` connections open at once, so slow clients cannot use up file descriptors.

    A connection past the limit closes the oldest one that is not in a request (still sending
    its head, or idle between requests): a flood of slow connections cannot lock /healthz or
    Slack out, and a request being read or handled is never cut off. Only while every
    connection is in a request (each bounded by the body timeout) is the new one closed at once.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[_Counted, None] = {}  # oldest first
        self._busy: set[object] = set()  # aiohttp protocols whose request is being handled
        self._full = False  # to log once per flood, not once per connection

    def __len__(self) -> int:
        return len(self._open)

    def protocol_factory(self, make: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _Counted(make(), self)

    def admit(self, connection: _Counted) -> bool:
        if len(self._open) >= self.limit and not self._close_oldest_idle():
            return False
        self._open[connection] = None
        return True

    def forget(self, connection: _Counted) -> None:
        self._open.pop(connection, None)
        if len(self._open) < self.limit:
            self._full = False

    def _close_oldest_idle(self) -> bool:
        if not self._full:
            self._full = True
            log.warning(
                "%d HTTP connections open, the limit: each new one closes the oldest idle one, or itself if none is",
                self.limit,
            )
        idle = next((c for c in self._open if c.inner not in self._busy), None)
        if idle is None or idle.transport is None:
            return False
        del self._open[idle]  # counted out now; its connection_lost comes a little later
        idle.transport.close()
        return True

    @web.middleware
    async def track_requests(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """A connection is in a request (not to be closed for room) from its head until its handler returns."""
        protocol = request.protocol
        self._busy.add(protocol)
        try:
            return await handler(request)
        finally:
            self._busy.discard(protocol)


_CAP = web.AppKey("connection cap", ConnectionCap)


class _CappedSite(web.BaseSite):
    """aiohttp's TCPSite, with every connection admitted through the app's ConnectionCap."""

    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        super().__init__(runner)
        self._cap = runner.app[_CAP]
        self._host, self._port = host, port

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        """The bound port, once started."""
        return self._port

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None  # the runner is set up before a site is made
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._cap.protocol_factory(server), self._host, self._port, backlog=ACCEPT_BURST
        )
        self._port = self._server.sockets[0].getsockname()[1]


async def start_server(web_app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve an app from build_web_app on host:port (0: any free port).

    Returns the runner (its cleanup() stops everything) and the bound port.
    """
    runner = web.AppRunner(web_app)
    await runner.setup()
    try:
        site = _CappedSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site.port


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
    the signature again (defence in depth). Serve it with start_server (the connection cap).
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

    cap = ConnectionCap(connection_limit(limits.max_connections))
    web_app = web.Application(
        client_max_size=MAX_REQUEST_BYTES,
        middlewares=[cap.track_requests],
        # aiohttp's keep-alive timer closes a connection still waiting for a complete head.
        handler_args={"keepalive_timeout": limits.head_timeout, "lingering_time": _LINGER_SECONDS},
    )
    web_app[_CAP] = cap
    web_app.router.add_post("/slack/events", events)
    web_app.router.add_get("/healthz", healthz)
    return web_app
