"""/newspec claims the name, posts the thread's root message, then starts the interview.
Whatever fails in between, the name is free again at once (no restart), the person is
told privately what went wrong and what to do, and no root message is left looking
like a live interview."""

from __future__ import annotations

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from slackbot.listeners.starting import not_started
from slackbot.slack.scheduler import SchedulerClosed
from tests.conftest import Harness
from tests.fakes import anthropic as fa
from tests.fakes.slack import Message
from tests.test_features_exist import features_db

GREETING = "Hi! Let's spec **myapp**. What are you building?"


def roots(h: Harness) -> list[Message]:
    """The root messages in C1 inviting answers about myapp (not deleted, not marked as not started)."""
    return [m for m in h.slack.messages if m.channel == "C1" and m.text.startswith("Spec interview for *myapp*")]


async def told(h: Harness) -> str:
    """The person's private note, once it arrives."""
    note = await h.slack.wait_for(lambda: next(iter(h.slack.ephemerals(user="U1")), None), what="a note to U1")
    return note.text


def autoforge_made_features(h: Harness) -> None:
    """AutoForge already made myapp's features (and the bot has no spec of it): the bot
    posts a note under the root message before the interview starts."""
    features_db(h.project("myapp"), 1)


async def retry_opens_the_thread(h: Harness) -> None:
    """A second `/newspec myapp` right away, in the same channel, opens the interview."""
    h.model.script(str(h.project("myapp")), [fa.text(GREETING)])
    before = {m.ts for m in roots(h)}
    await h.slack.send_slash_command("myapp", user_id="U1", channel_id="C1")
    root = await h.slack.wait_for(
        lambda: next((m for m in roots(h) if m.ts not in before), None)
        or ([n for n in h.slack.ephemerals(user="U1") if "already has an interview" in n.text] or None),
        what="a new root message (or a refusal)",
    )
    assert not isinstance(root, list), f"the retry was refused: {root[0].text}"
    await h.wait_for_text("C1", root.ts, "What are you building?")
    assert [m.ts for m in roots(h)] == [root.ts]  # the only interview showing in the channel


async def test_slack_refusing_the_root_message_frees_the_name_and_says_why(start_bot):
    h = await start_bot()
    h.slack.fail_next("chat.postMessage", "internal_error")
    await h.slack.send_slash_command("myapp", user_id="U1", channel_id="C1")
    note = await told(h)
    assert note == (
        "Slack refused to post the interview's first message here (internal_error), so the interview for "
        "*myapp* has not started. Run `/newspec myapp` again; if it keeps failing, tell whoever runs newspec."
    )
    assert roots(h) == [] and h.model.requests == []
    await retry_opens_the_thread(h)


async def test_a_dropped_connection_on_the_root_message_frees_the_name_and_says_why(start_bot):
    h = await start_bot()
    h.slack.disconnect_next("chat.postMessage", times=2)  # slack_sdk retries a dropped connection once
    await h.slack.send_slash_command("myapp", user_id="U1", channel_id="C1")
    note = await told(h)
    assert note == (
        "I couldn't reach Slack to post the interview's first message (the connection failed), so the "
        "interview for *myapp* has not started. Run `/newspec myapp` again in a moment."
    )
    assert roots(h) == [] and h.model.requests == []
    await retry_opens_the_thread(h)


async def test_a_failure_after_the_root_message_takes_it_down_and_frees_the_name(start_bot):
    h = await start_bot()
    autoforge_made_features(h)  # the note under the root is posted, and fails
    h.slack.fail_when("chat.postMessage", "internal_error", lambda args: bool(args.get("thread_ts")))
    await h.slack.send_slash_command("myapp", user_id="U1", channel_id="C1")
    note = await told(h)
    assert note == (
        "Slack posted the interview's first message but then failed (internal_error), so the interview for "
        "*myapp* has not started and I took its first message down. Run `/newspec myapp` again; if it keeps "
        "failing, tell whoever runs newspec."
    )
    (first,) = [c.response["ts"] for c in h.slack.calls_to("chat.postMessage") if c.ok]
    assert h.slack.message("C1", first) is None  # deleted: no root left looking like a live interview
    assert h.model.requests == []
    await retry_opens_the_thread(h)


