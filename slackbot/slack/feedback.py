"""Feedback on a finished spec: Slack's `feedback_buttons` under the completion message,
and what a click says back. Pure Block Kit: no Slack SDK, no store."""

from __future__ import annotations

from typing import Any

FEEDBACK_ACTION = "spec_feedback"
POSITIVE, NEGATIVE = "positive", "negative"
THANKS = {
    POSITIVE: "Thanks, I noted that this spec worked for you. Click again to change your vote.",
    NEGATIVE: (
        "Thanks, I noted that this spec fell short. Reply in the thread with what's missing and "
        "Claude will revise it. Click again to change your vote."
    ),
}


def feedback_block() -> dict[str, Any]:
    """A thumbs up and a thumbs down under the spec; the click's interview is the thread it is in."""
    return {
        "type": "context_actions",
        "block_id": "spec_feedback",
        "elements": [{
            "type": "feedback_buttons",
            "action_id": FEEDBACK_ACTION,
            "positive_button": {
                "text": {"type": "plain_text", "text": "👍"}, "value": POSITIVE,
                "accessibility_label": "This spec is good",
            },
            "negative_button": {
                "text": {"type": "plain_text", "text": "👎"}, "value": NEGATIVE,
                "accessibility_label": "This spec needs work",
            },
        }],
    }


def vote_of(value: object) -> bool | None:
    """True for a positive click, False for a negative one, None for a value we never sent."""
    return {POSITIVE: True, NEGATIVE: False}.get(str(value))


def feedback_line(positive: int, negative: int) -> str:
    """For `/newspec usage`: the votes on finished specs."""
    if not positive and not negative:
        return "*Feedback on finished specs*: no votes in these days."
    return f"*Feedback on finished specs*: 👍 {positive:,} · 👎 {negative:,}"
