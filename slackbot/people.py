"""Display names for Slack users, cached, so Claude can tell teammates apart."""

from __future__ import annotations

import logging
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class DisplayNames:
    def __init__(self, client: AsyncWebClient, ttl_seconds: float = 3600.0) -> None:
        self.client = client
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[float, str]] = {}

    async def get(self, user_id: str) -> str:
        cached = self._cache.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        try:
            user = (await self.client.users_info(user=user_id))["user"]
            profile = user.get("profile") or {}
            name = profile.get("display_name") or profile.get("real_name") or user.get("name") or user_id
        except SlackApiError as exc:  # e.g. missing users:read: fall back to the id
            log.warning("users.info failed for %s: %s", user_id, exc.response.get("error"))
            return user_id
        self._cache[user_id] = (time.monotonic(), name)
        return name
