"""Answers to a question that land on the replica not running the thread.

Two bots (in-process) on one PostgreSQL database and one fake Slack that hands Socket
Mode envelopes to their connections in turn. Claude, on the thread's owner, waits live
for the answer to its question; the click (or the "Other…" form, or a typed reply) is
handed to the other replica, which stores it, shows it on the card and wakes the owner:
Claude gets it then, once, and answers in the thread. The park timeout is long (ten
minutes): an answer that only reached Claude once the session parked fails the test's
wait instead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from slackbot.config import Settings
from slackbot.slack.blocks import PICK_ACTION
from tests.conftest import Harness, bot_env
from tests.fakes import anthropic as fa
from tests.fakes.slack import Delivery, FakeSlack, Message
from tests.postgres import PostgresServer
from tests.test_interview_state import seen_by
from tests.test_phone_questions import WORDS, a_view, typed
from tests.test_questions import FEATURES, MODE, ask, click, elements, question_message


@dataclass
class Scene:
    """The two replicas, the thread's owner among them, and Claude waiting on its question."""

    slack: FakeSlack
    owner: Harness
    other: Harness
    owner_connection: int
    root_ts: str

    def thread(self) -> str:
        return self.slack.thread_text("C1", self.root_ts)

    async def nothing_waits(self) -> None:
        """The turn is over and recorded: no answer is left to go to Claude again as a message."""
        assert self.owner.bot is not None
        store = self.owner.bot.store

        async def empty() -> bool:
            return not await store.pending_replies("C1", self.root_ts)

        await self.slack.wait_for(empty, what="no reply or answer left waiting")

    def on_the_other(self, delivery: Delivery) -> None:
        assert delivery.connection != self.owner_connection, "the envelope went to the owner"


@asynccontextmanager
async def asking_on_the_owner(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer, steps: list[fa.Step | fa.Turn],
    *questions: str, env: dict[str, str] | None = None,
) -> AsyncIterator[tuple[Scene, list[Message]]]:
    """Two replicas (`env` added to their settings); an interview whose Claude (on the
    owner) asked `questions` and waits on them."""
    url = postgres_server.fresh_database()
    async with FakeSlack(several_connections=True) as slack:
        bots: list[Harness] = []
        try:
            for name in ("a", "b"):
                settings = bot_env(slack, tmp_path / name, NEWSPEC_DATABASE_URL=url, NEWSPEC_REPLICA_TIMEOUT="1.5",
                                   GENERATIONS_DIR=str(tmp_path / "generations"), NEWSPEC_IDLE_MINUTES="10",
                                   **(env or {}))
                bots.append(Harness(slack, model, Settings.from_env(settings)))
                await bots[-1].start()  # connection 1, then 2
            model.script(str(bots[0].project("shop")), steps)
            started = await slack.send_slash_command("shop", user_id="U1", channel_id="C1")
            owner, other = (bots[0], bots[1]) if started.connection == 1 else (bots[1], bots[0])
            root_ts = (await slack.wait_for(
                lambda: next((m for m in slack.messages if "*shop*" in m.text), None), what="the root"
            )).ts
            scene = Scene(slack, owner, other, started.connection, root_ts)
            cards = [await question_message(owner, root_ts, text) for text in questions]

            async def asking() -> bool:  # the cards shown is not yet Claude waiting on them
                assert owner.bot is not None
                conversation = await owner.bot.interviews.find("C1", root_ts)
                return conversation is not None and conversation.waiting_on_people

            await slack.wait_for(asking, what="Claude waiting on the question")
            yield scene, cards
        finally:
            await asyncio.gather(*(b.stop(grace=0) for b in bots))


@asynccontextmanager
async def asking_both(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer
) -> AsyncIterator[tuple[Scene, Message, Message, list[fa.ModelRequest]]]:
    """Claude (on the owner) asked MODE and FEATURES at once and waits on both: the scene,
    the two cards, and what Claude is sent once both are answered (it says "Both noted.")."""
    seen: list[fa.ModelRequest] = []
    steps = [ask(MODE, FEATURES), seen_by(seen, "Both noted.")]
    async with asking_on_the_owner(
        model, tmp_path, postgres_server, steps, MODE["question"], FEATURES["question"]
    ) as (scene, (mode, features)):
        yield scene, mode, features, seen


async def submit_payments(scene: Scene, features: Message) -> Delivery:
    """Tick "Payments" on the features card and press Submit."""
    (pick_block, checkboxes), *_ = [(b, e) for b, e in elements(features) if e["type"] == "checkboxes"]
    state = {pick_block["block_id"]: {checkboxes["action_id"]: {
        "type": "checkboxes", "selected_options": [checkboxes["options"][1]]}}}
    return await click(scene.owner, features, "Submit", state=state)


