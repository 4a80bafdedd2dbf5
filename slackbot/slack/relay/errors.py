"""What a Slack write can fail with, and how to name it in a log line or a note."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError

# Slack's refusal, or the network on the way there.
SLACK_ERRORS = (SlackApiError, SlackRequestError, aiohttp.ClientError, TimeoutError)


def slack_error(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "unknown_error"))
    return str(exc) or type(exc).__name__
