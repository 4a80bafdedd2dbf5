"""What Claude is doing, shown inside its own message rather than in a status line
of its own: as task cards in a native stream (`task_update` chunks, interleaved
with the text where they happened), as a context line while a message is posted
and updated. Either way it costs no Slack write of its own: it rides on the
message's next write."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...markup import escape
from ..blocks import shorten

TASK_TITLE = 120  # characters of a task card's title shown (Slack documents no limit)
TASK_OUTPUT = 256  # characters of a card's output, as posted (another SDK documents this cap)


@dataclass(frozen=True)
class TaskMark:
    """A task card's state from a point in the message's text on."""

    at: int  # offset in the message's text where it happened
    id: str
    title: str  # as Claude's tool input made it (shortened, not escaped): escaped where it is posted
    status: str  # "in_progress", "complete" or "error"
    output: str = ""  # why it failed (not escaped): escaped where it is posted
    tool: str = ""  # the tool call it shows, so the call's outcome finds it


@dataclass
class Activity:
    """The task cards of one message, in order, and how many Slack has been sent."""

    marks: list[TaskMark] = field(default_factory=list)
    sent: int = 0  # marks Slack confirmed
    current: TaskMark | None = None  # the task in progress, if any
    count: int = 0

    @property
    def title(self) -> str | None:
        """What Claude is doing right now (None: writing, or done)."""
        return None if self.current is None else self.current.title

    @property
    def unsent(self) -> bool:
        return self.sent < len(self.marks)

    def start(self, title: str, at: int, tool: str = "") -> None:
        """A new task begins where the text is now; the one before it is done."""
        self.settle(at)
        self.count += 1
        self.current = TaskMark(at, f"task{self.count}", shorten(title, TASK_TITLE), "in_progress", tool=tool)
        self.marks.append(self.current)

    def settle(self, at: int) -> None:
        """The task in progress is done (text goes on, another task starts, or the message ends)."""
        if self.current is not None:
            self.marks.append(TaskMark(at, self.current.id, self.current.title, "complete", tool=self.current.tool))
            self.current = None

    def fail(self, tool: str, output: str, at: int) -> None:
        """The tool call `tool` failed: its card ends in error saying why, not ticked. A card
        already sent as complete (calls made together are settled as the next one starts)
        is updated in place: Slack merges task updates by id."""
        mark = next((m for m in reversed(self.marks) if tool and m.tool == tool), None)
        if mark is None:
            return  # its card is in an earlier message, or was never shown
        if self.current is not None and self.current.id == mark.id:
            self.current = None
        elif mark.status == "complete" and self.marks.index(mark) >= self.sent:
            self.marks.remove(mark)  # never sent: the error takes its place
        self.marks.append(TaskMark(max(mark.at, at), mark.id, mark.title, "error", output, tool))

    def all_sent(self) -> None:
        self.sent = len(self.marks)

    def chunks(self, text: str, start: int, end: int, upto: int) -> list[dict[str, Any]]:
        """Stream chunks for `text[start:end]` and marks `sent..upto`, each task card where
        it happened in the text."""
        chunks: list[dict[str, Any]] = []
        position = start
        for mark in self.marks[self.sent : upto]:
            at = min(max(mark.at, position), end)
            if at > position:
                chunks.append({"type": "markdown_text", "text": text[position:at]})
                position = at
            # The title carries Claude's tool input (a Glob pattern): shown as typed, never a ping.
            title = escape(mark.title)
            chunk = {"type": "task_update", "id": mark.id, "title": title, "status": mark.status}
            if mark.output:
                chunk["output"] = _escaped_output(mark.output)
            chunks.append(chunk)
        if end > position:
            chunks.append({"type": "markdown_text", "text": text[position:end]})
        return chunks

    def shift(self, by: int) -> None:
        """The message's text lost its first `by` characters (it continues in a new message):
        only marks Slack has not seen move with it."""
        self.marks = [
            TaskMark(max(0, m.at - by), m.id, m.title, m.status, m.output, m.tool) for m in self.marks[self.sent :]
        ]
        self.sent = 0


def _escaped_output(output: str) -> str:
    """An error's output as posted: shortened until its escaped form fits the card's cap
    (escaping lengthens it; an entity is never cut in half)."""
    limit = TASK_OUTPUT
    while len(shown := escape(shorten(output, limit))) > TASK_OUTPUT:
        limit -= len(shown) - TASK_OUTPUT
    return shown
