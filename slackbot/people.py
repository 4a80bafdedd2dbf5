"""Display names for Slack users, cached, so Claude can tell teammates apart."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class DisplayNames:
    """users.info, remembered for `ttl_seconds` (so a rename shows within the hour)
    for at most `max_entries` people (least recently used forgotten first), so the
    cache stays small in a workspace of any size."""

    def __init__(self, client: AsyncWebClient, ttl_seconds: float = 3600.0, max_entries: int = 1000) -> None:
        self.client = client
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._cache: OrderedDict[str, tuple[float, str]] = OrderedDict()  # user -> (fetched at, name)

    async def get(self, user_id: str) -> str:
        cached = self._cache.get(user_id)
        if cached is not None:
            if time.monotonic() - cached[0] < self.ttl:
                self._cache.move_to_end(user_id)
                return cached[1]
            del self._cache[user_id]
        try:
            user = (await self.client.users_info(user=user_id))["user"]
            profile = user.get("profile") or {}
            name = profile.get("display_name") or profile.get("real_name") or user.get("name") or user_id
        except SlackApiError as exc:  # e.g. missing users:read: fall back to the id
            log.warning("users.info failed for %s: %s", user_id, exc.response.get("error"))
            return user_id
        self._cache[user_id] = (time.monotonic(), name)
        self._cache.move_to_end(user_id)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return name
