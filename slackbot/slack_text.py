"""Text we post to Slack: every value that a person, a file or Claude wrote is
escaped here, so it shows as typed and can never become a mention, a channel
ping or a disguised link. Markup the bot itself adds (`<@U…>` of the person who
clicked, a permalink) is written around escaped values, never inside them.
"""

from __future__ import annotations

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(text: object) -> str:
    """Slack's three control characters as entities (Slack shows them as typed)."""
    return str(text).translate(_ESCAPES)


def code(text: object) -> str:
    """An inline code span around an escaped value (backticks inside are dropped)."""
    return f"`{escape(text).replace('`', chr(39))}`"


def usd(amount: float) -> str:
    """A budget in dollars: to the cent, unless it is set finer."""
    return f"${amount:,.2f}" if round(amount, 2) == amount else f"${amount:,.4f}"
