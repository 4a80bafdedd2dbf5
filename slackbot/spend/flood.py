"""Limits on how much one person, or one merged batch, can push at Claude.

Pure logic: a sliding-window limit per person, the files of one reply that one
turn can take, and the rule for how many waiting replies one turn takes.

A turn takes at most MAX_BATCH_CHARS characters of people's text and text files
(counted as the characters Claude reads), at most MAX_BATCH_FILES files, and at
most MAX_BATCH_IMAGE_BYTES of images (images count by their bytes: Claude's cost
for a picture follows its pixels, but what the request carries, and every later
turn's context keeps, is its bytes). Replies that don't fit wait for the next
turn; a reply that alone can never fit keeps the files that do, in order, and the
others are refused with a note.

Files waiting for Claude (stored, while a budget pauses a thread or it waits for a
slot) are capped too: MAX_HELD_BYTES_PER_THREAD in one thread, and
MAX_HELD_BYTES_PER_PERSON of one person's across threads. A reply past either keeps
its text; its files are refused with a note.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..events import Attachment
from ..markup import code
from ..store import PendingReply
from ..store.records import text_chars

MAX_BATCH_CHARS = 60_000  # text and attached text files Claude gets in one turn
MAX_BATCH_FILES = 10  # what one Slack message can carry
# Two pictures at the per-image limit; as base64 about 13 MB, well inside the
# Messages API's request size even with the conversation's earlier context.
MAX_BATCH_IMAGE_BYTES = 10 * 2**20
TOO_LONG = (
    f"too long for one turn: Claude takes at most {MAX_BATCH_CHARS:,} characters of messages and "
    "text files at a time, so paste the part that matters"
)
TOO_MANY_IMAGES = (
    f"one turn takes at most {MAX_BATCH_IMAGE_BYTES // 2**20} MB of images, "
    "so send it again in a message of its own"
)
TOO_MANY_FILES = f"one turn takes at most {MAX_BATCH_FILES} files, so send it again in a message of its own"
MAX_HELD_BYTES_PER_THREAD = 20 * 2**20  # two turns' worth of images
MAX_HELD_BYTES_PER_PERSON = 10 * 2**20  # one turn's worth, across all of a person's threads


@dataclass
class _Window:
    times: deque[float]
    told_at: float = float("-inf")


class PerPersonLimit:
    """At most `limit` events per person within `window` seconds."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._people: dict[str, _Window] = {}

    def allow(self, person: str) -> bool:
        """Count one event; False (and not counted) when the person is over the limit."""
        now = self.clock()
        self._forget(now)
        entry = self._people.setdefault(person, _Window(deque()))
        if len(entry.times) >= self.limit:
            return False
        entry.times.append(now)
        return True

    def should_tell(self, person: str) -> bool:
        """True once per window for a refused person, so the refusal itself can't flood."""
        now = self.clock()
        entry = self._people.get(person)
        if entry is None or now - entry.told_at < self.window:
            return False
        entry.told_at = now
        return True

    def _forget(self, now: float) -> None:
        for person, entry in list(self._people.items()):
            while entry.times and now - entry.times[0] >= self.window:
                entry.times.popleft()
            if not entry.times and now - entry.told_at >= self.window:
                del self._people[person]  # the table never outgrows the people active right now


@dataclass(frozen=True)
class Weight:
    """What a reply adds to a turn."""

    chars: int = 0
    files: int = 0
    image_bytes: int = 0

    def __add__(self, other: Weight) -> Weight:
        return Weight(self.chars + other.chars, self.files + other.files, self.image_bytes + other.image_bytes)

    @property
    def fits(self) -> bool:
        return (
            self.chars <= MAX_BATCH_CHARS and self.files <= MAX_BATCH_FILES
            and self.image_bytes <= MAX_BATCH_IMAGE_BYTES
        )


def reply_weight(reply: PendingReply) -> Weight:
    return Weight(len(reply.text) + reply.file_text_chars, reply.file_count, reply.file_image_bytes)


