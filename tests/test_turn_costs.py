"""Each turn's model spend is charged to the person whose message started it, also when
the turn never finished: the real claude CLI reports a running total per conversation,
and what a cut-off turn spent must not land on whoever writes next.

Measured with the bundled CLI and the fake model: a turn whose process is closed
mid-turn (the bot parks or stops it) is saved in the CLI's transcript, so the next
process's total includes it; a process killed outright saves nothing, so the next
process counts from the last saved total (its spend is lost to everyone); a turn the
bot interrupts after a silence reports its total only to that interrupt.

Every model call here reports the same usage, so each costs the same."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from tests.conftest import bot_env, held, process_env
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack
from tests.postgres import query_bot_database
from tests.test_crash import greeted, kill_9, launch
from tests.test_questions import MODE, ask, click, question_message

USAGE = (1000, 100)


def call(turn: fa.Turn) -> fa.Turn:
    return dataclasses.replace(turn, usage=USAGE)


def glob() -> fa.Turn:
    return call(fa.tool("Glob", {"pattern": "*.txt"}))


async def spent(h, user: str) -> float:
    return await h.bot.store.spent(user_id=user)


async def waiting(h, root_ts: str) -> None:
    """The thread's turn is over and recorded: nothing runs, nothing waits."""

    async def idle() -> bool:
        conversation = await h.bot.interviews.find("C1", root_ts)
        return not conversation.busy and not await h.bot.store.pending_replies("C1", root_ts)

    await h.slack.wait_for(idle, what="the turn recorded")


async def test_a_parked_question_is_paid_by_who_asked_not_who_answered(start_bot):
    h = await start_bot(env={"NEWSPEC_IDLE_MINUTES": "0.02"})  # parked after about a second
    h.model.script(
        str(h.project("shop")), [call(fa.text("Hello!")), call(ask(MODE)), call(fa.text("Detailed, noted."))]
    )
    root_ts = await h.start_interview("shop", user="U1")
    await h.wait_for_text("C1", root_ts, "Hello!")
    await h.slack.send_message("C1", "U2", "let's go", thread_ts=root_ts)
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    conversation = await h.bot.interviews.find("C1", root_ts)
    await h.slack.wait_for(lambda: not conversation.busy, timeout=20, what="the question parked")
    await click(h, question, "Detailed", user="U3")
    await h.wait_for_text("C1", root_ts, "Detailed, noted.")
    await waiting(h, root_ts)
    one = await spent(h, "U1")
    assert one > 0
    assert (await spent(h, "U2"), await spent(h, "U3")) == pytest.approx((one, one))


async def test_a_turn_interrupted_after_a_silence_is_paid_by_its_own_payer(start_bot):
    h = await start_bot(env={"NEWSPEC_TURN_TIMEOUT": "0.02"})  # 1.2 s of silence
    started, release = asyncio.Event(), asyncio.Event()
    h.model.script(str(h.project("shop")), [
        call(fa.text("Hello!")), glob(), held(started, release, "never"), call(fa.text("Back again.")),
    ])
    root_ts = await h.start_interview("shop", user="U1")
    await h.wait_for_text("C1", root_ts, "Hello!")
    try:
        await h.slack.send_message("C1", "U2", "look around", thread_ts=root_ts)
        await asyncio.wait_for(started.wait(), 15)
        await h.wait_for_text("C1", root_ts, "Claude went quiet")
        await h.slack.send_message("C1", "U3", "try again", thread_ts=root_ts)
        await h.wait_for_text("C1", root_ts, "Back again.")
        await waiting(h, root_ts)
    finally:
        release.set()
    one = await spent(h, "U1")
    assert (await spent(h, "U2"), await spent(h, "U3")) == pytest.approx((one, one))


async def spend_by(tmp_path: Path) -> dict[str, float]:
    rows = await query_bot_database(tmp_path / "state", "SELECT user_id, SUM(cost_usd) FROM spend GROUP BY user_id")
    return dict(rows)


async def test_after_a_kill_the_next_turns_pay_their_own_calls(model, tmp_path: Path):
    started, never = asyncio.Event(), asyncio.Event()
    async with FakeSlack() as slack:
        env = process_env(**bot_env(slack, tmp_path))
        model.script(str(tmp_path / "generations" / "shop"), [
            call(fa.text("Hello!")), glob(), held(started, never, "never"),
            call(fa.text("Looked around.")), call(fa.text("Thanks, U3.")),
        ])
        process = await launch(slack, env)
        try:
            root_ts = await greeted(slack, "Hello!")
            await slack.send_message("C1", "U2", "look around", thread_ts=root_ts)
            await asyncio.wait_for(started.wait(), 30)
            await kill_9(process)  # the Glob call's spend dies with the process

            process = await launch(slack, env)
            await slack.wait_for(lambda: "Looked around." in slack.thread_text("C1", root_ts), timeout=30)
            await slack.send_message("C1", "U3", "thanks", thread_ts=root_ts)
            await slack.wait_for(lambda: "Thanks, U3." in slack.thread_text("C1", root_ts), timeout=30)
            async def three_charged() -> bool:
                return len(await spend_by(tmp_path)) == 3

            await slack.wait_for(three_charged, timeout=15, what="three people charged")
        finally:
            never.set()
            await kill_9(process)
        by = await spend_by(tmp_path)
        assert by["U1"] > 0
        assert (by["U2"], by["U3"]) == pytest.approx((by["U1"], by["U1"]))  # one call each, as reported
