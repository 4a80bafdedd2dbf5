"""Private channels stay private: `/newspec list`, `/newspec <name>` and the
Continue / Start over buttons show and touch only projects in channels the
person can see (the channel they are in, plus channels Slack says they're in).

Run through the real bot, the fake Slack (with channel membership) and the
fake model. In these tests G1 is a private channel whose only member is U1;
every other channel has everyone in it.
"""

from __future__ import annotations

import json

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from slackbot.slack.blocks import CANCEL_ACTION, CONTINUE_ACTION, START_OVER_ACTION
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack
from tests.test_interview_flow import finished_spec, spec_for

PRIVATE = {"G1": {"U1"}}
NOT_YOURS = "belongs to a channel you're not in"


async def reply_to(h, user: str, containing: str, count: int = 1):
    """The `count`-th ephemeral `user` got that contains `containing`."""
    def found():
        hits = [e for e in h.slack.ephemerals(user=user) if containing in e.text]
        return hits[count - 1] if len(hits) >= count else None

    return await h.slack.wait_for(found, what=f"{containing!r} for {user}")


async def list_for(h, user: str, channel: str, count: int = 1):
    await h.slack.send_slash_command("list", user_id=user, channel_id=channel)
    return await reply_to(h, user, "nterviews", count)


async def private_and_public(h) -> tuple[str, str]:
    """`secret` started by U1 in private G1, `open` by U2 in public C1; both greeted."""
    h.model.script(str(h.project("secret")), [fa.text("Hello secret!")])
    h.model.script(str(h.project("open")), [fa.text("Hello open!")])
    secret_ts = await h.start_interview("secret", user="U1", channel="G1")
    await h.wait_for_text("G1", secret_ts, "Hello secret!")
    open_ts = await h.start_interview("open", user="U2", channel="C1")
    await h.wait_for_text("C1", open_ts, "Hello open!")
    return secret_ts, open_ts


def shown(h) -> set[tuple[str, str]]:
    """Every message in the workspace; a later subset means nothing new was posted."""
    return {(m.channel, m.ts) for m in h.slack.messages}


def leaks(text: str) -> bool:
    """Anything pointing at the private channel or its thread."""
    return any(s in text for s in ("secret", "G1", "archives/G1", "chan-g1"))


# -- /newspec list ---------------------------------------------------------------


async def test_list_shows_a_private_channels_interview_to_members_only(start_bot):
    h = await start_bot(members=PRIVATE)
    await private_and_public(h)
    assert h.slack.calls_to("users.conversations") == []  # new names need no membership check

    outsider = await list_for(h, "U2", "C2")
    assert outsider.text.splitlines()[0] == "*Interviews* (1):"
    assert "*open*" in outsider.text and not leaks(outsider.text)

    member = await list_for(h, "U1", "C2")  # a member, asking from another channel
    lines = member.text.splitlines()
    assert lines[0] == "*Interviews* (2):"
    assert any("*secret*" in line and "|thread>" in line for line in lines)

    calls = h.slack.calls_to("users.conversations")
    assert [c.args["user"] for c in calls] == ["U2", "U1"]  # once per command, for the caller
    assert all(c.args["types"] == "public_channel,private_channel" for c in calls)
    assert all(c.args["exclude_archived"] in ("0", "false") for c in calls)

    here = await list_for(h, "U1", "G1", count=2)  # in the private channel itself
    assert "*secret*" in here.text and "*open*" in here.text


async def test_list_reads_every_page_of_memberships(start_bot):
    # U1 is in 300 channels; G1 comes after them, on the second page of 200.
    many = {f"C{i:03d}": {"U1"} for i in range(300)}
    h = await start_bot(members={**many, **PRIVATE})
    await private_and_public(h)
    listing = await list_for(h, "U1", "C2")
    assert "*secret*" in listing.text
    calls = h.slack.calls_to("users.conversations")
    assert len(calls) >= 2 and calls[0].args.get("cursor") in (None, "") and calls[-1].args["cursor"]


async def test_list_fails_closed_when_slack_cannot_say(start_bot):
    h = await start_bot(members=PRIVATE)
    await private_and_public(h)
    h.slack.fail_methods["users.conversations"] = "missing_scope"

    listing = await list_for(h, "U1", "C1")  # even a member sees only this channel's
    assert "*open*" in listing.text and not leaks(listing.text)
    assert "couldn't tell me which channels you're in" in listing.text


# -- /newspec <name> and the buttons ----------------------------------------------


