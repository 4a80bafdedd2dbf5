"""A click acts only where it was clicked, and only for someone who can see that
channel now. A button's `value` is written by us but carried by the clicker's
client, so it is treated as untrusted: the channel and the thread come from the
clicked message, never from the value.

Run through the real bot, the fake Slack (with channel membership) and the fake
model. G9 is a private channel whose only member is U9.
"""

from __future__ import annotations

import asyncio
import json

from slackbot.slack.blocks import CONTINUE_ACTION, START_OVER_ACTION, STOP_ACTION
from tests.conftest import held
from tests.fakes import anthropic as fa
from tests.test_interview_flow import finished_spec, spec_for
from tests.test_privacy import reply_to, shown
from tests.test_questions import MODE, answer_result, ask, click, elements, question_message
from tests.test_stop_button import FINISHED, click_stop, live_status_line, stop_button

PRIVATE = {"G9": {"U9"}}


async def cancelled_private_project(h) -> None:
    """`vault`: interviewed in private G9 by U9, with a finished spec, then cancelled."""
    project = h.project("vault")
    h.model.script(str(project), [fa.text("What are we building?")])
    root_ts = await h.start_interview("vault", user="U9", channel="G9")
    await h.wait_for_text("G9", root_ts, "What are we building?")
    finished_spec(project)
    await h.slack.send_action("newspec_cancel", user_id="U9", channel_id="G9", message_ts=root_ts)
    await h.wait_for_text("G9", root_ts, "cancelled this interview")


async def test_a_forged_start_over_cannot_reach_a_private_channel(start_bot):
    h = await start_bot(members=PRIVATE)
    await cancelled_private_project(h)
    project = h.project("vault")
    before, requests = shown(h), len(h.model.requests)

    # U1 clicks in C1 with a value naming G9: before the fix this moved G9's spec to a
    # backup, deleted its transcripts and opened a new thread in G9.
    forged = json.dumps({"name": "vault", "channel": "G9"})
    await h.slack.send_action(START_OVER_ACTION, forged, user_id="U1", channel_id="C1")
    await reply_to(h, "U1", "belongs to a channel you're not in")
    await h.slack.send_action(CONTINUE_ACTION, forged, user_id="U1", channel_id="C1")
    await reply_to(h, "U1", "belongs to a channel you're not in", count=2)

    assert shown(h) <= before  # no thread opened anywhere
    assert len(h.model.requests) == requests
    assert (project / "prompts/app_spec.txt").read_text() == spec_for("vault")
    assert list(project.glob("prompts.backup-*")) == []


async def test_an_old_button_does_nothing_for_someone_no_longer_in_the_channel(start_bot):
    h = await start_bot()
    project = h.project("shop")
    finished_spec(project)
    await h.slack.send_slash_command("shop", user_id="U1", channel_id="C1")
    offer = await reply_to(h, "U1", "already has a finished spec")
    value = next(e["value"] for b in offer.blocks for e in b.get("elements", []) if e.get("action_id"))
    before = shown(h)

    h.slack.members["C1"] = {"U2"}  # U1 has left C1 since (or was removed)
    await h.slack.send_action(START_OVER_ACTION, value, user_id="U1", channel_id="C1")
    await reply_to(h, "U1", "not in this channel")
    assert shown(h) <= before
    assert (project / "prompts/app_spec.txt").read_text() == spec_for("shop")
    assert list(project.glob("prompts.backup-*")) == []


async def test_a_click_answers_only_a_question_of_its_own_thread(start_bot):
    h = await start_bot()
    step, seen = answer_result("Shop answer noted.")
    h.model.script(str(h.project("shop")), [ask(MODE), step])
    h.model.script(str(h.project("blog")), [fa.text("Hello blog!")])
    shop_ts = await h.start_interview("shop")
    question = await question_message(h, shop_ts, "Quick or detailed interview?")
    blog_ts = await h.start_interview("blog")
    await h.wait_for_text("C1", blog_ts, "Hello blog!")
    (greeting,) = [m for m in h.slack.thread("C1", blog_ts)]

    # A click on a message of the blog thread, carrying the shop question's value.
    block, radio = next((b, e) for b, e in elements(question) if e["type"] == "radio_buttons")
    detailed = next(o for o in radio["options"] if o["text"]["text"] == "Detailed")
    _, button = next((b, e) for b, e in elements(question) if e.get("text", {}).get("text") == "Submit")
    state = {block["block_id"]: {radio["action_id"]: {"type": "radio_buttons", "selected_option": detailed}}}
    await h.slack.send_action(button["action_id"], button["value"], user_id="U2", channel_id="C1",
                              message_ts=greeting.ts, state_values=state)
    await reply_to(h, "U2", "changes nothing")
    assert elements(h.slack.message("C1", question.ts))  # the shop question is still open
    # Nothing queued for Claude in the blog thread either.
    assert not [r for r in await h.bot.store.pending_replies("C1", blog_ts) if "Detailed" in r.text]
    assert "Detailed" not in h.slack.thread_text("C1", blog_ts)

    await click(h, question, "Quick")
    await h.wait_for_text("C1", shop_ts, "Shop answer noted.")
    assert '"Quick or detailed interview?"="Quick"' in seen[0]


async def test_a_stop_click_stops_only_its_own_thread(start_bot):
    h = await start_bot(streaming=False)  # posted answers: their Stop buttons show
    h.slack.status_refusals["C1"] = "not_allowed_token_type"  # a Stop under "Thinking", as before
    shop_started, blog_started, release = asyncio.Event(), asyncio.Event(), asyncio.Event()
    h.model.script(str(h.project("shop")), [held(shop_started, release, "Shop, in full.")])
    h.model.script(str(h.project("blog")), [held(blog_started, release, "Blog, in full.")])
    shop_ts = await h.start_interview("shop")
    blog_ts = await h.start_interview("blog")
    await asyncio.wait_for(asyncio.gather(shop_started.wait(), blog_started.wait()), 15)
    shop_line, blog_line = await live_status_line(h, shop_ts), await live_status_line(h, blog_ts)

    # Stop clicked under shop's answer, with the value of blog's Stop: it stops neither.
    await h.slack.send_action(
        STOP_ACTION, stop_button(blog_line)["value"], user_id="U1", channel_id="C1", message_ts=shop_line.ts
    )
    await h.slack.wait_for(lambda: h.slack.ephemerals(user="U1"), what="the click answered")
    assert [e.text for e in h.slack.ephemerals(user="U1")] == [FINISHED]
    # Shop's own Stop stops shop, and only shop.
    await click_stop(h, shop_line)
    await h.wait_for_text("C1", shop_ts, "Stopped.")
    release.set()
    await h.settled("C1", blog_ts, "Blog, in full.")
    assert "Stopped." not in h.slack.thread_text("C1", blog_ts)
    assert "Shop, in full." not in h.slack.thread_text("C1", shop_ts)
