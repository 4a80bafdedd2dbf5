"""Slack's rate limits as the scheduler counts them: per-minute budgets per method
(Slack's published tiers, overridable) and the per-method accounting."""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

TIER_2, TIER_3, TIER_4 = 20, 50, 100  # calls per minute, per workspace
MAX_RETRY_AFTER = 300.0  # seconds; a longer Retry-After is capped, an unreadable one means 1

# Slack answers a rate limit with HTTP 429, and some methods also with HTTP 200 and
# one of these errors: either way the call waits and is retried.
RATE_LIMIT_ERRORS = frozenset({"ratelimited", "rate_limited"})

# Calls that add a message to a channel, which Slack's ~1 message a second per channel
# counts alike ("files.upload" is files_upload_v2: its completion shares the file in a
# message when it is given a channel). Not chat.postEphemeral: an ephemeral message is
# kept nowhere in the channel, and the method has a Tier 4 budget of its own.
MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.startStream", "files.upload"})

# Methods the bot writes with, by Slack's published tiers.
DEFAULT_PER_MINUTE: dict[str, int] = {
    "chat.postMessage": 300,  # workspace-wide; the per-channel limit is the tighter one
    "chat.update": TIER_3,
    "chat.delete": TIER_3,
    "chat.postEphemeral": TIER_4,
    "chat.startStream": TIER_2,
    "chat.stopStream": TIER_2,
    "chat.appendStream": TIER_4,
    "files.info": TIER_4,  # asked for files that arrive as Slack Connect stubs
    "files.upload": TIER_4 // 2,  # files_upload_v2 makes two Tier 4 calls per upload
}


