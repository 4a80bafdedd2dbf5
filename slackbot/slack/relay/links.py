"""Claude's markdown links, made to show where they go.

Slack renders Claude's text as markdown, where `[bank](https://evil.example)` shows
"bank" and goes elsewhere, `![x](https://evil.example/p.png)` embeds (and fetches) an
image, and a definition line `[1]: https://evil.example` gives `[bank][1]` a hidden
target. Escaping &, < and > changes none of that. So, before escaping:

- `[text](target)` shows as `text (target)`, or as just `target` when that is its
  text; `![alt](target)` as `alt (target)`: never an image.
- Any other `](` gets a space, `] (`, which makes no link: one too long to hold back
  (MAX_HOLD), across a line, or after a word (`arr[i](x)` is code, not prose).
- `[label]:` where a definition could start (a block's or line's start, after a space
  or a quote marker `>`) gets a space too, `[label] :`, which defines nothing; after
  a word (`d[k]:` in code) none can.

Code is no exception, and can't be: Slack shows link syntax in code literally, but a
long answer continues in a new message cut where it fits, and a code span or fence
cut in two leaves its text as plain markdown. Nothing else in code changes.

Those cuts start a new line where the text had none, so what a definition needs is
kept for them too: they fall after a space, at a hard cut (see stream.split_point), or
where the filter returned text, and it never returns text that stops right before a `[`
(unless after a space, or at a flush, after which text starts a new block).

Claude's text comes in pieces that can cut a link anywhere: `feed` holds back a link
that may be coming until it can tell (never past a line's end, at most MAX_HOLD
characters), and every way of cutting the same text comes out the same.
"""

from __future__ import annotations

MAX_HOLD = 1_000  # characters a possible link is held back before it is shown as it is
_SPACE = frozenset(" \t\r\n")
# Before a `[` whose link is rewritten as `text (target)`: prose. After anything else (a
# word, a quote, a backtick) it is more likely code, and only gets its space.
_PROSE_BEFORE = _SPACE | frozenset("(*_~>")
# Before a `[` that could start a reference definition (a line's start comes after "\n").
_DEFINITION_BEFORE = _SPACE | frozenset(">")


class _More:
    """The text so far can't tell whether a link is there."""


MORE = _More()


class LinkFilter:
    """Claude's text in, the same text out with its links showing their targets; the
    output is then escaped like any other text (see TurnView)."""

    def __init__(self) -> None:
        self._buf = ""  # text taken but not yet returned
        self._done = 0  # how much of it is decided (links in it rewritten)
        self._prev = ""  # the last character returned
        self._block = True  # the next character starts a block: a new text, a new message
        self._label = False  # an open `[` could start a reference definition
        self._closed = False  # the last character was a `]` that may have closed it
        self._backslash = False  # the last character was a backslash that escapes the next

    def feed(self, text: str) -> str:
        """What can be shown of everything fed so far; the rest waits for more."""
        self._buf += text
        self._decide(final=False)
        cut = self._done
        if cut and self._buf[cut - 1] not in _SPACE:
            # The last character waits (a `!` may start an image), and what is returned
            # never stops right before a `[` after a word: a message cut there would
            # start a line with it, where a definition could start.
            cut -= 1
            while cut and self._buf[cut] == "[":
                cut -= 1
        return self._emit(cut)

    def flush(self) -> str:
        """The rest, at the end of a text: what was held back shows as it is. What comes
        next starts a new block (after a paragraph break, or in a new message)."""
        self._decide(final=True)
        text = self._emit(len(self._buf))
        self._block, self._backslash = True, False  # a backslash escapes nothing in the next block
        return text

    def _decide(self, final: bool) -> None:
        """Rewrite the links in the undecided text, up to one that may still be coming."""
        buf, at, held = self._buf, self._done, -1
        while (at := buf.find("[", at)) != -1:
            start = at - 1 if at and buf[at - 1] == "!" else at
            found = _link(buf, start, at, final) if self._prose_before(buf, start) else None
            if found is MORE:
                held = start
                break
            if not isinstance(found, tuple):
                at += 1
                continue
            end, shown = found
            buf = buf[:start] + shown + buf[end:]
            at = start  # what it shows may hold a link of its own (an image in a link)
        self._buf, self._done = buf, len(buf) if held < 0 else held

    def _prose_before(self, buf: str, start: int) -> bool:
        if start:
            return buf[start - 1] in _PROSE_BEFORE
        return self._block or self._prev in _PROSE_BEFORE

    def _emit(self, cut: int) -> str:
        """Return the first `cut` characters, with a space in every `](` (no link, no
        image) and in `]:` after a label that could start a definition."""
        text, self._buf, self._done = self._buf[:cut], self._buf[cut:], self._done - cut
        out: list[str] = []
        for char in text:
            if (char == "(" and self._prev == "]") or (char == ":" and self._closed):
                out.append(" ")
            self._track(char)
            out.append(char)
        return "".join(out)

    def _track(self, char: str) -> None:
        escaped = self._backslash
        self._closed = False
        if char == "[" and not escaped:
            self._label = self._block or self._prev in _DEFINITION_BEFORE
        elif char == "]":
            # `\]` closes it where a backslash escapes nothing, and not where it does.
            self._closed, self._label = self._label, self._label and escaped
        self._backslash = char == "\\" and not escaped
        self._prev, self._block = char, False


def _link(buf: str, start: int, at: int, final: bool) -> tuple[int, str] | _More | None:
    """The link `[text](target)` at `at` (an image if `start` is its `!`): where it ends
    and what shows instead. None if there is none; MORE if the text so far can't tell."""
    limit = min(len(buf), start + MAX_HOLD)
    more = MORE if not final and len(buf) < start + MAX_HOLD else None
    close = _closing(buf, at + 1, limit, "[", "]")
    if close is None:
        return None
    if isinstance(close, _More) or close + 1 >= limit:
        return more
    if buf[close + 1] != "(":
        return None
    end = _closing(buf, close + 2, limit, "(", ")")
    if end is None:
        return None
    if isinstance(end, _More):
        return more
    text, target = buf[at + 1 : close], _target(buf[close + 2 : end])
    if not target or text.strip() in ("", target):
        return end + 1, target or text
    return end + 1, f"{text} ({target})"


def _closing(buf: str, at: int, limit: int, opening: str, closing: str) -> int | _More | None:
    """Where the bracket opened before `at` closes (nested pairs and escapes skipped);
    None if a line ends first, MORE if `limit` comes first."""
    depth = 1
    while at < limit:
        char = buf[at]
        if char == "\n":
            return None
        if char == "\\" and at + 1 < limit and buf[at + 1] != "\n":
            at += 2
            continue
        if char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if not depth:
                return at
        at += 1
    return MORE


def _target(inside: str) -> str:
    """A link's target as people should read it: `<…>` unwrapped, a title kept."""
    inside = inside.strip()
    return inside[1:-1] if inside.startswith("<") and inside.endswith(">") else inside
