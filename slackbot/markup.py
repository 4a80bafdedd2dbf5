"""Text we post to Slack: every value that a person, a file or Claude wrote is
escaped here, so it shows as typed and can never become a mention, a channel
ping or a disguised link. Markup the bot itself adds (`<@U…>` of the person who
clicked, a permalink) is written around escaped values, never inside them.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(text: object) -> str:
    """Slack's three control characters as entities (Slack shows them as typed)."""
    return str(text).translate(_ESCAPES)


def code(text: object) -> str:
    """An inline code span around an escaped value (backticks inside are dropped)."""
    return f"`{escape(text).replace('`', chr(39))}`"


def usd(amount: float, *, as_set: bool = False) -> str:
    """An amount of US dollars as people read it; every amount the bot shows goes through here.

    Spend (measured; a turn costs fractions of a cent):
    - exactly zero reads "$0";
    - more than zero but under a cent reads "less than $0.01" (never "$0.00" or "$0.0000":
      something was spent, and rounding up would claim a cent that wasn't);
    - otherwise to the cent, half a cent up, with thousands commas: "$0.42", "$12.30", "$1,234.50".
    A budget someone set (`as_set`) reads as it was set, at least to the cent: "$5.00", "$0.25",
    "$2.50", and one set finer keeps its digits (up to six places): "$0.001", "$0.125".
    A negative amount (none is expected) reads the same with a minus sign in front.
    """
    if amount < 0:
        return f"-{usd(-amount, as_set=as_set)}"
    if as_set:
        whole, _, places = f"{amount:,.6f}".rstrip("0").partition(".")
        return f"${whole}.{places.ljust(2, '0')}"
    if amount == 0:
        return "$0"
    if amount < 0.01:
        return "less than $0.01"
    return f"${Decimal(repr(amount)).quantize(CENT, ROUND_HALF_UP):,}"
