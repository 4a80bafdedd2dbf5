"""Long answers: past about two messages' worth, the thread shows the start of Claude's
answer and the whole answer is shared as one Markdown file below it.

Text streams as Claude writes it, so nobody knows in advance that an answer will be long:
it is shown as usual until it passes the cut-off, the message shown so far (cut at a
paragraph, line or word) is the short answer, and the rest is only collected. When
Claude's text ends, the whole answer is uploaded; if Slack refuses the file, the rest is
posted as messages, as it would have been, so nothing is lost.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING

from .errors import SLACK_ERRORS, slack_error
from .stream import FENCE, split_point

if TYPE_CHECKING:
    from .base import ThreadBase

log = logging.getLogger(__name__)

# Two messages read fine in a thread (an answer that fits in them is shown as before); past
# that, a thread of 3,900-character messages is a wall to scroll past and to stitch back up.
ANSWER_MESSAGES = 2
# Characters held back just before the cut-off, so that the short answer can end at a
# paragraph break in them rather than wherever the words passing the cut-off happen to start.
HOLD = 500
POINTER = "_Claude's answer is long, so the full answer follows as a file below._"

_shared: weakref.WeakKeyDictionary[ThreadBase, int] = weakref.WeakKeyDictionary()  # files per thread


class LongAnswer:
    """One answer's text as it streams: what the thread shows of it, and the whole of it.

    Counted in characters as Slack shows them (escaped), like the message limit."""

    def __init__(self, message_limit: int) -> None:
        self.cutoff = ANSWER_MESSAGES * message_limit
        self.hold = min(HOLD, message_limit // 4)
        self.whole = ""  # Claude's text as written: the file
        self.shown = 0  # escaped characters given to the thread
        self.held = ""  # escaped text just before the cut-off, not yet given to the thread
        self.rest = ""  # escaped text past the cut: posted if the file can't be shared
        self.over = False  # it passed the cut-off

    def take(self, text: str, raw: str) -> tuple[str, bool]:
        """Claude's next words (`text` escaped for Slack, `raw` as written): what the thread
        shows of them now, and whether the answer passed the cut-off with them."""
        self.whole += raw
        if self.over:
            self.rest += text
            return "", False
        pending, room = self.held + text, self.cutoff - self.shown
        if len(pending) > room:
            cut = split_point(pending, 0, room)
            self.over, self.held, self.rest = True, "", pending[cut:]
            return self._show(pending[:cut]), True
        free = max(0, room - self.hold)
        self.held = pending[free:]
        return self._show(pending[:free]), False

    def text_ended(self) -> str:
        """Claude's text stopped (a block or the turn ended): what was held back, to show now."""
        held, self.held = self.held, ""
        return self._show(held)

    def _show(self, text: str) -> str:
        self.shown += len(text)
        return text


def pointer_after(shown: str) -> str:
    """What ends the short answer (the message showing `shown`): a code fence it leaves open
    is closed, then a line saying where the rest is."""
    tail = "\n" + FENCE if shown.count(FENCE) % 2 else ""
    text = shown + tail
    return tail + ("" if text.endswith("\n\n") else "\n" if text.endswith("\n") else "\n\n") + POINTER


async def share_answer(relay: ThreadBase, whole: str) -> str | None:
    """Upload the whole answer into the thread as a Markdown file, through the scheduler
    (which waits out Slack's rate limits). None once it is there, else Slack's error."""
    number = _shared[relay] = _shared.get(relay, 0) + 1
    name = f"answer-{number}.md"
    try:
        await relay.share_files([{"content": whole, "filename": name, "title": "Claude's full answer"}])
    except SLACK_ERRORS as exc:
        log.error("could not upload a long answer in %s/%s: %s", relay.channel, relay.thread_ts, slack_error(exc))
        return slack_error(exc)
    return None
