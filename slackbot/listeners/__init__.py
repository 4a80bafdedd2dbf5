"""Slack in: each module registers thin handlers that ack, check and hand over."""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from ..interview.registry import Interviews
from ..slack.people import DisplayNames
from ..slack.relay import SLACK_ERRORS
from . import actions, commands, completion, home, messages, recovery_actions, views
from .responding import answering

log = logging.getLogger(__name__)


def register_all(app: AsyncApp, interviews: Interviews) -> None:
    app.middleware(OurInstall().guard)
    app.middleware(answering(interviews.scheduler.post, interviews.scheduler.ephemeral))
    names = DisplayNames(app.client)  # one cache for every listener
    commands.register(app, interviews)
    messages.register(app, interviews, names)
    recovery_actions.register(app, interviews)  # before actions: its last listener takes any click
    home.register(app, interviews)  # before actions: its catch-all answers clicks nobody knows
    views.register(app, interviews, names)  # before actions: its last listener takes any click
    completion.register(app, interviews, names)  # before actions: its last listener catches the rest
    actions.register(app, interviews, names)


NOT_FOR_US = "This request came from a workspace or app this newspec isn't installed for, so I did nothing."
ORG_WIDE = (
    "This newspec is installed for a whole Enterprise Grid organisation, which it doesn't support, "
    "so I did nothing. Ask an admin to install it in this workspace instead."
)


@dataclass
class OurInstall:
    """Which install the bot token belongs to (auth.test, asked once): its app and its
    workspace. newspec is installed in one workspace (the manifest has
    `org_deploy_enabled: false`); an org-wide install, if one happens anyway, is
    refused with a sentence saying so, never served half-way.

    A request is served when it is for this app and comes from that workspace; in a
    Slack Connect channel, people from other organisations take part too (their own
    team is used only to address streams to them).
    """

    app_id: str | None = None
    team_id: str | None = None
    org_wide: bool = False
    known: bool = False

    async def learn(self, client: AsyncWebClient) -> None:
        if self.known:
            return
        response = await client.auth_test()
        self.app_id, self.team_id = response.get("app_id"), response.get("team_id")
        self.org_wide, self.known = bool(response.get("is_enterprise_install")), True
        if self.org_wide:
            log.error(
                "this bot token is from an org-wide install of organisation %s, which newspec doesn't support "
                "(the manifest has org_deploy_enabled: false): every request is refused; install it in a "
                "workspace instead", response.get("enterprise_id"),
            )

    def refusal(self, body: dict, context: AsyncBoltContext) -> str | None:
        """Why this request is not for this install (for the log), or None."""
        app_id = body.get("api_app_id")
        if self.app_id and app_id and app_id != self.app_id:
            return f"app {app_id}"
        if self.org_wide:
            return "an org-wide install"
        if context.is_enterprise_install:  # Bolt reads it from the request: an organisation's install
            return f"the org-wide install of organisation {context.enterprise_id}"
        shared = body.get("is_ext_shared_channel") in (True, "true") or (body.get("channel") or {}).get(
            "is_ext_shared_channel"
        )
        if context.team_id and self.team_id and context.team_id != self.team_id and not shared:
            return f"workspace {context.team_id}"
        return None

    async def guard(
        self, body: dict, context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        try:
            await self.learn(context.client)
        except SLACK_ERRORS:
            log.warning("auth.test failed; serving the request unchecked by app and workspace")
        reason = self.refusal(body, context)
        if reason is None:
            await next()
            return None
        log.warning("refused a request from %s; this install is workspace %s", reason, self.team_id)
        text = ORG_WIDE if self.org_wide else NOT_FOR_US
        await _tell(body, context, text)
        # Acknowledged (Slack does not retry); for a command, the ack is the private answer.
        return BoltResponse(status=200, body={"response_type": "ephemeral", "text": text})


async def _tell(body: dict, context: AsyncBoltContext, text: str) -> None:
    """The refusal, privately, where an ack can't carry it (clicks and messages)."""
    try:
        if context.respond is not None and body.get("type") == "block_actions":
            await context.respond(text, response_type="ephemeral", replace_original=False)
        elif body.get("type") == "event_callback" and context.channel_id and context.user_id:
            await context.client.chat_postEphemeral(channel=context.channel_id, user=context.user_id, text=text)
    except SLACK_ERRORS:
        log.warning("could not tell the refused person why", exc_info=True)
