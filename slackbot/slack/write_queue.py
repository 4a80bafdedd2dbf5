"""The writes the scheduler holds: their priorities, one queued job, and the lanes
(one per thread, round robin within a priority) they wait in."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from .rate_limits import MESSAGE_METHODS


class SchedulerClosed(RuntimeError):
    """The bot is shutting down: a queued write was dropped, not sent."""


class Priority(IntEnum):
    FIRST = 0  # something new a person waits to see
    REFRESH = 1  # more of something already visible


@dataclass
class Job:
    method: str
    thunk: Callable[[], Awaitable[Any]]
    fair_key: str
    channel: str | None
    priority: Priority
    coalesce_key: str | None
    future: asyncio.Future[Any]
    queued_at: float


def message_channel(job: Job) -> str | None:
    """The channel the job adds a message to, if it adds one there (its pace applies)."""
    return job.channel if job.method in MESSAGE_METHODS else None


def pop_head(by_priority: dict[Priority, OrderedDict[str, deque[Job]]], priority: Priority, key: str) -> Job:
    """Take the first job of a thread's lane; the thread goes to the back (it had its turn)."""
    lanes = by_priority[priority]
    job = lanes[key].popleft()
    if lanes[key]:
        lanes.move_to_end(key)
    else:
        del lanes[key]
    if not lanes:
        del by_priority[priority]
    return job
