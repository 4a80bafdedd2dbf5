"""The App Home tab: opening it publishes the person's interviews (started by them or
answered by them), most recent first, each with its state and a Resume button linking
to its thread; at most 100 blocks however many there are. Through the fake Slack
(views.publish, app_home_opened) and the real claude CLI."""

from __future__ import annotations

from slackbot.slack.home_view import VIEW_BLOCKS, home_view
from slackbot.store import InterviewRecord, Status
from tests.fakes import anthropic as fa
from tests.fakes.slack import blocks_text
from tests.test_budgets import waiting


async def home_of(h, user: str) -> dict:
    """`user` opens the Home tab: the view published for them."""
    before = len(h.slack.calls_to("views.publish"))
    await h.slack.send_app_home_opened(user)
    await h.slack.wait_for(lambda: len(h.slack.calls_to("views.publish")) > before, what=f"{user}'s Home tab")
    assert h.slack.calls_to("views.publish")[-1].response["ok"], h.slack.calls_to("views.publish")[-1].response
    return h.slack.home_views[user]


def resume_links(view: dict) -> list[str]:
    return [b["accessory"]["url"] for b in view["blocks"] if (b.get("accessory") or {}).get("text", {}).get("text")
            == "Resume"]


async def test_the_home_tab_lists_my_interviews_newest_first_with_state_and_a_resume_link(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("What is shop about?")])
    shop = await h.start_interview("shop", user="U1")
    await h.wait_for_text("C1", shop, "What is shop about?")
    await waiting(h, shop)
    h.model.script(str(h.project("cafe")), [fa.text("What is cafe about?"), fa.text("Noted.")])
    cafe = await h.start_interview("cafe", user="U2")
    await h.wait_for_text("C1", cafe, "What is cafe about?")
    await waiting(h, cafe)
    h.model.script(str(h.project("zoo")), [fa.text("What is zoo about?")])
    zoo = await h.start_interview("zoo", user="U2")
    await h.wait_for_text("C1", zoo, "What is zoo about?")
    await waiting(h, zoo)
    await h.slack.send_message("C1", "U1", "a cafe menu app", thread_ts=cafe)  # U1 takes part in cafe
    await h.wait_for_text("C1", cafe, "Noted.")
    await waiting(h, cafe)

    view = await home_of(h, "U1")
    shown = blocks_text(view["blocks"])
    assert view["type"] == "home"
    assert shown.index("*cafe*") < shown.index("*shop*")  # the one last active first
    assert "zoo" not in shown  # not theirs
    assert "*shop* in <#C1> · waiting for an answer" in shown
    permalink = h.slack.calls_to("chat.getPermalink")
    assert {call.args["message_ts"] for call in permalink} == {cafe, shop}
    assert resume_links(view) == [
        f"https://fake.slack.com/archives/C1/p{cafe.replace('.', '')}",
        f"https://fake.slack.com/archives/C1/p{shop.replace('.', '')}",
    ]

    # Clicking Resume (a link) is acknowledged without a word in any thread.
    block = view["blocks"][1]
    ack = await h.slack.send_action(block["accessory"]["action_id"], user_id="U1", block_id=block["block_id"])
    assert ack.ack is not None and h.slack.ephemerals(user="U1") == []

    nobody = blocks_text((await home_of(h, "U7"))["blocks"])
    assert "You haven't started or answered an interview yet" in nobody

    # The Messages tab opened: nothing published.
    calls = len(h.slack.calls_to("views.publish"))
    await h.slack.send_app_home_opened("U1", tab="messages")
    await h.slack.send_app_home_opened("U7")  # a later event, so the one before has been handled
    await h.slack.wait_for(lambda: len(h.slack.calls_to("views.publish")) == calls + 1, what="U7's Home tab again")


async def test_many_interviews_stay_within_a_views_hundred_blocks(start_bot):
    h = await start_bot()
    for n in range(130):
        await h.bot.store.add_interview(InterviewRecord(
            "C1", f"1700000000.{n:06d}", f"app{n}", "U1", status=Status.COMPLETE, updated_at=1_700_000_000 + n,
        ))
    view = await home_of(h, "U1")  # the fake refuses a view over 100 blocks
    shown = blocks_text(view["blocks"])
    assert len(view["blocks"]) <= VIEW_BLOCKS
    assert shown.index("*app129*") < shown.index("*app128*")
    assert "…and 90 older interviews" in shown
    assert "spec ready" in shown


def test_the_view_is_cut_to_a_hundred_blocks_whatever_it_is_given():
    records = [InterviewRecord("C1", f"1.{n}", f"a{n}", "U1") for n in range(300)]
    view = home_view(records, {}, more=5)
    assert len(view["blocks"]) == VIEW_BLOCKS and view["type"] == "home"
    assert "…and 207 older interviews" in blocks_text(view["blocks"])
