"""The App Home tab: the interviews a person started or took part in, most recent
first, each with where it stands and a Resume button to its thread. Pure Block Kit:
no Slack SDK, no store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from ..markup import escape
from ..store import InterviewRecord, Status
from .blocks import CONTEXT_TEXT, SECTION_TEXT, shorten

VIEW_BLOCKS = 100  # Slack's limit for a view
LISTED = 40  # interviews shown; the rest are counted (each one asks Slack for a link)
RESUME_ACTION = "home_resume"
STATES = {
    Status.INTERVIEWING: "Claude is working on it",
    Status.WAITING: "waiting for an answer",
    Status.COMPLETE: "spec ready",
    Status.FAILED: "stopped on an error; a reply retries",
    Status.CANCELLED: "cancelled",
}
EMPTY = (
    "You haven't started or answered an interview yet. Run `/newspec <name>` in a channel "
    "to start one; it will show here."
)


def home_view(
    records: Sequence[InterviewRecord], links: Mapping[tuple[str, str], str], more: int = 0
) -> dict[str, Any]:
    """The Home tab for one person: `records` most recent first, `links` the permalink of
    each thread (an interview without one gets no button), `more` not listed."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Your interviews"}},
    ]
    if not records:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": EMPTY}})
    shown = records[: VIEW_BLOCKS - 2]  # room for the header and the note of those left out
    more += len(records) - len(shown)
    for record in shown:
        blocks.append(_row(record, links.get((record.channel, record.thread_ts))))
    if more:
        note = f"…and {more:,} older interview{'s' if more != 1 else ''}. `/newspec list` in a channel shows its own."
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": shorten(note, CONTEXT_TEXT)}]})
    return {"type": "home", "blocks": blocks[:VIEW_BLOCKS]}


def _row(record: InterviewRecord, link: str | None) -> dict[str, Any]:
    day = dt.datetime.fromtimestamp(record.updated_at, dt.UTC).strftime("%Y-%m-%d")
    text = f"*{escape(record.name)}* in <#{escape(record.channel)}> · {STATES[record.status]}"
    text += f"\n_last active {day} (UTC)_"
    row: dict[str, Any] = {
        "type": "section", "block_id": f"resume:{record.channel}:{record.thread_ts}"[:255],
        "text": {"type": "mrkdwn", "text": shorten(text, SECTION_TEXT)},
    }
    if link is not None:
        # A link button: Slack opens the thread; the click still reaches the app, which acks it.
        row["accessory"] = {
            "type": "button", "action_id": RESUME_ACTION,
            "text": {"type": "plain_text", "text": "Resume"}, "url": link,
        }
    return row
