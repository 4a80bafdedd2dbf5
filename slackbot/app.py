"""Build the Bolt app and run it over Socket Mode (default) or HTTP."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from functools import partial

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler, AsyncServerErrorRetryHandler

from .config import Settings
from .interview.registry import Interviews
from .interview.reminders import Reminders
from .listeners import register_all
from .listeners.messages import enrich
from .metrics import Metrics
from .metrics import serve as serve_metrics
from .slack.counted import CountedClient
from .slack.http_mode import DEFAULT_LIMITS, HttpLimits, build_web_app, start_server
from .slack.people import DisplayNames
from .slack.scheduler import DEFAULT_PER_MINUTE, RateLimits, SlackScheduler
from .store import make_store

log = logging.getLogger(__name__)


class Bot:
    """The whole bot: Slack app, interview registry and the transport serving them."""

    def __init__(
        self, settings: Settings, *, min_interval: float = 1.0, rate_limits: RateLimits | None = None,
        budget_share: Callable[[], float] | float | None = None,
    ) -> None:
        self.settings = settings
        # Bolt builds its client from our token. (Handed a client instead, it still reads
        # SLACK_BOT_TOKEN from the environment and warns at every start that it goes unused.)
        self.app = AsyncApp(
            token=settings.slack_bot_token,
            signing_secret=settings.slack_signing_secret or "",
            # Socket Mode has no signatures to check; HTTP mode must check them.
            request_verification_enabled=settings.slack_signing_secret is not None,
        )
        # For Bolt's own calls and reads; writes go through the scheduler below.
        self.client = self.app.client
        self.client.base_url = settings.slack_api_url
        self.client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
        # One connection pool for both clients, opened in the running loop by _open.
        self.http_session: aiohttp.ClientSession | None = None
        self.store = make_store(settings.database_url, settings.state_dir)
        # Every write goes through one scheduler, with a client that lets 429s reach it.
        if rate_limits is None:  # Slack's tiers, with any overrides from NEWSPEC_RATE_LIMITS
            rate_limits = RateLimits(per_minute={**DEFAULT_PER_MINUTE, **dict(settings.rate_limits)})
        self.metrics = Metrics()  # this bot's own registry: bots in one process (tests) count apart
        uploads = CountedClient(
            self.metrics, token=settings.slack_bot_token, base_url=settings.slack_api_url,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=3),
                            AsyncServerErrorRetryHandler(max_retry_count=3)],
        )
        self.scheduler = SlackScheduler(
            CountedClient(self.metrics, token=settings.slack_bot_token, base_url=settings.slack_api_url),
            rate_limits, uploads, share=1.0 if budget_share is None else budget_share,  # see set_budget_share
            # Split among the replicas live on the database: which then keeps channels' turns.
            slots=self.store if budget_share is None else None,
        )
        self.interviews = Interviews(
            settings, self.scheduler, self.store, min_interval=min_interval, metrics=self.metrics
        )
        if budget_share is None:  # split evenly among the replicas live on the database
            self.set_budget_share(self.interviews.ownership.share)
        self.metrics.read_standing(self._standing)
        register_all(self.app, self.interviews)
        self.reminders = Reminders(self.store, self.scheduler, settings.reminder_after_seconds)
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self._metrics_runner: web.AppRunner | None = None

    def set_budget_share(self, share: Callable[[], float] | float) -> None:
        """The fraction of the workspace's Slack budgets this replica may spend: the budget
        is split evenly among live replicas, so 1 / their number (a callable is read before
        every Slack write is released)."""
        self.scheduler.set_share(share)

    def _standing(self) -> dict[str, float]:
        """The gauges at /metrics, read when scraped."""
        pool = self.interviews.pool
        return {
            "newspec_interviews_live": pool.live_count,
            "newspec_interviews_waiting_on_people": pool.waiting_count,
            "newspec_interviews_queued": pool.queued_count,
            "newspec_slack_queue_depth": self.scheduler.queued(),
            "newspec_slack_budget_share": self.scheduler.budget_share(),
            "newspec_replicas_live": self.interviews.ownership.live_count,
            "newspec_leases_held": self.interviews.ownership.leases_held,
        }

    async def _open(self) -> None:
        if self.http_session is None:
            # Without it slack_sdk opens (and closes) a connection for every API call.
            self.http_session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.client.timeout))
            self.client.session = self.scheduler.client.session = self.http_session
            self.scheduler.upload_client.session = self.http_session
        await self.store.open()
        # Files of replies the last run was still downloading are fetched again, with the bot token.
        await self.interviews.open(partial(enrich, self.interviews, DisplayNames(self.client), self.client))
        await self.reminders.check()  # questions that came due while the bot was down
        self.reminders.start()

    async def start_socket_mode(self) -> None:
        await self._open()
        # The handler binds to the running loop, so it is created here, not in __init__.
        self._socket = AsyncSocketModeHandler(self.app, self.settings.slack_app_token)
        await self._socket.connect_async()
        log.info("connected to Slack over Socket Mode")

    def web_app(self, limits: HttpLimits = DEFAULT_LIMITS) -> web.Application:
        """Slack's requests at /slack/events (signature and replay checked before parsing,
        bodies capped), /healthz for load balancers (see http_mode), and /metrics."""
        web_app = build_web_app(self.app, self.settings.slack_signing_secret or "", limits)
        web_app.router.add_get("/metrics", self.metrics.handle)
        return web_app

    async def start_metrics(self, host: str, port: int) -> int:
        """Serve GET /metrics alone on host:port (Socket Mode has no web server); returns the bound port."""
        self._metrics_runner, bound = await serve_metrics(self.metrics, host, port)
        return bound

    async def start_http(self, host: str, port: int, limits: HttpLimits = DEFAULT_LIMITS) -> int:
        """Serve Slack's requests at /slack/events (slow clients bounded by `limits`); returns the bound port."""
        await self._open()
        self._runner, bound = await start_server(self.web_app(limits), host, port)
        log.info("serving Slack requests on http://%s:%s/slack/events", host, bound)
        return bound

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking requests, let running turns finish (up to `grace` s), close everything.

        Every step runs even if an earlier one fails; the first failure is raised at the end."""
        socket, self._socket = self._socket, None
        runner, self._runner = self._runner, None
        metrics_runner, self._metrics_runner = self._metrics_runner, None
        session, self.http_session = self.http_session, None
        self.interviews.stop_taking_work()  # first: a CLI signalled with the bot may die any moment
        steps: list[tuple[str, Callable[[], Awaitable[object]] | None]] = [
            ("Socket Mode", socket.close_async if socket else None),
            ("reminders", self.reminders.stop),
            ("HTTP server", runner.cleanup if runner else None),
            ("metrics server", metrics_runner.cleanup if metrics_runner else None),
            ("interviews", lambda: self.interviews.close(grace)),
            ("Slack writes", self.scheduler.close),  # waits for calls in flight: before the session
            ("store", self.store.close),
            ("HTTP session", session.close if session else None),
        ]
        failure: BaseException | None = None
        for what, step in steps:
            if step is None:
                continue
            try:
                await step()
            except asyncio.CancelledError as exc:
                log.warning("stopping was cancelled while closing %s; closing the rest", what)
                failure = failure or exc
            except Exception as exc:  # the rest must still be closed
                log.exception("closing %s failed", what)
                failure = failure or exc
        if failure is not None:
            raise failure


async def serve(
    settings: Settings, *, http: bool, host: str, port: int, metrics_host: str = "127.0.0.1",
    metrics_port: int | None = None,
) -> None:
    """Run until SIGINT/SIGTERM, then close cleanly. With `metrics_port`, /metrics is also
    served on its own port (HTTP mode serves it on `port` as well)."""
    bot = Bot(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        if http:
            await bot.start_http(host, port)
        else:
            await bot.start_socket_mode()
        if metrics_port is not None:
            await bot.start_metrics(metrics_host, metrics_port)
        await stopping.wait()
        log.info("shutting down")
    finally:
        await bot.stop()
