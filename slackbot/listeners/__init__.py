"""Slack in: each module registers thin handlers that ack, check and hand over."""

import logging
from collections.abc import Awaitable, Callable

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from ..people import DisplayNames
from ..registry import Interviews
from . import actions, commands, messages

log = logging.getLogger(__name__)


def register_all(app: AsyncApp, interviews: Interviews) -> None:
    app.middleware(same_workspace)
    names = DisplayNames(app.client)  # one cache for every listener
    commands.register(app, interviews)
    messages.register(app, interviews, names)
    actions.register(app, interviews, names)


async def same_workspace(
    context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
) -> BoltResponse | None:
    """Serve only the workspace the bot token belongs to (auth.test), whatever a payload claims."""
    authorized = context.authorize_result
    home = authorized.team_id if authorized is not None else None
    if home and context.team_id and context.team_id != home:
        log.warning("dropped a request from workspace %s; the bot token belongs to %s", context.team_id, home)
        return BoltResponse(status=200, body="")  # acknowledged, so Slack does not retry; nothing runs
    await next()
    return None
