"""Answers through a request's response_url, within what Slack allows: each URL "up
to 5 times within 30 minutes". Past that, or when Slack refuses the URL, the answer
goes out as a message instead (privately when it was private), so it is never lost."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_bolt.async_app import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.models.attachments import Attachment
from slack_sdk.models.blocks import Block
from slack_sdk.webhook.async_client import AsyncWebhookClient, WebhookResponse

from ..slack.relay import SLACK_ERRORS, slack_error

log = logging.getLogger(__name__)

USES = 5
LIFETIME = 30 * 60.0
MARGIN = 60.0  # a post sent just before the half hour may reach Slack after it

Fallback = Callable[[dict[str, Any]], Awaitable[None]]


class CountedRespond(AsyncRespond):
    """Bolt's `respond` for one request, counting its URL's uses from when it arrived."""

    def __init__(
        self, *, response_url: str | None, fallback: Fallback, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(response_url=response_url)
        self.fallback, self.clock = fallback, clock
        self.born, self.uses = clock(), 0

    async def __call__(  # the signature of Bolt's respond
        self,
        text: str | dict = "",
        blocks: Sequence[dict | Block] | None = None,
        attachments: Sequence[dict | Attachment] | None = None,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WebhookResponse:
        given = {
            "blocks": [b.to_dict() if isinstance(b, Block) else b for b in blocks] if blocks else None,
            "response_type": response_type, "replace_original": replace_original,
            "delete_original": delete_original, "unfurl_links": unfurl_links, "unfurl_media": unfurl_media,
            "thread_ts": thread_ts, "metadata": metadata,
        }
        message = {k: v for k, v in given.items() if v is not None}
        message = {**message, **text} if isinstance(text, dict) else {"text": text, **message}
        url = self.response_url or ""
        if self.uses < USES and self.clock() - self.born < LIFETIME - MARGIN and url:
            self.uses += 1
            response = await AsyncWebhookClient(url=url).send_dict(message)
            if response.status_code == 200:
                return response
            log.warning("Slack refused a response_url (%s %s); answering with a message instead",
                        response.status_code, response.body)
        else:
            log.info("this request's response_url is used up or too old; answering with a message instead")
        await self.fallback(message)
        return WebhookResponse(url=url, status_code=200, body="answered with a message", headers={})


Send = Callable[..., Awaitable[Any]]


def answering(post: Send, ephemeral: Send) -> Callable[..., Awaitable[None]]:
    """Bolt middleware giving every request with a response_url a `CountedRespond`;
    `post` and `ephemeral` (the scheduler's) send the answer when the URL can't."""

    async def middleware(context: AsyncBoltContext, next: Callable[[], Awaitable[None]]) -> None:
        if context.response_url:
            async def fallback(message: dict[str, Any]) -> None:
                await _as_message(context, message, post, ephemeral)

            context["respond"] = CountedRespond(response_url=context.response_url, fallback=fallback)
        await next()

    return middleware


async def _as_message(context: AsyncBoltContext, message: dict[str, Any], post: Send, ephemeral: Send) -> None:
    """What the response_url would have shown, as a message: in the channel if it was
    for everyone, else privately to the person who acted. A deletion is left undone."""
    channel, user = context.channel_id, context.user_id
    if message.get("delete_original") or not channel:
        return
    content = {"text": message.get("text") or "", **({"blocks": message["blocks"]} if message.get("blocks") else {})}
    thread = {"thread_ts": message["thread_ts"]} if message.get("thread_ts") else {}
    try:
        if message.get("response_type") == "in_channel":
            await post(channel=channel, **content, **thread)
        elif user:
            await ephemeral(channel=channel, user=user, **content, **thread)
    except SLACK_ERRORS as exc:
        log.warning("could not answer %s in %s (%s): %s", user, channel, slack_error(exc), content["text"])
