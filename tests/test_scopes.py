"""The fake refuses each Web API method whose scope manifest.yml does not ask for, as
Slack refuses it (``missing_scope`` with ``needed`` and ``provided``), and every method
the bot calls has its scope in the manifest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import DEFAULT_SCOPES, METHOD_SCOPES, FakeSlack, manifest_scopes

REPO = Path(__file__).resolve().parent.parent
# A call in the code -> the Web API methods it makes (files_upload_v2 makes two).
MADE_BY = {"files.upload_v2": ("files.getUploadURLExternal", "files.completeUploadExternal")}
# conversations.* need the scope of the conversation's kind: interviews live in public
# and private channels (the manifest's message.channels and message.groups events).
BY_KIND = {
    "conversations.replies": ("channels:history", "groups:history"),
    "users.conversations": ("channels:read", "groups:read"),
}
NO_SCOPE = {"auth.test", "chat.getPermalink", "views.open", "views.publish"}  # views need none


def methods_the_bot_calls() -> set[str]:
    code = "\n".join(p.read_text() for p in (REPO / "slackbot").rglob("*.py"))
    families = "auth|chat|conversations|files|users|reactions|assistant|views"
    found = re.findall(rf"client\.((?:{families})_[A-Za-z0-9_]+)\(", code)
    # chat_postMessage is chat.postMessage, assistant_threads_setStatus assistant.threads.setStatus
    calls = {m.replace("_", ".", 2 if m.startswith("assistant_") else 1) for m in found}
    return {made for call in calls for made in MADE_BY.get(call, (call,))}


def test_every_method_the_bot_calls_has_its_scope_in_the_manifest():
    granted = set(manifest_scopes().split(","))
    called = methods_the_bot_calls()
    assert {"chat.startStream", "chat.postEphemeral", "users.info", "files.completeUploadExternal"} <= called
    for method in sorted(called - NO_SCOPE):
        if method in BY_KIND:
            assert set(BY_KIND[method]) <= granted, method
        else:
            assert set(METHOD_SCOPES[method]) & granted, f"{method} needs one of {METHOD_SCOPES[method]}"


async def test_a_method_without_its_scope_is_refused_saying_what_was_needed_and_given():
    async with FakeSlack(scopes="commands,users:read") as fake:
        fake.add_user("U1", name="ana")
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        with pytest.raises(SlackApiError) as refused:
            await client.chat_postMessage(channel="C1", text="hi")
        answer = refused.value.response.data
        assert answer == {"ok": False, "error": "missing_scope", "needed": "chat:write",
                          "provided": "commands,users:read"}
        assert fake.messages == []
        assert (await client.users_info(user="U1"))["user"]["id"] == "U1"  # what it has is served


async def test_conversations_need_the_scope_of_their_kind():
    async with FakeSlack(scopes="channels:history,chat:write") as fake:
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        root = await client.chat_postMessage(channel="G1", text="in a private channel")
        with pytest.raises(SlackApiError) as refused:
            await client.conversations_replies(channel="G1", ts=root["ts"])
        assert refused.value.response["needed"] == "groups:history"
        with pytest.raises(SlackApiError) as listing:
            await client.users_conversations(user="U1", types="public_channel,private_channel")
        assert listing.value.response["needed"] == "channels:read"


def test_the_fake_grants_what_the_manifest_asks_for():
    assert DEFAULT_SCOPES == manifest_scopes() and "chat:write" in DEFAULT_SCOPES.split(",")
