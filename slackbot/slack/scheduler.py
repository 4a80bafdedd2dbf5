"""One workspace-wide scheduler for every Slack write.

Slack's rate limits are per method, per app, per workspace, shared by every thread,
plus about one new message a second per channel. Throttling each message on its own
collapses into 429 storms at scale, so every write is queued here and released only
within budget:

- per method, at most the tier's calls in any window (a sliding log), paced by
  a small token bucket so one burst does not use up the whole minute;
- per channel, one new message (a post, a stream's start, a shared upload:
  MESSAGE_METHODS) per `channel_post_interval`, oldest first across methods;
- user-visible firsts (first words, questions, uploads, notes) before refreshes;
  within a priority, threads take turns (round robin);
- coalescing: a refresh of a message already queued runs once, with the latest text;
- a 429 (or HTTP 200 `ratelimited`) pauses the method for its Retry-After, then the
  call is retried; for a new message in a known channel it pauses only that channel,
  unless another channel is paused too (see `_pause`).

Replicas keep each to its share (1 / live replicas, read before each release) of every
method's budget. A channel's one message a second is taken in turn: with others live, a
new message holds its channel in the database until Slack answers it, and the next goes
an interval later (shared_pace.py); without those slots the interval is stretched by the share.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from . import rate_limits
from .rate_limits import DEFAULT_PER_MINUTE, BudgetShare, ChannelPace, MethodBudget, RateLimits
from .shared_pace import SharedPace, Slots
from .write_queue import Job, Priority, SchedulerClosed, message_channel, pop_head

# The budgets live in rate_limits, the queue's parts in write_queue; callers may keep
# importing them from here.
__all__ = ["DEFAULT_PER_MINUTE", "Priority", "RateLimits", "SchedulerClosed", "SlackScheduler"]

log = logging.getLogger(__name__)

T = TypeVar("T")

CLOSE_GRACE = 5.0  # seconds close() waits for calls already sent to Slack


class SlackScheduler:
    def __init__(
        self, client: AsyncWebClient, limits: RateLimits | None = None, upload_client: AsyncWebClient | None = None,
        *, share: Callable[[], float] | float = 1.0, slots: Slots | None = None,
    ) -> None:
        # A client without slack_sdk's own 429 retries: a 429 must reach us, so
        # that the whole method is paused rather than one call slept on.
        self.client = client
        # files_upload_v2 also posts the file to an upload URL, outside the Web API: its
        # 429s and 5xx never reach us as a SlackApiError, so this client retries them itself.
        self.upload_client = upload_client or client
        self.limits = limits or RateLimits()
        self._budgets: dict[str, MethodBudget] = {}
        self._channels = ChannelPace(self.limits.channel_post_interval)
        self._waiting: dict[str, list[Job]] = {}  # channel -> its queued new messages, oldest first
        # method -> priority -> fair key -> jobs
        self._queues: dict[str, dict[Priority, OrderedDict[str, deque[Job]]]] = {}
        self._coalescing: dict[str, Job] = {}
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._closed = False
        self.rate_limited: int = 0
        self.share = 1.0  # the share last applied to the budgets
        self._share = BudgetShare()
        self._shared = SharedPace(slots)  # channels taken in turn with the other replicas
        self.set_share(share)

    async def run(
        self, method: str, thunk: Callable[[], Awaitable[T]], *, fair_key: str, channel: str | None = None,
        priority: Priority = Priority.FIRST, coalesce_key: str | None = None,
    ) -> T:
        """Call `thunk` (one Slack API call of `method`) when the budget allows."""
        if self._closed:
            raise SchedulerClosed(f"{method} not sent: the scheduler is closed")
        if coalesce_key is not None and coalesce_key in self._coalescing:
            return await asyncio.shield(self._coalescing[coalesce_key].future)
        loop = asyncio.get_running_loop()
        job = Job(method, thunk, fair_key, channel, priority, coalesce_key, loop.create_future(), time.monotonic())
        # A caller gone (cancelled at shutdown) leaves no "exception was never retrieved".
        job.future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._enqueue(job)
        if coalesce_key is not None:
            self._coalescing[coalesce_key] = job
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._dispatch(), name="slack-scheduler")
        self._wake.set()
        return await asyncio.shield(job.future)

    def set_share(self, share: Callable[[], float] | float) -> None:
        """Keep to `share` of the workspace's budgets (0 < share <= 1): a number, or a cheap
        callable read before every release (e.g. 1 / the live replicas, kept elsewhere)."""
        self._share.set(share)
        self.budget_share()
        self._wake.set()

    def budget_share(self) -> float:
        """The share in force now, read anew and applied to every budget (see BudgetShare)."""
        share = self._share.read()
        if share != self.share:
            log.info("slack scheduler: keeping to %.3g of the workspace's Slack budgets", share)
            self.share = share
            for budget in self._budgets.values():
                budget.set_share(share)
        stretch = share if self._shared.stretched(share) else 1.0
        self._channels.interval = self.limits.channel_post_interval / stretch
        return share

    def estimated_wait(self, method: str, *, ahead: int = 0, priority: Priority = Priority.REFRESH) -> float:
        """Roughly how long a call of `method` queued now would wait, in seconds, behind the
        calls already queued that go before one of `priority`, and `ahead` more that are sure
        to come first."""
        budget = self._budget(method)
        queued = self.queued(method, priority)
        return max(budget.wait(time.monotonic()), (1 + queued + ahead - budget.tokens) / budget.rate)

    def queued(self, method: str | None = None, priority: Priority = Priority.REFRESH) -> int:
        """Calls queued, not yet sent: of `method` (None: all) and at most `priority`."""
        by_method = [self._queues.get(method, {})] if method is not None else list(self._queues.values())
        return sum(len(lane) for queues in by_method for level, lanes in queues.items() if level <= priority
                   for lane in lanes.values())

    async def close(self, grace: float = CLOSE_GRACE) -> None:
        """Drop queued calls (their callers get SchedulerClosed) and give the calls
        already sent up to `grace` seconds to finish, so none is cut off mid-request."""
        self._closed = True
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        self._drop_queued(SchedulerClosed("not sent: the bot is shutting down"))
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=grace)
            for task in late:
                log.warning("a Slack call was still running %.0fs after close; cancelling it", grace)
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

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

    def _enqueue(self, job: Job, front: bool = False) -> None:
        # First: a channel it cannot file under fails the call before it is queued.
        if (channel := message_channel(job)) is not None:
            waiting = self._waiting.setdefault(channel, [])
            waiting.append(job)
            waiting.sort(key=lambda queued: queued.queued_at)  # a retry keeps its place
        by_priority = self._queues.setdefault(job.method, {})
        lanes = by_priority.setdefault(job.priority, OrderedDict())
        lane = lanes.setdefault(job.fair_key, deque())
        if front:
            lane.appendleft(job)
            lanes.move_to_end(job.fair_key, last=False)
        else:
            lane.append(job)

    def _unwait(self, job: Job) -> None:
        """The job left the queues (started or failed): no longer waiting for its channel."""
        channel = message_channel(job)
        waiting = self._waiting.get(channel, []) if channel is not None else []
        waiting[:] = [queued for queued in waiting if queued is not job]
        if channel is not None and channel in self._waiting and not waiting:
            del self._waiting[channel]

    def _fail(self, job: Job, exc: BaseException) -> None:
        """Settle a job with an error; its caller (and any coalesced with it) sees `exc`."""
        if job.coalesce_key is not None and self._coalescing.get(job.coalesce_key) is job:
            del self._coalescing[job.coalesce_key]
        self._unwait(job)
        if not job.future.done():
            job.future.set_exception(exc)

    def _drop_queued(self, exc: BaseException, method: str | None = None) -> None:
        """Take the queued calls (of `method`, or all) out of the queues and fail them."""
        for name in list(self._queues) if method is None else [method]:
            for lanes in self._queues.pop(name, {}).values():
                for lane in lanes.values():
                    for job in lane:
                        self._fail(job, exc)

    def _budget(self, method: str) -> MethodBudget:
        if method not in self._budgets:
            self._budgets[method] = MethodBudget(self.limits.limit(method), self.limits.window, self.share)
        return self._budgets[method]

    def _channel_wait(self, job: Job, now: float) -> float:
        channel = message_channel(job)
        if channel is None:
            return 0.0
        wait = self._channels.wait(channel, now)
        if wait == 0 and self._older_can_go(job, now):
            return self._channels.interval  # its turn passes to that one, whose completion wakes us
        return wait

    def _older_can_go(self, job: Job, now: float) -> bool:
        """Whether a new message of another method, queued earlier for the same channel,
        could go now: the channel is shared, so the oldest takes it (no method starves)."""
        for other in self._waiting.get(message_channel(job) or "", ()):
            if other.queued_at >= job.queued_at:
                return False
            if other.method == job.method:
                continue  # the method's own order (priority, threads' turns) decides
            lanes = self._queues.get(other.method, {}).get(other.priority)
            lane = lanes.get(other.fair_key) if lanes is not None else None
            budget = self._budget(other.method)
            reserve = budget.reserve if other.priority == Priority.REFRESH else 0.0
            if lane and lane[0] is other and budget.wait(now, reserve=reserve) == 0:
                return True
        return False

    async def _dispatch(self) -> None:
        # Checked each round: Python 3.11's wait_for swallows a cancel landing as it wakes.
        while not self._closed:
            self._wake.clear()
            try:
                soonest = self._release_ready()
            except Exception:  # never let a bug here stop every Slack write
                log.exception("slack scheduler: dispatch failed; retrying shortly")
                soonest = 0.1
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
        self.budget_share()
        for method, by_priority in list(self._queues.items()):
            try:
                delay = self._release_method(method, by_priority)
            except Exception as exc:
                # Whatever broke would break again: fail this method's queued calls
                # (their callers see why) and keep serving the other methods.
                log.exception("slack scheduler: cannot schedule %s; failing its queued calls", method)
                self._drop_queued(exc, method)
                continue
            if delay is not None:
                soonest = delay if soonest is None else min(soonest, delay)
        return soonest

    def _release_method(
        self, method: str, by_priority: dict[Priority, OrderedDict[str, deque[Job]]]
    ) -> float | None:
        budget = self._budget(method)
        while True:
            now = time.monotonic()
            wait = budget.wait(now)
            # Refreshes leave the budget's reserve to what people wait to see.
            refresh_wait = budget.wait(now, reserve=budget.reserve) if wait == 0 else wait
            lowest = Priority.REFRESH if refresh_wait == 0 else Priority.FIRST
            job, channel_wait = self._next_job(by_priority, now, lowest) if wait == 0 else (None, 0.0)
            if job is None:
                pending = any(lanes for lanes in by_priority.values())
                if not pending:
                    return None
                if wait == 0 and any(by_priority.get(Priority.REFRESH) or ()) and refresh_wait > 0:
                    channel_wait = min(channel_wait or refresh_wait, refresh_wait)
                return wait if wait > 0 else channel_wait
            entry = budget.spend(now)
            if (channel := message_channel(job)) is not None:
                self._channels.started(channel)
            self._start(job, entry)

    def _next_job(
        self, by_priority: dict[Priority, OrderedDict[str, deque[Job]]], now: float, lowest: Priority,
    ) -> tuple[Job | None, float]:
        """The next job of at most `lowest` priority, by priority then round robin between
        threads; skips blocked channels."""
        blocked_for: float | None = None
        for priority in sorted(p for p in by_priority if p <= lowest):
            lanes = by_priority[priority]
            for key in list(lanes):
                job = lanes[key][0]
                try:
                    wait = self._channel_wait(job, now)
                except Exception as exc:  # a malformed job fails alone
                    log.exception("slack scheduler: dropping a %s call it cannot schedule", job.method)
                    self._fail(pop_head(by_priority, priority, key), exc)
                    continue
                if wait > 0:
                    blocked_for = wait if blocked_for is None else min(blocked_for, wait)
                    continue
                return pop_head(by_priority, priority, key), 0.0
        return None, blocked_for or 0.0

    def _start(self, job: Job, entry: list[float]) -> None:
        if job.coalesce_key is not None and self._coalescing.get(job.coalesce_key) is job:
            del self._coalescing[job.coalesce_key]  # later refreshes queue anew
        self._unwait(job)
        task = asyncio.create_task(self._execute(job, entry))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _execute(self, job: Job, entry: list[float]) -> None:
        """Run one call and settle its caller's future, whatever happens."""
        try:
            result = await self._call(job, entry)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # close() gave up on it
                self._fail(job, SchedulerClosed(f"{job.method} cut off: the bot is shutting down"))
                raise
            # The call itself raised CancelledError: a failure of this call only.
            self._fail(job, RuntimeError(f"{job.method} call was cancelled"))
        except _Retry:
            pass
        except Exception as exc:  # the caller decides what a failure means
            self._fail(job, exc)
        else:
            if not job.future.done():
                job.future.set_result(result)
        finally:
            self._wake.set()

    async def _call(self, job: Job, entry: list[float]) -> Any:
        channel = message_channel(job)
        # Held locally already (in flight); with other replicas live, in the database too.
        hold = await self._shared.hold(channel, self._channels.interval) if channel and self.share < 1 else None
        try:
            return await job.thunk()
        except SlackApiError as exc:
            if not rate_limits.rate_limited(exc) or self._closed:
                raise
            self.rate_limited += 1
            self._pause(job, rate_limits.retry_after(exc.response.headers.get("Retry-After")))
            self._enqueue(job, front=True)
            if job.coalesce_key is not None:  # later refreshes join the retry
                self._coalescing.setdefault(job.coalesce_key, job)
            raise _Retry from exc
        finally:
            now = time.monotonic()
            entry[0] = now  # counted from when Slack surely had it
            if channel is not None:
                if hold is not None:  # the interval, or a 429's pause; before our own next may go
                    await self._shared.release(channel, hold, self._channels.wait(channel, now))
                self._channels.done(channel, now)

    def _pause(self, job: Job, seconds: float) -> None:
        """Hold back what Slack refused for its Retry-After: the channel, or the method.

        Slack's 429 does not say which limit it hit. Assumed: a refused new message in a
        known channel hit that channel's ~1 a second (its burst is undocumented), as the
        method's workspace budget is paced here already: only that channel waits. A second
        channel refused while the first is held means the workspace's limit after all."""
        now = time.monotonic()
        channel = message_channel(job)
        if channel is not None and self._channels.pause(channel, now + seconds, now):
            log.warning("%s rate-limited in %s; pausing that channel for %.1fs", job.method, channel, seconds)
            return
        budget = self._budget(job.method)
        budget.paused_until = max(budget.paused_until, now + seconds)
        log.warning("%s rate-limited; pausing it for %.1fs", job.method, seconds)


class _Retry(Exception):
    """The call was rate-limited and is queued again; its caller keeps waiting."""
