"""The scheduler's Slack clients, counting each Web API call and each refusal as
rate-limited, by method, for /metrics.

Every method of AsyncWebClient (chat_postMessage, the streams, files_upload_v2's two
Web API calls) goes through api_call, so counting there sees every call the scheduler
makes without a line in the scheduler. The scheduler's main client has no retry handlers:
each HTTP attempt is one call here, and each 429 is counted. The upload client retries
429s and 5xx itself (inside api_call): those count once, as the call that finally answered.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from ..metrics import Metrics
from .rate_limits import rate_limited


class CountedClient(AsyncWebClient):
    def __init__(self, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        try:
            response = await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            self.metrics.slack_call(api_method, rate_limited(exc))
            raise
        except Exception:  # no answer (a connection error): a call made all the same
            self.metrics.slack_call(api_method, False)
            raise
        self.metrics.slack_call(api_method, False)
        return response
