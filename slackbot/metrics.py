"""What an operator's Prometheus scrapes at GET /metrics.

Each Bot has its own registry (not prometheus_client's global one), so several bots in
one process never add to each other's counts. Counts that happen (turns, Slack calls,
tokens, cost) are counters bumped where they happen; what stands now (interviews live,
waiting, queued; calls waiting in the Slack scheduler) is read at scrape time from those
that hold it, so nothing is counted twice or goes stale.

This module imports nothing of ours: the layers below and above may all use it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# A turn runs from a message going to Claude to its result: seconds to several minutes.
TURN_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, float("inf"))

# What stands now, read at scrape time: name -> help. The reader returns a value for each.
GAUGES = {
    "newspec_interviews_live": "Interviews with a live claude process (busy or idle)",
    "newspec_interviews_waiting_on_people": "Live interviews whose turn waits for people to answer a question",
    "newspec_interviews_queued": "Turns waiting for a free process slot (NEWSPEC_MAX_LIVE_SESSIONS)",
    "newspec_slack_queue_depth": "Slack writes queued in the scheduler, not yet sent",
    "newspec_slack_budget_share": "Fraction of the workspace's Slack budgets this replica may spend",
    "newspec_replicas_live": "Replicas this one sees live on its database (heartbeats; 1 on SQLite)",
    "newspec_leases_held": "Threads whose lease this replica holds (it runs their turns)",
}


class _Standing(Collector):
    """The gauges, read from the bot when scraped."""

    def __init__(self, read: Callable[[], Mapping[str, float]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        values = self._read()
        for name, description in GAUGES.items():
            yield GaugeMetricFamily(name, description, value=values[name])

    def describe(self) -> Iterator[GaugeMetricFamily]:
        for name, description in GAUGES.items():
            yield GaugeMetricFamily(name, description)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.turns = Counter("newspec_turns", "Model turns Claude finished", registry=r)
        self.turn_seconds = Histogram(
            "newspec_turn_duration_seconds", "Seconds from a turn's start to Claude's result",
            buckets=TURN_BUCKETS, registry=r,
        )
        self.slack_calls = Counter(
            "newspec_slack_calls", "Slack Web API calls the scheduler made, by method", ["method"], registry=r
        )
        self.slack_rate_limited = Counter(
            "newspec_slack_rate_limited", "Slack calls refused as rate-limited (HTTP 429 or `ratelimited`)",
            ["method"], registry=r,
        )
        self.tokens = Counter(
            "newspec_model_tokens", "Model tokens the CLI reported (input includes cache reads and writes)",
            ["kind"], registry=r,
        )
        self.cost = Counter("newspec_model_cost_usd", "Model spend in USD, as the CLI reported it", registry=r)
        self.lease_takeovers = Counter(
            "newspec_lease_takeovers", "Threads this replica took over from a replica no longer live", registry=r
        )
        for kind in ("input", "output"):  # shown as 0 from the start, not only after the first turn
            self.tokens.labels(kind=kind)

    def read_standing(self, read: Callable[[], Mapping[str, float]]) -> None:
        """Read the gauges (GAUGES' names) from `read` at each scrape."""
        self.registry.register(_Standing(read))

    def turn_done(self, seconds: float | None, input_tokens: int, output_tokens: int, cost_usd: float) -> None:
        """A turn's result came (`seconds`: since it began, if known)."""
        self.turns.inc()
        if seconds is not None:
            self.turn_seconds.observe(seconds)
        self.tokens.labels(kind="input").inc(input_tokens)
        self.tokens.labels(kind="output").inc(output_tokens)
        self.spent(cost_usd)

    def spent(self, cost_usd: float) -> None:
        if cost_usd > 0:  # a counter never goes down; a new conversation's lower total is no refund
            self.cost.inc(cost_usd)

    def slack_call(self, method: str, rate_limited: bool) -> None:
        self.slack_calls.labels(method=method).inc()
        if rate_limited:
            self.slack_rate_limited.labels(method=method).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def handle(self, request: web.Request) -> web.Response:
        """GET /metrics, in Prometheus' text format."""
        return web.Response(body=self.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def serve(metrics: Metrics, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve GET /metrics alone on host:port (0: any free port), as Socket Mode has no web
    server of its own. Returns the runner (its cleanup() stops it) and the bound port."""
    app = web.Application()
    app.router.add_get("/metrics", metrics.handle)
    runner = web.AppRunner(app, access_log=None)  # a scrape every few seconds would flood the log
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = int(runner.addresses[0][1])
    log.info("serving metrics on http://%s:%s/metrics", host, bound)
    return runner, bound
