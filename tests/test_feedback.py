"""Feedback on a finished spec: Slack's feedback buttons under the summary card, a click
stored (one vote per person per interview, a later click replacing it), thanked privately,
and counted in `/newspec usage`; through the fake Slack and the real claude CLI."""

from __future__ import annotations

import pytest

from slackbot.slack.feedback import feedback_block
from tests.fakes import anthropic as fa
from tests.fakes.slack import SlackError, _check_content
from tests.test_interview_flow import prompt_for, spec_for
from tests.test_usage import ADMIN, command


async def finished_spec(h, name: str = "shop") -> tuple[str, str]:
    """An interview to its completion message: (the thread's ts, the message's ts)."""
    project = h.project(name)
    spec, prompt = project / "prompts/app_spec.txt", project / "prompts/initializer_prompt.md"
    h.model.script(str(project), [
        fa.text("Ready?"),
        fa.tool("Write", {"file_path": str(spec), "content": spec_for(name)}),
        fa.tool("Write", {"file_path": str(prompt), "content": prompt_for(name)}),
        fa.text("Written."),
    ])
    root_ts = await h.start_interview(name)
    await h.wait_for_text("C1", root_ts, "Ready?")
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)
    card = await h.slack.wait_for(
        lambda: next((m for m in h.slack.thread("C1", root_ts) if "ready to build" in m.visible_text), None),
        what="the completion message",
    )
    return root_ts, card.ts


async def vote(h, card_ts: str, positive: bool, user: str) -> str:
    """`user` clicks 👍 or 👎 on the card; what they are told privately."""
    before = len(h.slack.ephemerals(user=user))
    await h.slack.send_feedback(card_ts, positive, user_id=user)
    shown = await h.slack.wait_for(lambda: h.slack.ephemerals(user=user)[before:], what=f"{user}'s thanks")
    return shown[-1].visible_text


async def test_votes_are_stored_once_per_person_thanked_privately_and_counted_in_usage(start_bot):
    h = await start_bot()
    _, card_ts = await finished_spec(h)
    card = h.slack.message("C1", card_ts)
    assert card is not None and card.blocks is not None
    assert card.blocks[-1]["type"] == "context_actions"  # the buttons sit under the card
    assert "👍 👎" in card.visible_text

    channel_before = len(h.slack.messages)
    assert "noted that this spec worked for you" in await vote(h, card_ts, True, "U1")
    assert "noted that this spec fell short" in await vote(h, card_ts, False, "U1")  # replaces U1's vote
    assert "worked for you" in await vote(h, card_ts, True, "U2")
    assert len(h.slack.messages) == channel_before  # nothing said in the thread
    assert await h.bot.store.feedback_counts() == (1, 1)

    h.slack.make_admin(ADMIN)
    shown = (await command(h, "usage", ADMIN)).visible_text
    assert "*Feedback on finished specs*: 👍 1 · 👎 1" in shown


async def test_votes_survive_a_restart(start_bot):
    h = await start_bot()
    _, card_ts = await finished_spec(h)
    await vote(h, card_ts, False, "U3")
    await h.restart()
    await vote(h, card_ts, True, "U3")
    assert await h.bot.store.feedback_counts() == (1, 0)


def test_the_fake_refuses_feedback_buttons_slack_would_refuse():
    _check_content("done", [feedback_block()])  # what the bot sends is accepted
    long_label = feedback_block()
    long_label["elements"][0]["positive_button"]["text"]["text"] = "x" * 76
    no_value = feedback_block()
    del no_value["elements"][0]["negative_button"]["value"]
    outside = {"type": "actions", "elements": feedback_block()["elements"]}
    for blocks in ([long_label], [no_value], [outside]):
        with pytest.raises(SlackError) as refused:
            _check_content("done", blocks)
        assert refused.value.error == "invalid_blocks"