async def test_a_click_on_the_other_replica_reaches_the_owners_waiting_claude_at_once(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer
):
    seen: list[fa.ModelRequest] = []
    steps = [ask(MODE), seen_by(seen, "Quick it is.")]
    async with asking_on_the_owner(
        model, tmp_path, postgres_server, steps, MODE["question"], env={"NEWSPEC_QUICK_MODEL": "haiku"}
    ) as (scene, cards):
        (card,) = cards
        scene.on_the_other(await click(scene.owner, card, "Quick", user="U2"))
        await scene.owner.wait_for_text("C1", scene.root_ts, "Quick it is.")
        (result,) = seen[0].tool_results
        assert '"Quick or detailed interview?"="Quick"' in result.content_text
        assert "haiku" in seen[0].model  # quick mode, picked on the other replica, moved the owner's Claude
        updated = scene.slack.message("C1", card.ts)
        assert elements(updated) == [] and updated.visible_text.count("<@U2>: *Quick*") == 1
        await scene.nothing_waits()
        assert scene.thread().count("Quick it is.") == 1
        model.verify()


async def test_a_two_part_question_answered_on_both_replicas_reaches_claude_once(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer
):
    async with asking_both(model, tmp_path, postgres_server) as (scene, mode, features, seen):
        scene.on_the_other(await click(scene.owner, mode, "Detailed"))
        await scene.slack.wait_for(lambda: not elements(scene.slack.message("C1", mode.ts)), what="mode answered")
        assert (await submit_payments(scene, features)).connection == scene.owner_connection
        await scene.owner.wait_for_text("C1", scene.root_ts, "Both noted.")
        (result,) = seen[0].tool_results
        assert '"Quick or detailed interview?"="Detailed"' in result.content_text
        assert '"Which features matter most?"="Payments"' in result.content_text
        await scene.nothing_waits()
        assert scene.thread().count("Both noted.") == 1
        model.verify()


async def test_an_other_form_sent_to_the_other_replica_reaches_the_owners_waiting_claude(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer
):
    seen: list[fa.ModelRequest] = []
    steps = [ask(MODE), seen_by(seen, "In between, noted.")]
    async with asking_on_the_owner(model, tmp_path, postgres_server, steps, MODE["question"]) as (scene, cards):
        (card,) = cards
        await click(scene.owner, card, "Other…", user="U2")  # on the other: it opens the form
        form = await a_view(scene.owner, "U2")
        # Ticking a radio button only changes the card's form (acked, nothing else): it goes to the owner.
        await scene.slack.send_action(PICK_ACTION, None, user_id="U2", channel_id="C1", message_ts=card.ts)
        scene.on_the_other(await scene.slack.submit_view(form, typed(form, WORDS)))
        await scene.owner.wait_for_text("C1", scene.root_ts, "In between, noted.")
        (result,) = seen[0].tool_results
        assert f'"Quick or detailed interview?"="{WORDS}"' in result.content_text
        assert scene.slack.message("C1", card.ts).visible_text.count(f"<@U2>: *{WORDS}*") == 1
        await scene.nothing_waits()
        model.verify()


async def test_a_reply_typed_on_the_other_replica_answers_the_owners_waiting_claude(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer
):
    seen: list[fa.ModelRequest] = []
    steps = [ask(MODE), seen_by(seen, "Typed, noted.")]
    async with asking_on_the_owner(model, tmp_path, postgres_server, steps, MODE["question"]) as (scene, cards):
        (card,) = cards
        scene.on_the_other(await scene.slack.send_message("C1", "U1", WORDS, thread_ts=scene.root_ts))
        await scene.owner.wait_for_text("C1", scene.root_ts, "Typed, noted.")
        (result,) = seen[0].tool_results
        assert f'"Quick or detailed interview?"="u1: {WORDS}"' in result.content_text  # its author's name
        assert elements(scene.slack.message("C1", card.ts)) == []
        await scene.nothing_waits()
        model.verify()


async def test_which_part_a_reply_answers_chosen_on_the_other_replica_answers_that_part_alone(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer
):
    async with asking_both(model, tmp_path, postgres_server) as (scene, mode, features, seen):
        slack = scene.slack
        scene.on_the_other(await slack.send_message("C1", "U1", "detailed, please", thread_ts=scene.root_ts))
        which = await slack.wait_for(
            lambda: next((e for e in slack.ephemerals(user="U1") if e.blocks), None), what="which question?"
        )
        buttons = [e for b in which.blocks for e in b.get("elements", []) if e.get("action_id")]
        await slack.send_action(PICK_ACTION, None, user_id="U1", channel_id="C1", message_ts=mode.ts)  # on the owner
        scene.on_the_other(await slack.send_action(
            buttons[0]["action_id"], buttons[0]["value"], user_id="U1", channel_id="C1", message_ts=which.ts
        ))
        await slack.wait_for(lambda: not elements(slack.message("C1", mode.ts)), what="the mode question answered")
        assert "detailed, please" in slack.message("C1", mode.ts).visible_text
        assert elements(slack.message("C1", features.ts)), "the other part still waits"

        await submit_payments(scene, features)
        await scene.owner.wait_for_text("C1", scene.root_ts, "Both noted.")
        (result,) = seen[0].tool_results
        assert '"Which features matter most?"="Payments"' in result.content_text
        assert result.content_text.count("detailed, please") == 1
        await scene.nothing_waits()
        model.verify()