def take_batch(pending: Sequence[PendingReply]) -> list[PendingReply]:
    """The replies one turn answers: in order, up to the first not yet ready, within
    the caps (at least one, if the first is ready)."""
    batch: list[PendingReply] = []
    total = Weight()
    for reply in pending:
        if not reply.ready:  # its files are still on the way: later ones wait behind it
            break
        more = total + reply_weight(reply)
        if batch and not more.fits:
            break
        batch.append(reply)
        total = more
    return batch


def merge(batch: Sequence[PendingReply]) -> str:
    """One message for Claude, each reply prefixed with its author's name."""
    return "\n\n".join(f"{r.author}: {r.text}" if r.author else r.text for r in batch)


@dataclass(frozen=True)
class Room:
    """Bytes of files a reply may still add to those waiting for Claude, and why no more."""

    bytes: float = float("inf")
    reason: str = ""


def held_room(thread: int, person: int) -> Room:
    """The room left by the files already waiting in the thread, and the person's everywhere."""
    for_thread, for_person = MAX_HELD_BYTES_PER_THREAD - thread, MAX_HELD_BYTES_PER_PERSON - person
    if for_person <= for_thread:
        return Room(for_person, (
            f"not kept: you already have {_mb(person)} of files waiting for Claude (at most "
            f"{_mb(MAX_HELD_BYTES_PER_PERSON)} across your interviews), so send it again once Claude has answered"
        ))
    return Room(for_thread, (
        f"not kept: this interview already has {_mb(thread)} of files waiting for Claude (at most "
        f"{_mb(MAX_HELD_BYTES_PER_THREAD)}), so send it again once Claude has answered"
    ))


def _mb(size: int) -> str:
    return f"{size / 2**20:.0f} MB" if size >= 2**20 else f"{size / 2**20:.1f} MB"


@dataclass(frozen=True)
class Fitted:
    """A reply made to fit one turn."""

    text: str  # for Claude: what the person wrote, and a line for each file it doesn't get
    files: tuple[Attachment, ...]  # the files it gets
    notes: list[str] = field(default_factory=list)  # for people: each file not passed on, and why


def fit_reply(text: str, files: Sequence[Attachment], notes: Sequence[str] = (), room: Room = Room()) -> Fitted:
    """Keep, in order, the files one turn can take with `text` (and the lines telling
    Claude of the files it doesn't get, `notes` and those refused here), within the
    `room` left for files waiting; refuse the rest."""
    sized = [(f, text_chars((f,))) for f in files]
    chars = MAX_BATCH_CHARS
    while True:
        kept, refused, weight = _pick(sized, chars - len(text), room)
        told = [*notes, *refused]
        # Claude hears of them too, so it doesn't assume it saw them.
        said = "\n".join([text, *(f"(A file was not passed on: {note})" for note in told)]).strip()
        over = len(said) + weight.chars - MAX_BATCH_CHARS
        if over <= 0 or all(f.is_image for f in kept):
            return Fitted(said, tuple(kept), told)
        chars -= over  # the lines about refused files took room: refuse more


def _pick(
    sized: list[tuple[Attachment, int]], chars_left: int, room: Room
) -> tuple[list[Attachment], list[str], Weight]:
    """The files, in order, that fit with `chars_left` characters and `room` left; a note for each other."""
    kept: list[Attachment] = []
    refused: list[str] = []
    total, size = Weight(), 0
    for file, chars in sized:
        more = total + Weight(chars, 1, file.size if file.is_image else 0)
        if size + file.size > room.bytes:
            refused.append(f"{code(file.name)}: {room.reason}")
        elif more.files > MAX_BATCH_FILES:
            refused.append(f"{code(file.name)}: {TOO_MANY_FILES}")
        elif more.image_bytes > MAX_BATCH_IMAGE_BYTES:
            refused.append(f"{code(file.name)}: {TOO_MANY_IMAGES}")
        elif not file.is_image and more.chars > chars_left:
            refused.append(f"{code(file.name)}: {TOO_LONG}")
        else:
            kept.append(file)
            total, size = more, size + file.size
    return kept, refused, total
