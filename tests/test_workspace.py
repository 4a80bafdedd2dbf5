"""Which requests the bot serves: its own app, in its own workspace, or, for an
org-wide Enterprise Grid install, in any workspace of its organisation. A
refusal is a private sentence, never silence."""

from __future__ import annotations

from slackbot.listeners import NOT_FOR_US
from tests.fakes import anthropic as fa


async def test_an_org_wide_install_serves_every_workspace_of_its_organisation(start_bot):
    h = await start_bot(team_id="T0", enterprise_id="E1", enterprise_install=True)
    h.model.script(str(h.project("shop")), [fa.text("Hello from a member workspace!")])
    delivery = await h.slack.send_slash_command("shop", user_id="U1", channel_id="C1", team_id="T2")
    assert NOT_FOR_US not in str(delivery.ack)
    root = await h.slack.wait_for(lambda: next((m for m in h.slack.messages if "*shop*" in m.text), None))
    await h.wait_for_text("C1", root.ts, "Hello from a member workspace!")


async def test_an_org_wide_install_refuses_another_organisation_privately(start_bot):
    h = await start_bot(team_id="T0", enterprise_id="E1", enterprise_install=True)
    delivery = await h.slack.send_slash_command("shop", team_id="T9", enterprise_id="E9")
    assert delivery.ack.get("text") == NOT_FOR_US and delivery.ack.get("response_type") == "ephemeral"
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
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Welcome, guest.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    await h.slack.send_message("C1", "U9", "hi from the partner company", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Welcome, guest.")
    starts = [c for c in h.slack.calls_to("chat.startStream") if c.args.get("recipient_user_id") == "U9"]
    assert starts and all(c.ok and c.args["recipient_team_id"] == "T9" for c in starts)
    opening = next(c for c in h.slack.calls_to("chat.startStream") if c.args.get("recipient_user_id") == "U1")
    assert opening.args["recipient_team_id"] == "T1"