async def test_an_open_private_interview_is_not_linked_to_outsiders(start_bot):
    h = await start_bot(members=PRIVATE)
    await private_and_public(h)
    before = shown(h)
    await h.slack.send_slash_command("SECRET", user_id="U2", channel_id="C1")
    note = await reply_to(h, "U2", NOT_YOURS)
    assert "Pick another name" in note.text
    assert "archives" not in note.text and "|thread>" not in note.text and "G1" not in note.text
    # The refusal is the command's last act: once it shows, the command has been handled.
    assert shown(h) <= before and len(h.model.requests) == 2

    # A member asking from elsewhere gets the link.
    await h.slack.send_slash_command("secret", user_id="U1", channel_id="C2")
    link = await reply_to(h, "U1", "already has an interview")
    assert "archives/G1" in link.text


async def test_a_cancelled_private_project_cannot_be_continued_from_elsewhere(start_bot):
    h = await start_bot(members=PRIVATE)
    project = h.project("secret")
    h.model.script(str(project), [fa.text("What are we building?")])
    root_ts = await h.start_interview("secret", user="U1", channel="G1")
    await h.wait_for_text("G1", root_ts, "What are we building?")
    finished_spec(project)
    await h.slack.send_action(CANCEL_ACTION, user_id="U1", channel_id="G1", message_ts=root_ts)
    await h.wait_for_text("G1", root_ts, "cancelled this interview")
    before, requests = shown(h), len(h.model.requests)

    # Before the fix this offered "Continue editing" (Claude would read the private spec here).
    await h.slack.send_slash_command("secret", user_id="U2", channel_id="C1")
    note = await reply_to(h, "U2", NOT_YOURS)
    assert not note.blocks and "archives" not in note.text

    # Buttons from an older offer are refused the same way, and touch nothing.
    stale = json.dumps({"name": "secret", "channel": "C1"})
    await h.slack.send_action(CONTINUE_ACTION, stale, user_id="U2", channel_id="C1")
    await reply_to(h, "U2", NOT_YOURS, count=2)
    await h.slack.send_action(START_OVER_ACTION, stale, user_id="U2", channel_id="C1")
    await reply_to(h, "U2", NOT_YOURS, count=3)

    # Each refusal is its handler's last act: with the third shown, all three have been handled.
    assert shown(h) <= before  # no new thread anywhere
    assert len(h.model.requests) == requests  # no Claude session started
    assert not any(m.channel == "C1" for m in h.slack.messages)
    assert (project / "prompts/app_spec.txt").read_text() == spec_for("secret")
    assert list(project.glob("prompts.backup-*")) == []
    assert (await h.bot.store.find_by_name("secret", include_cancelled=True)).channel == "G1"

    # A member may pick it up again from another channel.
    await h.slack.send_slash_command("secret", user_id="U1", channel_id="C2")
    offer = await reply_to(h, "U1", "already has a finished spec")
    assert offer.blocks


async def test_a_refusal_fails_closed_when_slack_cannot_say(start_bot):
    h = await start_bot(members=PRIVATE)
    await private_and_public(h)
    h.slack.fail_methods["users.conversations"] = "ratelimited"  # even after the client's retries
    await h.slack.send_slash_command("secret", user_id="U1", channel_id="C2")  # U1 is a member
    note = await h.slack.wait_for(
        lambda: next((e for e in h.slack.ephemerals(user="U1") if "secret" in e.text), None), timeout=20
    )
    assert "couldn't tell me which channels you're in" in note.text
    assert "archives" not in note.text and not note.blocks


# -- the fake's users.conversations ------------------------------------------------


async def test_fake_users_conversations_is_honest():
    async with FakeSlack(
        channels_with_bot={"C1", "C2", "G1"}, members={"G1": {"U1"}, "G2": {"U1"}, "C2": {"U2"}}
    ) as fake:
        fake.add_member("C3", "U1")  # a public channel without the bot
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        types = "public_channel,private_channel"

        try:
            await client.users_conversations(types=types)
        except SlackApiError as exc:
            assert exc.response["error"] == "user_not_found"
        else:
            raise AssertionError("a missing user must be refused")

        seen, cursor, pages = [], None, 0
        while True:
            page = await client.users_conversations(user="U1", types=types, limit=1, cursor=cursor)
            pages += 1
            assert len(page["channels"]) <= 1
            seen += [(c["id"], c["is_private"]) for c in page["channels"]]
            cursor = page["response_metadata"]["next_cursor"]
            if not cursor:
                break
        # C2 has only U2; G2 is private and the bot isn't in it, so a bot token can't see it.
        assert seen == [("C1", False), ("C3", False), ("G1", True)] and pages == 3

        public = await client.users_conversations(user="U1")  # Slack's default: public only
        assert [c["id"] for c in public["channels"]] == ["C1", "C3"]
