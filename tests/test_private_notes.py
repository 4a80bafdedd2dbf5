"""Private notes where Slack can't show them privately: an ephemeral to someone who is
not in the channel, and a response_url past its uses or its half hour.

Through the real bot, the fake Slack (which refuses both as Slack does) and the real
`claude` CLI.
"""

from __future__ import annotations

import logging

import aiohttp

from slackbot.listeners.responding import CountedRespond
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack


async def test_a_note_for_someone_outside_the_channel_is_logged_and_not_shown_to_others(start_bot, caplog):
    # Owner-only: whatever U7 says gets a note. U7 answers in the thread without being in the channel.
    h = await start_bot(env={"NEWSPEC_THREAD_OWNER_ONLY": "1"}, members={"C1": {"U1"}})
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Bread, noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    caplog.set_level(logging.WARNING)

    await h.slack.send_message("C1", "U7", "I want cakes too", thread_ts=root_ts)
    refused = await h.slack.wait_for(lambda: [c for c in h.slack.calls_to("chat.postEphemeral") if c.response])
    assert refused[0].response.get("error") == "user_not_in_channel"
    await h.slack.send_message("C1", "U1", "we sell bread", thread_ts=root_ts)
    await h.settled("C1", root_ts, "Bread, noted.")  # the interview goes on

    assert h.slack.ephemerals() == [] and "owner-only" not in h.slack.thread_text("C1", root_ts)
    assert "cakes" not in str(h.model.requests)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    told = [r.getMessage() for r in caplog.records if "U7" in r.getMessage()]
    assert any("user_not_in_channel" in line for line in told), told


async def test_an_answer_after_the_response_urls_half_hour_reaches_the_person_privately(start_bot):
    h = await start_bot(response_url_lifetime=0.0)  # every response_url is already too old
    await h.slack.send_slash_command("list", user_id="U1", channel_id="C1")
    shown = await h.slack.wait_for(lambda: h.slack.ephemerals(user="U1", channel="C1"))
    assert "No interviews here" in shown[0].text and shown[0].source == "chat.postEphemeral"
    assert h.slack.response_posts == [] and h.slack.messages == []


async def test_a_response_url_is_used_five_times_and_then_the_answer_is_a_message():
    async with FakeSlack() as fake:
        url = fake.slash_command_payload("list")["response_url"]
        instead: list[dict] = []

        async def fallback(message: dict) -> None:
            instead.append(message)

        respond = CountedRespond(response_url=url, fallback=fallback)
        for n in range(7):
            await respond(f"note {n}")
        assert [e.text for e in fake.ephemerals() if e.source == "response_url"] == [f"note {n}" for n in range(5)]
        assert [m["text"] for m in instead] == ["note 5", "note 6"]
        async with aiohttp.ClientSession() as session, session.post(url, json={"text": "a sixth"}) as answer:
            assert (answer.status, await answer.text()) == (404, "used_url")  # as the fake's Slack refuses it


async def test_a_response_url_near_its_half_hour_is_not_used():
    async with FakeSlack() as fake:
        now = [0.0]
        instead: list[dict] = []

        async def fallback(message: dict) -> None:
            instead.append(message)

        respond = CountedRespond(
            response_url=fake.slash_command_payload("list")["response_url"], fallback=fallback, clock=lambda: now[0]
        )
        await respond("early", response_type="ephemeral")
        now[0] = 29.5 * 60
        await respond("late", response_type="in_channel")
        assert [e.text for e in fake.ephemerals()] == ["early"]
        assert instead == [{"text": "late", "response_type": "in_channel"}]
