"""One workspace-wide scheduler for every Slack write.

Slack's rate limits are per method, per app, per workspace, shared by every
thread the bot serves, plus about one message per second per channel for
chat.postMessage. Throttling each message on its own collapses into 429 storms
at scale, so every write is queued here and released only within budget:

- per method, at most the tier's calls in any window (a sliding log), paced by
  a small token bucket so one burst does not use up the whole minute;
- per channel, chat.postMessage at most once per `channel_post_interval`;
- user-visible firsts (first words, questions, uploads, notes) before refreshes;
- fair: within a priority, threads take turns (round robin);
- coalescing: a refresh of the same message that is already queued is not
  queued twice; its thunk runs once and reads the latest text when it runs;
- a 429 pauses the whole method for its Retry-After, then the call is retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

T = TypeVar("T")

TIER_2, TIER_3, TIER_4 = 20, 50, 100  # calls per minute, per workspace

# Methods the bot writes with, by Slack's published tiers.
DEFAULT_PER_MINUTE: dict[str, int] = {
    "chat.postMessage": 300,  # workspace-wide; the per-channel limit is the tighter one
    "chat.update": TIER_3,
    "chat.delete": TIER_3,
    "chat.postEphemeral": TIER_4,
    "chat.startStream": TIER_2,
    "chat.stopStream": TIER_2,
    "chat.appendStream": TIER_4,
    "files.upload": TIER_4 // 2,  # files_upload_v2 makes two Tier 4 calls per upload
}


class Priority(IntEnum):
    FIRST = 0  # something new a person waits to see
    REFRESH = 1  # more of something already visible


@dataclass(frozen=True)
class RateLimits:
    per_minute: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PER_MINUTE))
    default_per_minute: int = TIER_3
    channel_post_interval: float = 1.05  # seconds; Slack allows ~1 post/s per channel
    window: float = 60.0  # seconds the per-minute budgets are counted over

    def limit(self, method: str) -> int:
        return self.per_minute.get(method, self.default_per_minute)

    def faster(self, factor: float) -> RateLimits:
        """The same budgets over a shorter window (for tests and benchmarks)."""
        return RateLimits(
            dict(self.per_minute), self.default_per_minute, self.channel_post_interval / factor,
            self.window / factor,
        )


@dataclass
class _Job:
    method: str
    thunk: Callable[[], Awaitable[Any]]
    fair_key: str
    channel: str | None
    priority: Priority
    coalesce_key: str | None
    future: asyncio.Future[Any]
    queued_at: float


class _MethodBudget:
    """Sliding-window log (the hard limit) plus a token bucket (the pacing)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        # One [time] per call: the dispatch time, moved to the completion time when
        # the call returns, so a call is never forgotten before Slack counted it.
        self.calls: deque[list[float]] = deque()
        self.rate = limit / window * 0.95
        self.capacity = max(1.0, limit / 5)  # bursts up to a fifth of the window's budget
        self.tokens = self.capacity
        self.refilled = time.monotonic()
        self.paused_until = 0.0

    def wait(self, now: float) -> float:
        """Seconds until one more call fits (0: now)."""
        while self.calls and self.calls[0][0] <= now - self.window:
            self.calls.popleft()
        self.tokens = min(self.capacity, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        waits = [self.paused_until - now, (1 - self.tokens) / self.rate]
        if len(self.calls) >= self.limit:
            waits.append(self.calls[0][0] + self.window - now + 0.01)
        return max(0.0, *waits)

    def spend(self, now: float) -> list[float]:
        entry = [now]
        self.calls.append(entry)
        self.tokens -= 1
        return entry


class SlackScheduler:
    def __init__(self, client: AsyncWebClient, limits: RateLimits | None = None) -> None:
        # A client without slack_sdk's own 429 retries: a 429 must reach us, so
        # that the whole method is paused rather than one call slept on.
        self.client = client
        self.limits = limits or RateLimits()
        self._budgets: dict[str, _MethodBudget] = {}
        self._channel_posts: dict[str, float] = {}  # channel -> when its last post completed
        self._posting: set[str] = set()  # channels with a post in flight
        # method -> priority -> fair key -> jobs
        self._queues: dict[str, dict[Priority, OrderedDict[str, deque[_Job]]]] = {}
        self._coalescing: dict[str, _Job] = {}
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self.rate_limited: int = 0

    async def run(
        self,
        method: str,
        thunk: Callable[[], Awaitable[T]],
        *,
        fair_key: str,
        channel: str | None = None,
        priority: Priority = Priority.FIRST,
        coalesce_key: str | None = None,
    ) -> T:
        """Call `thunk` (one Slack API call of `method`) when the budget allows."""
        if coalesce_key is not None and coalesce_key in self._coalescing:
            return await asyncio.shield(self._coalescing[coalesce_key].future)
        loop = asyncio.get_running_loop()
        job = _Job(method, thunk, fair_key, channel, priority, coalesce_key, loop.create_future(), time.monotonic())
        self._enqueue(job)
        if coalesce_key is not None:
            self._coalescing[coalesce_key] = job
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._dispatch(), name="slack-scheduler")
        self._wake.set()
        return await asyncio.shield(job.future)

    def estimated_wait(self, method: str) -> float:
        """Roughly how long a call of `method` queued now would wait, in seconds."""
        budget = self._budget(method)
        queued = sum(len(lane) for lanes in self._queues.get(method, {}).values() for lane in lanes.values())
        return budget.wait(time.monotonic()) + queued / budget.rate

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        for job in self._pending_jobs():
            if not job.future.done():
                job.future.cancel()

    # -- convenience for one-off writes -----------------------------------------

    async def post(self, priority: Priority = Priority.FIRST, **kwargs: Any) -> Any:
        channel = kwargs["channel"]
        # No previews: a link someone typed must not unfold into the thread.
        kwargs.setdefault("unfurl_links", False)
        kwargs.setdefault("unfurl_media", False)
        return await self.run(
            "chat.postMessage", lambda: self.client.chat_postMessage(**kwargs),
            fair_key=kwargs.get("thread_ts") or channel, channel=channel, priority=priority,
        )

    async def update(self, priority: Priority = Priority.FIRST, **kwargs: Any) -> Any:
        return await self.run(
            "chat.update", lambda: self.client.chat_update(**kwargs),
            fair_key=kwargs["ts"], priority=priority,
        )

    async def delete(self, **kwargs: Any) -> Any:
        return await self.run(
            "chat.delete", lambda: self.client.chat_delete(**kwargs),
            fair_key=kwargs["ts"], priority=Priority.REFRESH,
        )

    async def ephemeral(self, **kwargs: Any) -> Any:
        return await self.run(
            "chat.postEphemeral", lambda: self.client.chat_postEphemeral(**kwargs),
            fair_key=kwargs.get("thread_ts") or kwargs["channel"],
        )

    # -- the dispatcher ---------------------------------------------------------

    def _enqueue(self, job: _Job, front: bool = False) -> None:
        by_priority = self._queues.setdefault(job.method, {})
        lanes = by_priority.setdefault(job.priority, OrderedDict())
        lane = lanes.setdefault(job.fair_key, deque())
        if front:
            lane.appendleft(job)
            lanes.move_to_end(job.fair_key, last=False)
        else:
            lane.append(job)

    def _pending_jobs(self) -> list[_Job]:
        return [
            job
            for by_priority in self._queues.values()
            for lanes in by_priority.values()
            for lane in lanes.values()
            for job in lane
        ]

    def _budget(self, method: str) -> _MethodBudget:
        if method not in self._budgets:
            self._budgets[method] = _MethodBudget(self.limits.limit(method), self.limits.window)
        return self._budgets[method]

    def _channel_wait(self, job: _Job, now: float) -> float:
        if job.method != "chat.postMessage" or job.channel is None:
            return 0.0
        if job.channel in self._posting:
            # One post per channel in flight: the next is spaced from when Slack
            # surely had this one (its completion wakes the dispatcher).
            return self.limits.channel_post_interval
        last = self._channel_posts.get(job.channel)
        return 0.0 if last is None else max(0.0, last + self.limits.channel_post_interval - now)

    async def _dispatch(self) -> None:
        while True:
            self._wake.clear()
            soonest = self._release_ready()
            if soonest is None:
                await self._wake.wait()
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(soonest, 0.001))
            except TimeoutError:
                pass

    def _release_ready(self) -> float | None:
        """Start every job the budgets allow now; return seconds until the next could go."""
        soonest: float | None = None
        for method, by_priority in self._queues.items():
            budget = self._budget(method)
            while True:
                now = time.monotonic()
                wait = budget.wait(now)
                job, channel_wait = self._next_job(by_priority, now) if wait == 0 else (None, 0.0)
                if job is None:
                    pending = any(lanes for lanes in by_priority.values())
                    if pending:
                        delay = wait if wait > 0 else channel_wait
                        soonest = delay if soonest is None else min(soonest, delay)
                    break
                entry = budget.spend(now)
                if job.method == "chat.postMessage" and job.channel is not None:
                    self._posting.add(job.channel)
                self._start(job, entry)
        return soonest

    def _next_job(
        self, by_priority: dict[Priority, OrderedDict[str, deque[_Job]]], now: float
    ) -> tuple[_Job | None, float]:
        """The next job, by priority then round robin between threads; skips blocked channels."""
        blocked_for: float | None = None
        for priority in sorted(by_priority):
            lanes = by_priority[priority]
            for key in list(lanes):
                job = lanes[key][0]
                wait = self._channel_wait(job, now)
                if wait > 0:
                    blocked_for = wait if blocked_for is None else min(blocked_for, wait)
                    continue
                lanes[key].popleft()
                if lanes[key]:
                    lanes.move_to_end(key)  # this thread had its turn
                else:
                    del lanes[key]
                if not lanes:
                    del by_priority[priority]
                return job, 0.0
        return None, blocked_for or 0.0

    def _start(self, job: _Job, entry: list[float]) -> None:
        if job.coalesce_key is not None and self._coalescing.get(job.coalesce_key) is job:
            del self._coalescing[job.coalesce_key]  # later refreshes queue anew
        task = asyncio.create_task(self._execute(job, entry))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _execute(self, job: _Job, entry: list[float]) -> None:
        try:
            try:
                result = await job.thunk()
            finally:
                now = time.monotonic()
                entry[0] = now  # counted from when Slack surely had it
                if job.method == "chat.postMessage" and job.channel is not None:
                    self._channel_posts[job.channel] = now
                    self._posting.discard(job.channel)
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                retry_after = float(exc.response.headers.get("Retry-After", 1) or 1)
                self.rate_limited += 1
                budget = self._budget(job.method)
                budget.paused_until = max(budget.paused_until, time.monotonic() + retry_after)
                log.warning("%s rate-limited; pausing it for %.1fs", job.method, retry_after)
                self._enqueue(job, front=True)
                self._wake.set()
                return
            if not job.future.done():
                job.future.set_exception(exc)
        except Exception as exc:  # the caller decides what a failure means
            if not job.future.done():
                job.future.set_exception(exc)
        else:
            if not job.future.done():
                job.future.set_result(result)
        finally:
            self._wake.set()