@dataclass(frozen=True)
class RateLimits:
    per_minute: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PER_MINUTE))
    default_per_minute: int = TIER_3
    channel_post_interval: float = 1.05  # seconds; Slack allows ~1 post/s per channel
    window: float = 60.0  # seconds the per-minute budgets are counted over

    def __post_init__(self) -> None:
        # A zero, negative, nan or inf budget would divide by zero or never release
        # a call; refuse it here rather than let it stop every Slack write later.
        for method, count in {**self.per_minute, "default": self.default_per_minute}.items():
            if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
                raise ValueError(f"rate limit for {method} must be a positive whole number, not {count!r}")
        for name in ("channel_post_interval", "window"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive finite number of seconds, not {value!r}")

    def limit(self, method: str) -> int:
        return self.per_minute.get(method, self.default_per_minute)

    def faster(self, factor: float) -> RateLimits:
        """The same budgets over a shorter window (for tests and benchmarks)."""
        return RateLimits(
            dict(self.per_minute), self.default_per_minute, self.channel_post_interval / factor,
            self.window / factor,
        )



REFRESH_RESERVE = 0.25  # of a method's burst, kept for calls people wait on


def check_share(share: float) -> float:
    """A replica's share of the workspace's budgets: more than 0, at most 1."""
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        raise ValueError(f"a budget share must be more than 0 and at most 1, not {share!r}")
    return float(share)


class BudgetShare:
    """This process's share of the workspace's budgets: a number, or a cheap callable read
    before every release (e.g. 1 / the live replicas, kept elsewhere). A share that cannot
    be read, or is out of range, leaves the last one in force (logged once, not at every
    release)."""

    def __init__(self, share: Callable[[], float] | float = 1.0) -> None:
        self.value, self._unreadable = 1.0, False
        self.set(share)

    def set(self, share: Callable[[], float] | float) -> None:
        if not callable(share):
            share = partial(check_share, check_share(share))  # refused here if out of range
        self._source: Callable[[], float] = share

    def read(self) -> float:
        try:
            share = check_share(self._source())
        except Exception:
            if not self._unreadable:
                log.exception("slack scheduler: cannot read the budget share; keeping %.3g", self.value)
            self._unreadable = True
            return self.value
        self._unreadable = False
        self.value = share
        return share


class MethodBudget:
    """Sliding-window log (the hard limit) plus a token bucket (the pacing), over this
    process's share of the workspace's budget for the method."""

    def __init__(self, limit: int, window: float, share: float = 1.0) -> None:
        self.whole, self.window = limit, window  # the workspace's budget
        # One [time] per call: the dispatch time, moved to the completion time when
        # the call returns, so a call is never forgotten before Slack counted it.
        self.calls: deque[list[float]] = deque()
        self.share, self.tokens = 0.0, math.inf  # set_share sets both
        self.set_share(share)
        self.refilled = time.monotonic()
        self.paused_until = 0.0

    def set_share(self, share: float) -> None:
        """Keep to `share` of the workspace's budget from now on. The calls already in the
        window still count: after a drop nothing more goes until they fit the new limit.
        Rounded down, so the replicas' limits never add up to more than the whole; but
        never below one call a window (a method would stop), so with more replicas than
        a method has calls a window they could overspend it."""
        if share == self.share:
            return
        self.share = share
        self.limit = max(1, math.floor(self.whole * share + 1e-9))
        self.rate = self.limit / self.window * 0.95
        self.capacity = max(1.0, self.limit / 5)  # bursts up to a fifth of the window's budget
        self.tokens = min(self.tokens, self.capacity)

    @property
    def reserve(self) -> float:
        """Calls kept back from refreshes, so what people wait to see (an answer's last
        words, a question) never waits behind refreshes of text already shown."""
        return math.floor(self.capacity * REFRESH_RESERVE)

    def wait(self, now: float, *, reserve: float = 0.0) -> float:
        """Seconds until one more call fits (0: now), leaving `reserve` calls unspent."""
        while self.calls and self.calls[0][0] <= now - self.window:
            self.calls.popleft()
        self.tokens = min(self.capacity, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        waits = [self.paused_until - now, (1 + reserve - self.tokens) / self.rate]
        over = len(self.calls) - int(self.limit - reserve)  # calls that must leave the window first, less one
        if over >= 0:
            waits.append(self.calls[over][0] + self.window - now + 0.01)
        return max(0.0, *waits)

    def spend(self, now: float) -> list[float]:
        entry = [now]
        self.calls.append(entry)
        self.tokens -= 1
        return entry


class ChannelPace:
    """Slack's ~1 new message a second per channel: one in flight per channel, the next
    `interval` after the last completed (when Slack surely had it), none while a 429
    holds the channel."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last: dict[str, float] = {}  # channel -> when its last new message completed
        self.in_flight: set[str] = set()
        self.paused: dict[str, float] = {}  # channel -> until when a 429 holds it

    def wait(self, channel: str, now: float) -> float:
        """Seconds until a new message may go to `channel` (0: now). With one in flight it
        is a guess: that one's completion wakes the dispatcher anyway."""
        waits = [self.paused.get(channel, 0.0) - now]
        if channel in self.in_flight:
            waits.append(self.interval)
        elif (last := self.last.get(channel)) is not None:
            waits.append(last + self.interval - now)
        return max(0.0, *waits)

    def started(self, channel: str) -> None:
        self.in_flight.add(channel)

    def done(self, channel: str, now: float) -> None:
        self.last[channel] = now
        self.in_flight.discard(channel)

    def pause(self, channel: str, until: float, now: float) -> bool:
        """Hold `channel` until `until`; False if another channel is held too (then the
        refusals are more likely the method's workspace-wide limit than the channels')."""
        self.paused = {c: held for c, held in self.paused.items() if held > now}
        alone = not any(c != channel for c in self.paused)
        self.paused[channel] = max(self.paused.get(channel, 0.0), until)
        return alone


def rate_limited(exc: SlackApiError) -> bool:
    return exc.response.status_code == 429 or exc.response.get("error") in RATE_LIMIT_ERRORS


def retry_after(header: str | None) -> float:
    """Seconds to pause for a 429; Slack sends whole seconds, anything odd means 1."""
    try:
        seconds = float(header or 1)
    except ValueError:
        return 1.0
    return min(seconds, MAX_RETRY_AFTER) if math.isfinite(seconds) and seconds >= 0 else 1.0
