"""Display names for Slack users, cached, so Claude can tell teammates apart; and who
counts as an admin of newspec's spend."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from .relay import SLACK_ERRORS, slack_error
from .typed_text import mentioned, typed_text

log = logging.getLogger(__name__)

# users.info flags that make someone a workspace admin, for newspec's purposes.
ADMIN_FLAGS = ("is_admin", "is_owner", "is_primary_owner")
MAX_LOOKUPS = 20  # people looked up per message; more are named by id (a paste of a member list)


async def is_admin(
    client: AsyncWebClient, user_id: str, admins: frozenset[str], home: Iterable[str | None]
) -> bool:
    """Whether `user_id` may see everyone's spend and change budgets: listed in
    NEWSPEC_ADMINS, or by users.info an admin or owner of `home` (the bot's own
    workspace and/or Enterprise Grid organisation): an admin of another
    organisation, in a Slack Connect channel, is no admin here.

    Asked afresh each time (not from the name cache): it is rare, and someone whose
    admin role was removed loses these rights at once. When Slack can't say, the
    answer is no (fail closed).
    """
    if user_id in admins:
        return True
    try:
        user = (await client.users_info(user=user_id)).get("user") or {}
    except (*SLACK_ERRORS, OSError) as exc:
        log.warning("users.info for %s failed: %s", user_id, slack_error(exc))
        return False
    if not any(user.get(flag) is True for flag in ADMIN_FLAGS):
        return False
    theirs = {user.get("team_id"), (user.get("enterprise_user") or {}).get("enterprise_id")}
    return bool(theirs & {place for place in home if place})


class DisplayNames:
    """users.info, remembered for `ttl_seconds` (so a rename shows within the hour)
    for at most `max_entries` people (least recently used forgotten first), so the
    cache stays small in a workspace of any size."""

    def __init__(self, client: AsyncWebClient, ttl_seconds: float = 3600.0, max_entries: int = 1000) -> None:
        self.client = client
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._cache: OrderedDict[str, tuple[float, str]] = OrderedDict()  # user -> (fetched at, name)

    def known(self, user_id: str) -> str | None:
        """The name if it is remembered (no Slack call), else None."""
        cached = self._cache.get(user_id)
        return cached[1] if cached is not None and time.monotonic() - cached[0] < self.ttl else None

    async def get(self, user_id: str) -> str:
        name = self.known(user_id)
        if name is not None:
            self._cache.move_to_end(user_id)
            return name
        self._cache.pop(user_id, None)  # expired, if there at all
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

    async def typed(self, slack_text: str) -> str:
        """`slack_text` as the person typed it, each person mentioned by name: looked up
        now if not remembered; someone Slack doesn't know (or can't say) keeps the id."""
        unknown = [u for u in mentioned(slack_text) if self.known(u) is None][:MAX_LOOKUPS]
        found = await asyncio.gather(*(self.get(u) for u in unknown), return_exceptions=True)
        looked_up = {u: name for u, name in zip(unknown, found, strict=True) if isinstance(name, str) and name != u}
        return typed_text(slack_text, lambda u: self.known(u) or looked_up.get(u))
