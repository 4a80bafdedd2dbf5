"""Slack out: a session's events rendered into its thread (streamed text,
questions, what Claude is doing, notes, the uploaded spec). Knows Slack, not the SDK."""

from .base import MESSAGE_LIMIT, Usage
from .errors import SLACK_ERRORS, slack_error
from .stream import split_point
from .support import Recipient, StreamingSupport, recipient_team
from .thread import ThreadRelay

__all__ = [
    "MESSAGE_LIMIT", "SLACK_ERRORS", "Recipient", "StreamingSupport", "ThreadRelay", "Usage", "recipient_team",
    "slack_error", "split_point",
]