async def test_a_rate_limited_root_message_waits_and_then_opens_the_thread(start_bot):
    # A 429 is not a failure: the scheduler pauses chat.postMessage for its Retry-After and
    # retries, so the interview opens (late) and nothing is left claimed.
    h = await start_bot()
    h.slack.fail_next("chat.postMessage", "ratelimited")
    await retry_opens_the_thread(h)
    assert h.slack.calls_to("chat.postMessage")[0].response["error"] == "ratelimited"
    assert h.slack.ephemerals(user="U1") == []


async def test_a_root_message_that_cannot_be_deleted_is_marked_as_not_started(start_bot):
    h = await start_bot()
    autoforge_made_features(h)
    h.slack.fail_when("chat.postMessage", "internal_error", lambda args: bool(args.get("thread_ts")))
    h.slack.disconnect_next("chat.delete", times=2)  # the network drops the delete (and its retry)
    await h.slack.send_slash_command("myapp", user_id="U1", channel_id="C1")
    note = await told(h)
    assert note.endswith(
        "so the interview for *myapp* has not started (ignore its first message: I couldn't take it down). "
        "Run `/newspec myapp` again; if it keeps failing, tell whoever runs newspec."
    )
    (first,) = [m for m in h.slack.messages if "*myapp*" in m.text]
    assert first.visible_text == "The interview for *myapp* could not start."  # no Cancel button, no invitation
    await retry_opens_the_thread(h)


def slack_refused(data: dict, status: int = 200) -> SlackApiError:
    response = SlackResponse(client=None, http_verb="POST", api_url="", req_args={}, data=data, headers={},
                             status_code=status)
    return SlackApiError("refused", response)


@pytest.mark.parametrize(("exc", "posted", "taken_down", "says"), [
    (SchedulerClosed("cut off"), False, False,
     "I'm restarting, so the interview for *myapp* has not started. Run `/newspec myapp` again in a minute."),
    (RuntimeError("database is locked"), False, False,
     "Something went wrong on my side, so the interview for *myapp* has not started. Run `/newspec myapp` "
     "again; if it keeps failing, tell whoever runs newspec."),
    (RuntimeError("database is locked"), True, True,
     "Something went wrong on my side after the interview's first message was posted, so the interview for "
     "*myapp* has not started and I took its first message down. Run `/newspec myapp` again; if it keeps "
     "failing, tell whoever runs newspec."),
    (slack_refused({"ok": False, "error": "not_in_channel"}), False, False,
     "I'm not a member of this channel, so I can't start a thread here. Add me with `/invite @newspec` "
     "(or pick another channel) and run the command again."),
    (slack_refused({}, status=503), False, False,  # an error page, not Slack's JSON
     "Slack refused to post the interview's first message here (HTTP 503), so the interview for *myapp* has "
     "not started. Run `/newspec myapp` again; if it keeps failing, tell whoever runs newspec."),
    (TimeoutError(), False, False,
     "I couldn't reach Slack to post the interview's first message (it did not answer in time), so the "
     "interview for *myapp* has not started. Run `/newspec myapp` again in a moment."),
    (aiohttp.ServerDisconnectedError(), True, False,
     "Slack posted the interview's first message but then the connection failed, so the interview for "
     "*myapp* has not started (ignore its first message: I couldn't take it down). Run `/newspec myapp` "
     "again in a moment."),
], ids=["restarting", "ours", "ours-after-root", "not-in-channel", "error-page", "timeout", "network-after-root"])
def test_the_person_is_told_what_went_wrong_and_what_to_do(exc, posted, taken_down, says):
    assert not_started("myapp", exc, posted=posted, taken_down=taken_down) == says
