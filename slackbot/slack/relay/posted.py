"""Posted answers (post, then chat.update): when chat.update's budget (one for the whole
workspace) is worth spending, and a turn's status line once it has done its job.

While Claude works and nothing else shows, a turn posts a status line ("Thinking…" and
a Stop button). It is never deleted afterwards (a delete is one more write, and leaves
people a message that came and went): it becomes what the turn shows next (its answer,
a question, a note) with one chat.update, or, when chat.update is too busy for that, a
line saying what was done, with the next thing posted below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...markup import escape
from ..blocks import CONTEXT_TEXT, shorten, update_text
from ..scheduler import Priority

if TYPE_CHECKING:
    from .base import ThreadBase

# Refresh intervals a refresh of a posted message may wait before it is not worth it:
# when `chat.update` is that busy, a message is written once, whole, when it is done,
# so its last words don't queue behind refreshes.
UPDATES_SCARCE_AFTER = 3


def update_wait(relay: ThreadBase) -> float:
    """How long an update now would wait, with the last update of every posted answer
    still growing (each owes one) counted ahead of it."""
    return relay.scheduler.estimated_wait("chat.update", ahead=relay.streaming.growing_posts)


def updates_scarce(relay: ThreadBase) -> bool:
    return update_wait(relay) > UPDATES_SCARCE_AFTER * relay.min_interval


def finals_short(relay: ThreadBase) -> bool:
    """Whether one more refresh now would leave some posted answer's last update waiting."""
    return update_wait(relay) > 0


def update_soon(relay: ThreadBase) -> bool:
    """Whether a chat.update people wait on (Priority.FIRST, which may use the budget's
    reserve) queued now would go about as soon as a post: then a status line takes what
    comes next itself. Otherwise that would wait behind the budget, and a post does not."""
    return relay.scheduler.estimated_wait("chat.update", priority=Priority.FIRST) <= relay.min_interval


def done_line(titles: tuple[str, ...]) -> tuple[str, list[dict[str, Any]]]:
    """A status line's last words when nothing else took its place: what Claude did, no Stop."""
    what = escape(shorten(", ".join(dict.fromkeys(titles)) or "Working", CONTEXT_TEXT - 100))
    line = {"type": "context", "elements": [{"type": "mrkdwn", "text": f":white_check_mark: _{what}_ — done"}]}
    return update_text(f"{what} — done"), [line]


@dataclass(frozen=True)
class StatusLine:
    """A turn's posted status line that never got any text: its ts, and what it said."""

    ts: str
    titles: tuple[str, ...]

    async def mark_done(self, relay: ThreadBase, priority: Priority) -> None:
        """It says what was done, and its Stop goes (one chat.update)."""
        text, blocks = done_line(self.titles)
        await relay.scheduler.update(priority, channel=relay.channel, ts=self.ts, text=text, blocks=blocks)
