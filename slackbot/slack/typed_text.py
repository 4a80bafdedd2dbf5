"""What people typed, from the way Slack delivers it.

Slack sends the text of messages and commands with `&`, `<` and `>` as `&amp;`,
`&lt;` and `&gt;`, and people, channels and links as markup: `<@U1>`,
`<#C1|general>`, `<https://x.y|label>`, `<!here>` (its formatting docs). Claude is
to read what the person typed, so incoming text is decoded here, once, on the way
in; what the bot shows back is escaped once (markup.escape), so nothing decoded
here can become a mention or a link again.
"""

from __future__ import annotations

import re
from collections.abc import Callable

NameOf = Callable[[str], "str | None"]  # a user id's display name, if known

# One pass over both: markup (nothing inside can be `<` or `>`: Slack sends those as
# entities) and the three entities Slack makes, so `&amp;lt;` decodes once, to `&lt;`.
_TOKEN = re.compile(r"<([^<>]*)>|&(amp|lt|gt);")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_CHARS = {"amp": "&", "lt": "<", "gt": ">"}
_MENTION = re.compile(r"<@(\w+)(?:\|[^<>]*)?>")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_BROADCASTS = frozenset({"here", "channel", "everyone"})


def _no_names(user_id: str) -> str | None:
    return None


def typed_text(slack_text: str, name_of: NameOf = _no_names) -> str:
    """`slack_text` as the person typed it: entities as characters, `<@U1>` as
    `@Their Name` (`name_of`; else the name Slack gave, else `@U1`), `<#C1|general>`
    as `#general`, a link as `label (url)` (just the url, or just the label when it is
    the url as typed), `<!here>` as `@here`, a user group by its handle. Anything else
    stays as it came."""

    def one(match: re.Match[str]) -> str:
        entity = match.group(2)
        return _CHARS[entity] if entity else _markup(match.group(1), name_of)

    return _TOKEN.sub(one, slack_text)


def mentioned(slack_text: str) -> list[str]:
    """The user ids of the people mentioned (markup only, not typed look-alikes), once each."""
    return list(dict.fromkeys(m.group(1) for m in _MENTION.finditer(slack_text)))


def _unescape(text: str) -> str:
    return _ENTITY.sub(lambda m: _CHARS[m.group(1)], text)


def _markup(inner: str, name_of: NameOf) -> str:
    target, _, label = inner.partition("|")
    target, label = _unescape(target), _unescape(label)
    if target.startswith("@"):
        user_id = target[1:]
        return "@" + ((name_of(user_id) if user_id else None) or label or user_id)
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        return _special(target[1:], label)
    if _SCHEME.match(target):
        return _link(target, label)
    return f"<{_unescape(inner)}>"  # not Slack's markup (it would have sent `&lt;`): as it came


def _special(command: str, label: str) -> str:
    """`<!here>` and the like, user groups (`<!subteam^S1|@team>`) and dates (their fallback text)."""
    kind, _, rest = command.partition("^")
    if kind in _BROADCASTS:
        return "@" + kind
    if label:
        return label if kind != "subteam" or label.startswith("@") else "@" + label
    return "@" + (rest.partition("^")[0] if kind == "subteam" and rest else kind)


def _link(url: str, label: str) -> str:
    """A link as words: Slack links what people type that looks like an address
    (`example.com` arrives as `<http://example.com|example.com>`): that stays as typed."""
    if not label or label == url:
        return url
    if label == url.split(":", 1)[1].lstrip("/"):
        return label
    return f"{label} ({url})"
