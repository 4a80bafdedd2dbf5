"""Which requests the bot serves: its own app, in its own workspace (with Slack
Connect guests), never as an org-wide Enterprise Grid install; and which team its
answers stream to. A refusal is a private sentence, never silence."""

from __future__ import annotations

import asyncio
import sqlite3

from slackbot.listeners import NOT_FOR_US, ORG_WIDE
from slackbot.slack.relay import recipient_team
from slackbot.store import SqliteStore
from slackbot.store.migrations import MIGRATIONS
from tests.fakes import anthropic as fa


async def test_an_org_wide_install_is_refused_with_a_sentence_saying_so(start_bot):
    # The manifest says org_deploy_enabled: false, so Slack offers no org-wide install;
    # a token from one anyway (an older manifest, an admin's doing) is refused clearly.
    h = await start_bot(team_id="T0", enterprise_id="E1", enterprise_install=True)
    delivery = await h.slack.send_slash_command("shop", user_id="U1", channel_id="C1", team_id="T2")
    assert delivery.ack.get("text") == ORG_WIDE and delivery.ack.get("response_type") == "ephemeral"
    assert h.slack.messages == [] and h.model.requests == [] and not h.project("shop").exists()


async def test_a_request_from_an_org_wide_install_is_not_for_a_workspace_install(start_bot):
    h = await start_bot(team_id="T1")
    payload = h.slack.slash_command_payload("shop", team_id="T1", enterprise_id="E1")
    payload["is_enterprise_install"] = "true"  # for the organisation's install, not this one
    ack = await h.slack.send_envelope("slash_commands", payload)
    assert ack.get("text") == NOT_FOR_US and ack.get("response_type") == "ephemeral"
    assert h.slack.messages == [] and h.model.requests == []


async def test_a_request_for_another_app_is_refused_privately(start_bot):
    h = await start_bot()
    delivery = await h.slack.send_slash_command("shop", api_app_id="A999")
    assert delivery.ack.get("text") == NOT_FOR_US
    assert h.slack.messages == [] and h.model.requests == [] and not h.project("shop").exists()


async def test_another_workspace_gets_a_private_sentence_not_silence(start_bot):
    h = await start_bot()
    delivery = await h.slack.send_slash_command("shop", team_id="T999")
    assert delivery.ack.get("text") == NOT_FOR_US
    assert h.slack.messages == []


async def test_a_slack_connect_guest_takes_part_and_the_answer_streams_to_their_team(start_bot):
    h = await start_bot()
    h.slack.add_user("U9", name="guest", team_id="T9")  # from another organisation, in a shared channel
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Welcome, guest."), fa.text("Noted.")])
    root_ts = await h.start_interview("shop", user="U9")  # the guest starts it: one participant, so it streams
    await h.wait_for_text("C1", root_ts, "Hello!")
    await h.slack.send_message("C1", "U9", "hi from the partner company", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Welcome, guest.")
    starts = [c for c in h.slack.calls_to("chat.startStream") if "Welcome" in str(c.args.get("chunks"))]
    assert starts and all(c.ok and c.args["recipient_user_id"] == "U9" for c in starts)
    assert all(c.args["recipient_team_id"] == "T9" for c in starts)
    # Once a member of ours takes part too, answers are posted for both to see grow.
    await h.slack.send_message("C1", "U1", "welcome!", thread_ts=root_ts)
    (noted,) = [m for m in (await h.settled("C1", root_ts, "Noted.")) if "Noted." in m.visible_text]
    assert not noted.streamed


async def test_on_enterprise_grid_the_answer_streams_to_the_workspace_not_the_organisation(start_bot):
    # Installed in workspace T1 of organisation E1: messages name the author's team
    # as the organisation (user_team E1), which is no team a stream can go to.
    h = await start_bot(team_id="T1", enterprise_id="E1")
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Noted, thanks.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    await h.slack.send_message("C1", "U1", "we sell bread", thread_ts=root_ts)
    await h.settled("C1", root_ts, "Noted, thanks.")
    starts = h.slack.calls_to("chat.startStream")
    assert len(starts) >= 2, h.slack.dump()
    assert [(c.ok, c.args["recipient_team_id"]) for c in starts] == [(True, "T1")] * len(starts)


async def test_the_team_an_answer_streams_to_is_stored_and_outlives_a_restart(start_bot):
    h = await start_bot(team_id="T1", enterprise_id="E1")
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Recipe read.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    recipe = h.slack.add_file("knead, rest, bake", "recipe.txt")
    download = h.slack.hold_next("files.download")
    await h.slack.send_message("C1", "U1", "see the recipe", thread_ts=root_ts, files=[recipe])
    await asyncio.wait_for(download.reached.wait(), 10)  # stored, not yet passed on

    await h.restart()  # the reply is taken up again from the store
    await h.settled("C1", root_ts, "Recipe read.")
    download.release.set()
    after = h.slack.calls_to("chat.startStream")[1:]  # the opening's went out before the restart
    assert after and all(c.ok and c.args["recipient_team_id"] == "T1" for c in after), h.slack.dump()


def test_the_recipient_team_is_a_workspace_the_person_belongs_to():
    assert recipient_team("T9", "T1", "E1") == "T9"  # a Slack Connect guest: their own workspace
    assert recipient_team("E1", "T1", "E1") == "T1"  # Grid names the organisation: the workspace instead
    assert recipient_team(None, "T1") == "T1"
    assert recipient_team("E1", None, "E1") == "E1"  # no workspace named at all: what Bolt sends then


async def test_replies_an_older_version_stored_with_the_organisation_stream_to_the_workspace(tmp_path):
    path = tmp_path / "old.db"
    # The schema as it was before the migration that mends these replies.
    version = next((i for i, script in enumerate(MIGRATIONS) if "user_team LIKE 'E%'" in script), len(MIGRATIONS))
    with sqlite3.connect(path) as db:
        for number, script in enumerate(MIGRATIONS[:version]):
            db.executescript(f"BEGIN; {script} PRAGMA user_version = {number + 1}; COMMIT;")
        db.execute(
            "INSERT INTO interviews (channel, thread_ts, name, started_by, team_id, status, created_at, updated_at) "
            "VALUES ('C1', '1.0', 'shop', 'U1', 'T1', 'interviewing', 0, 0)"
        )
        for user, team in (("U1", "E1"), ("U9", "T9")):
            db.execute(
                "INSERT INTO pending_replies (channel, thread_ts, user_id, text, ts, accepted_at, user_team) "
                "VALUES ('C1', '1.0', ?, 'hi', '1.1', 0, ?)", (user, team),
            )
    store = SqliteStore(path)
    await store.open()
    try:
        replies = await store.pending_replies("C1", "1.0")
        assert [(r.user_id, r.user_team) for r in replies] == [("U1", "T1"), ("U9", "T9")]
    finally:
        await store.close()
