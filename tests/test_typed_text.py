"""Slack's encoding of what people type, decoded once: entities back to characters,
people and channels by name, links as words and address."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from slackbot.markup import escape
from slackbot.slack.people import DisplayNames
from slackbot.slack.typed_text import mentioned, typed_text
from tests.fakes.slack import FakeSlack, as_shown, control_sequences, slack_encoded

NAMES = {"U1": "Ana", "U2": "Bo <@U1> & co", "W3": "Grid Person"}


def decode(text: str) -> str:
    return typed_text(text, NAMES.get)


@pytest.mark.parametrize(("slack", "typed"), [
    ("R&amp;D wants p99 &lt;100ms &amp; &gt; 5", "R&D wants p99 <100ms & > 5"),
    ("&amp;lt; stays", "&lt; stays"),  # one decoding only
    ("&amp;amp;", "&amp;"),
    ("&quot;x&quot; &#60; &nbsp;", "&quot;x&quot; &#60; &nbsp;"),  # Slack encodes only & < >
    ("ask <@U1> and <@W3>", "ask @Ana and @Grid Person"),
    ("<@U9>, <@U9|old.name>", "@U9, @old.name"),  # unknown: the id, or the name Slack gave
    ("see <#C1|design> and <#C2> and <#C3|>", "see #design and #C2 and #C3"),
    ("<https://x.y/a?b=1&amp;c=2|the R&amp;D page>", "the R&D page (https://x.y/a?b=1&c=2)"),
    ("<https://x.y/a>", "https://x.y/a"),
    ("<http://example.com|example.com> <mailto:a@b.co|a@b.co>", "example.com a@b.co"),  # auto-linked
    ("<!here> <!channel> <!everyone> <!here|here>", "@here @channel @everyone @here"),
    ("<!subteam^S1|@team> <!subteam^S2>", "@team @S2"),
    ("<!date^1392734382^{date_short}|Feb 18, 2014>", "Feb 18, 2014"),
    ("&gt; a quote\nline two", "> a quote\nline two"),
])
def test_slack_text_decodes_to_what_was_typed(slack, typed):
    assert decode(slack) == typed


@pytest.mark.parametrize(("slack", "typed"), [
    ("a <@U1 b", "a <@U1 b"),  # unterminated: left as it came
    ("a < b > c", "a < b > c"),  # not Slack's markup
    ("<<@U1>>", "<@Ana>"),  # odd nesting: only the inner markup is one
    ("<>", "<>"),
    ("<@>", "@"),
    ("&amp", "&amp"),  # no semicolon: no entity
    ("&lt;@U1&gt;", "<@U1>"),  # a mention typed literally: text, never a lookup
])
def test_hostile_or_odd_text_decodes_without_surprises(slack, typed):
    assert decode(slack) == typed


def test_a_name_with_markup_in_it_is_plain_text_and_never_a_ping_when_shown_back():
    decoded = decode("ask <@U2>")
    assert decoded == "ask @Bo <@U1> & co"
    shown = escape(decoded)  # what the bot posts of it
    assert control_sequences(shown) == [] and as_shown(shown) == decoded


def test_a_mention_typed_literally_does_not_ping_when_echoed():
    slack = slack_encoded("ping <") + "@U1" + slack_encoded("> and ") + "&lt;!here&gt;"
    assert slack == "ping &lt;@U1&gt; and &lt;!here&gt;"
    decoded = decode(slack)
    assert decoded == "ping <@U1> and <!here>"  # Claude reads what was typed
    assert control_sequences(escape(decoded)) == []  # echoed, it is text again
    assert mentioned(slack) == []


def test_mentioned_lists_each_person_once_in_order():
    assert mentioned("<@U2> <#C1|x> <@U1|ana> &lt;@U7&gt; <@U2> <@W3>") == ["U2", "U1", "W3"]


def test_no_names_at_all_still_reads():
    assert typed_text("hi <@U1> &amp; <#C1|x>") == "hi @U1 & #x"


def test_the_fake_encodes_plain_text_and_keeps_markup():
    assert slack_encoded("R&D <100ms, ask <@U_OTHER> & see <#C_X|design>") == (
        "R&amp;D &lt;100ms, ask <@U_OTHER> &amp; see <#C_X|design>"
    )
    assert slack_encoded("<https://x.y/?a=1&b=2|R&D>") == "<https://x.y/?a=1&amp;b=2|R&amp;D>"
    assert as_shown("R&amp;amp;D &lt;b&gt;") == "R&amp;D <b>"


async def test_users_info_does_not_know_an_id_it_never_saw():
    async with FakeSlack() as slack:
        slack.add_user("U1", display_name="Ana")
        names = DisplayNames(AsyncWebClient(token="xoxb-test", base_url=slack.api_url))
        assert await names.get("U1") == "Ana"
        assert await names.get("U_GHOST") == "U_GHOST"  # the id, no crash
        assert names.known("U_GHOST") is None
        (ghost,) = [c for c in slack.calls_to("users.info") if c.args.get("user") == "U_GHOST"]
        assert ghost.response.get("error") == "user_not_found"
