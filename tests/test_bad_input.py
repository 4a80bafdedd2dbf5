"""Who may use the bot, and a matrix of bad input: each case gets a clear message
where a person should see one, writes nothing outside the project, and leaves the
bot serving other threads."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from tests.conftest import people_said
from tests.fakes import anthropic as fa
from tests.fakes.slack import AckTimeout, form_body, signed_headers
from tests.test_http_mode import (  # noqa: F401  (fixture + helper)
    SECRET,
    _post,
    http_bot,
)


async def still_serving(h, name: str = "works") -> None:
    """The bot still opens and answers a fresh interview."""
    h.model.script(str(h.project(name)), [fa.text(f"{name} is alive.")])
    root_ts = await h.start_interview(name)
    await h.wait_for_text("C1", root_ts, f"{name} is alive.")


# -- who may use it --------------------------------------------------------------


async def test_users_not_on_the_list_are_refused_everywhere(start_bot):
    h = await start_bot(env={"NEWSPEC_ALLOWED_USERS": "U1"})
    h.model.script(str(h.project("shop")), [fa.text("Hello Ana!")])
    delivery = await h.slack.send_slash_command("other", user_id="U2", channel_id="C1")
    assert "not on newspec's list of users" in delivery.ack["text"]
    assert h.slack.messages == [] and not h.project("other").exists()

    root_ts = await h.start_interview("shop", user="U1")
    await h.wait_for_text("C1", root_ts, "Hello Ana!")
    await h.slack.send_message("C1", "U2", "let me in", thread_ts=root_ts)
    note = await h.slack.wait_for(lambda: next(iter(h.slack.ephemerals(user="U2")), None))
    assert "list of users" in note.text
    status = next(m for m in h.slack.messages if "*shop*" in m.text)
    await h.slack.send_action("newspec_cancel", user_id="U2", channel_id="C1", message_ts=status.ts)
    await h.slack.wait_for(lambda: len(h.slack.ephemerals(user="U2")) == 3)  # command, reply, click
    assert len(h.model.requests) == 1  # nothing from U2 reached Claude
    assert "cancelled" not in h.slack.message("C1", root_ts).text


async def test_channels_not_on_the_list_are_refused(start_bot):
    h = await start_bot(env={"NEWSPEC_ALLOWED_CHANNELS": "C2"})
    delivery = await h.slack.send_slash_command("shop", user_id="U1", channel_id="C1")
    assert "not enabled in this channel" in delivery.ack["text"]
    assert h.slack.messages == [] and h.model.requests == []


async def test_requests_claiming_another_workspace_are_dropped(start_bot):
    h = await start_bot()
    # Bolt acks a Socket Mode envelope once its middleware has returned, and the workspace
    # check returns without running any listener: at the ack, nothing is left running.
    helped = await h.slack.send_slash_command("help", user_id="U1", channel_id="C1", team_id="T999")
    dropped = await h.slack.send_slash_command("shop", user_id="U1", channel_id="C1", team_id="T999")
    # No listener ran: `help` would have answered in its ack. Both got the same (refusal or nothing).
    assert "/newspec <name>" not in helped.ack.get("text", "") and helped.ack == dropped.ack
    assert h.slack.messages == [] and h.model.requests == [] and not h.project("shop").exists()
    await still_serving(h)
    # Nor did anything of them show up while a later command was served in full.
    assert [m for m in h.slack.messages if "*shop*" in m.text] == [] and h.slack.response_posts == []
    assert len(h.model.requests) == 1 and not h.project("shop").exists()


async def test_the_bots_own_messages_and_other_bots_are_never_relayed(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hi!"), fa.text("Only the human.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hi!")
    await h.slack.send_message("C1", "UBOT", "echo of myself", thread_ts=root_ts)  # no bot_id
    await h.slack.send_message("C1", "UBOT", "echo with bot id", thread_ts=root_ts, bot_id="BBOT")
    await h.slack.send_message("C1", "U9", "another bot", thread_ts=root_ts, subtype="bot_message", bot_id="B9")
    await h.slack.send_message("C1", "U1", "human", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Only the human.")
    assert [people_said(r) for r in h.model.requests[1:]] == ["u1: human"]


# -- HTTP mode -------------------------------------------------------------------


async def test_health_endpoint_and_body_cap(http_bot):  # noqa: F811
    slack, url, _ = http_bot
    base = url.rsplit("/slack/events", 1)[0]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 200 and (await response.json())["ok"] is True
    body = form_body({**slack.slash_command_payload("shop"), "text": "x" * (2 * 1024 * 1024)})
    assert await _post(url, body, signed_headers(SECRET, body)) == 413
    assert slack.messages == []


# -- bad input -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["аpp", "ａｐｐ", "app\u200b", "/etc", "..", ".", "a\tb", "C:\\x", "x" * 200, "-" * 51],
    ids=["cyrillic-a", "fullwidth", "zero-width", "absolute", "dotdot", "dot", "tab", "windows", "200", "51"],
)
async def test_names_that_could_escape_or_deceive(start_bot, name):
    h = await start_bot()
    delivery = await h.slack.send_slash_command(name, user_id="U1", channel_id="C1")
    assert "letters" in delivery.ack["text"]
    assert h.slack.messages == [] and h.model.requests == []
    assert not h.generations.exists() or list(h.generations.iterdir()) == []


async def test_enormous_and_empty_replies(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hi!"), fa.text("That was long.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hi!")
    await h.slack.send_message("C1", "U1", "   ", thread_ts=root_ts)  # nothing to pass on
    await h.slack.send_message("C1", "U1", "y" * 45_000, thread_ts=root_ts)  # over Slack's 40k
    await h.wait_for_text("C1", root_ts, "That was long.")
    # Told privately, to the one who sent it.
    assert any("passed on its first 20,000 characters" in e.text for e in h.slack.ephemerals(user="U1"))
    said = people_said(h.model.requests[-1])
    assert said == "u1: " + "y" * 20_000 and len(h.model.requests) == 2


async def test_malformed_envelopes_and_payloads_break_nothing(start_bot, caplog):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hi!")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hi!")
    await h.slack.send_event({"type": "message"})  # no channel, user, ts
    await h.slack.send_event(
        {"type": "message", "channel": "C1", "user": "U1", "ts": 5, "thread_ts": root_ts, "text": 7}
    )
    await h.slack.send_event({"type": "message", "channel": ["C1"], "user": "U1", "ts": "1.1", "thread_ts": root_ts})
    await h.slack.send_action("newspec_answer_0", "{not json", user_id="U1", channel_id="C1")
    await h.slack.send_action("newspec_continue", '{"name": "../etc", "channel": "C1"}', user_id="U1")
    await h.slack.send_action("newspec_stop", None, user_id="U1", channel_id="C1")
    # Envelopes no listener matches: Bolt leaves them unacknowledged (Slack retries,
    # then gives up); what matters is that nothing else is disturbed.
    for kind, payload in [
        ("events_api", {"type": "event_callback"}),
        ("slash_commands", {"command": "/newspec", "text": "x"}),  # no user, no channel
        ("interactive", {"type": "block_actions", "actions": []}),
        ("made_up_type", {"anything": True}),
    ]:
        try:
            await h.slack.send_envelope(kind, payload, timeout=0.5)
        except AckTimeout:
            pass
    await still_serving(h)
    assert len(h.model.requests) == 2  # only the two real greetings
    assert not (h.generations.parent / "etc").exists()


async def test_unknown_buttons_get_a_polite_note(start_bot):
    h = await start_bot()
    delivery = await h.slack.send_action("some_old_button", "v", user_id="U1", channel_id="C1")
    assert delivery.ack == {}
    note = await h.slack.wait_for(lambda: next(iter(h.slack.ephemerals(user="U1")), None))
    assert "no longer does anything" in note.text


async def test_an_attachment_that_cannot_be_downloaded(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hi!"), fa.text("Got your text.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hi!")
    gone = h.slack.add_file("notes", "notes.txt")
    gone["url_private_download"] = gone["url_private"] = h.slack.base_url + "/files-pri/F404/notes.txt"
    await h.slack.send_message("C1", "U1", "see file", thread_ts=root_ts, files=[gone])
    await h.wait_for_text("C1", root_ts, "Got your text.")
    assert "`notes.txt`: I couldn't download it" in h.slack.thread_text("C1", root_ts)


async def test_malformed_tool_input_from_the_model_is_refused_not_fatal(start_bot):
    h = await start_bot()
    project = h.project("shop")
    results: list[fa.ToolResult] = []

    def after(request: fa.ModelRequest) -> fa.Turn:
        results.extend(request.tool_results)
        return fa.text("I'll ask properly next time.")

    h.model.script(str(project), [fa.tool("AskUserQuestion", {"questions": "not a list"}), after])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "ask properly next time")
    assert results and results[0].is_error
    await still_serving(h)


# -- secrets ---------------------------------------------------------------------

BOT_TOKEN = "xoxb-1111-secret-bot-token"
APP_TOKEN = "xapp-2222-secret-app-token"
API_KEY = "sk-ant-3333-secret-api-key"


async def test_tokens_and_keys_never_reach_logs_or_threads(start_bot, monkeypatch, caplog):
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    caplog.set_level(logging.DEBUG)
    h = await start_bot(env={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "LOG_LEVEL": "DEBUG"})
    h.slack.bot_token, h.slack.app_token = BOT_TOKEN, APP_TOKEN
    project = h.project("shop")
    h.model.script(str(project), [fa.text("Hi!"), fa.error(500), fa.tool("Read", {"file_path": "/etc/passwd"}),
                                  fa.text("done")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hi!")
    await h.slack.send_message("C1", "U1", "break something", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Claude's service had an error")
    await h.slack.send_message("C1", "U1", "read outside", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "done")
    seen_by_people = "\n".join(
        [m.visible_text for m in h.slack.messages] + [e.text for e in h.slack.ephemerals()]
    )
    logs = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert any(r.levelno == logging.DEBUG for r in caplog.records)  # the logs were really captured
    for secret in (BOT_TOKEN, APP_TOKEN, API_KEY):
        assert secret not in seen_by_people and secret not in logs
