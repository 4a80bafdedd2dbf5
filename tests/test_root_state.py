"""The thread's root message says where the interview stands, updated in place: through
the real Bolt app against the fake Slack and the scripted model."""

from __future__ import annotations

import asyncio

from slackbot.interview.standing import stage_of
from slackbot.interview.turn_state import Phase
from slackbot.slack.blocks import CANCEL_ACTION
from slackbot.slack.relay.root import Stage, Standing, root_message, state_line
from slackbot.store import Status
from tests.conftest import held
from tests.fakes import anthropic as fa
from tests.fakes.slack import Message
from tests.test_budgets import paused_bakery
from tests.test_interview_flow import write_both


def root_of(h, root_ts: str) -> Message:
    root = h.slack.message("C1", root_ts)
    assert root is not None
    return root


def buttons(message: Message) -> list[dict]:
    return [e for b in message.blocks or [] if b.get("type") == "actions" for e in b.get("elements", [])]


def root_updates(h, root_ts: str) -> list:
    return [c for c in h.slack.calls_to("chat.update") if c.args.get("ts") == root_ts]


async def root_says(h, root_ts: str, words: str) -> Message:
    return await h.slack.wait_for(
        lambda: root_of(h, root_ts) if words in root_of(h, root_ts).visible_text else None,
        what=f"the root to say {words!r}",
    )


async def test_the_root_follows_the_interview_to_a_ready_spec(start_bot):
    h = await start_bot()
    project = h.project("shop")
    started, release = asyncio.Event(), asyncio.Event()
    h.model.script(str(project), [
        held(started, release, "Hi! What are you building?"),
        fa.text("Who pays, and how?"),
        *write_both(project),
    ])
    root_ts = await h.start_interview("shop")
    await asyncio.wait_for(started.wait(), 15)
    root = root_of(h, root_ts)
    assert "Interviewing" in root.visible_text and "started by <@U1>" in root.visible_text
    (cancel,) = buttons(root)
    assert cancel["action_id"] == CANCEL_ACTION and "style" not in cancel and cancel["confirm"]

    release.set()
    await h.wait_for_text("C1", root_ts, "What are you building?")
    await root_says(h, root_ts, "Waiting on an answer from <@U1>")
    await h.slack.send_message("C1", "U2", "A bakery web shop", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Who pays, and how?")
    await root_says(h, root_ts, "Waiting on an answer from <@U2>")

    await h.slack.send_message("C1", "U1", "Card payments. Write it.", thread_ts=root_ts)
    root = await root_says(h, root_ts, "Spec ready: 8 features")
    assert buttons(root) == []  # nothing left to cancel
    assert "Spec ready: 8 features" in root.text  # the notification text says it too
    # Always the same message, changed in place.
    assert [m.ts for m in h.slack.messages if m.channel == "C1" and m.thread_ts is None] == [root_ts]
    assert root.edits == len(root_updates(h, root_ts)) >= 3
    h.model.verify()


async def test_a_burst_of_changes_costs_one_root_update(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [fa.text("What are you building?"), *write_both(project)])
    # Slack is slow to take the "waiting" update: meanwhile the interview moves on twice
    # (interviewing, then ready). Held from the start: that update may go out at once.
    gate = h.slack.hold_next("chat.update", lambda args: "Waiting on" in str(args.get("text")))
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What are you building?")
    await asyncio.wait_for(gate.reached.wait(), 30)
    await h.slack.send_message("C1", "U1", "A bakery shop. Write it.", thread_ts=root_ts)
    await h.slack.wait_for(lambda: len(h.slack.uploads) == 2, what="both spec files uploaded")

    async def over() -> bool:
        conversation = await h.bot.interviews.find("C1", root_ts)
        return conversation is not None and conversation.record.status == Status.COMPLETE and not conversation.busy

    await h.slack.wait_for(over, what="the turn to be over")
    gate.release.set()
    await root_says(h, root_ts, "Spec ready: 8 features")
    # waiting, interviewing, ready: the last two cost one update between them.
    assert len(root_updates(h, root_ts)) == 2
    assert "Interviewing" not in " ".join(c.args.get("text", "") for c in root_updates(h, root_ts))


async def test_cancel_shows_in_the_root_and_takes_its_button_away(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("What are you building?")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What are you building?")
    await h.slack.send_action(CANCEL_ACTION, user_id="U2", channel_id="C1", message_ts=root_ts)
    root = await root_says(h, root_ts, "Cancelled")
    assert buttons(root) == [] and "Waiting" not in root.visible_text
    assert root_updates(h, root_ts) and all(c.ok for c in root_updates(h, root_ts))


async def test_after_a_restart_the_root_is_rendered_from_the_store(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("What are you building?"), fa.text("Who pays?")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What are you building?")
    await root_says(h, root_ts, "Waiting on an answer from <@U1>")
    # Slack refuses the root's updates until the restart: it is left saying the old state.
    broken = [True]
    h.slack.fail_when("chat.update", "internal_error", lambda a: broken[0] and a.get("ts") == root_ts, times=100)
    answer = await h.slack.send_message("C1", "U2", "A bakery shop", thread_ts=root_ts)
    await h.settled("C1", root_ts, "Who pays?")
    await h.restart()
    broken[0] = False
    assert "Waiting on an answer from <@U1>" in root_of(h, root_ts).visible_text  # stale

    # Someone edits their (already answered) reply: the thread's conversation is rebuilt
    # from the store, and the root says whom Claude waits on now.
    await h.slack.edit_message("C1", answer.ts, "A bakery web shop")
    root = await root_says(h, root_ts, "Waiting on an answer from <@U2>")
    assert [b["action_id"] for b in buttons(root)] == [CANCEL_ACTION]


async def test_a_finished_spec_stays_ready_in_the_root_after_a_restart(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [*write_both(project), fa.text("Glad you like it.")])
    root_ts = await h.start_interview("shop")
    await root_says(h, root_ts, "Spec ready: 8 features")
    await h.restart()
    await h.slack.send_message("C1", "U1", "Thanks!", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Glad you like it.")
    root = await root_says(h, root_ts, "Spec ready: 8 features")
    assert buttons(root) == []


async def test_the_root_says_queued_while_claude_is_busy_elsewhere(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_LIVE_SESSIONS": "1"})
    started, release = asyncio.Event(), asyncio.Event()
    h.model.script(str(h.project("shop")), [held(started, release, "Hi shop!")])
    h.model.script(str(h.project("blog")), [fa.text("Hi blog!")])
    await h.start_interview("shop")
    await asyncio.wait_for(started.wait(), 15)
    blog_ts = await h.start_interview("blog")
    await root_says(h, blog_ts, "Queued")
    release.set()
    await h.wait_for_text("C1", blog_ts, "Hi blog!")
    await root_says(h, blog_ts, "Waiting on an answer from <@U1>")


async def test_the_root_says_paused_when_a_budget_holds_the_replies(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_COST_PER_INTERVIEW": "0.001"})
    root_ts = await paused_bakery(h)
    root = await root_says(h, root_ts, "Paused")
    assert [b["action_id"] for b in buttons(root)] == [CANCEL_ACTION]


# -- the renderer, pure --------------------------------------------------------------


def test_each_stage_reads_as_a_sentence_with_the_people_in_it():
    def line(stage: Stage, **kw: object) -> str:
        return state_line(Standing("shop", "U1", stage, **kw))  # type: ignore[arg-type]

    assert "Interviewing" in line(Stage.INTERVIEWING)
    assert "Waiting on an answer from <@U7>" in line(Stage.WAITING, waiting_on="U7")
    assert "Waiting on an answer. " in line(Stage.WAITING)  # nobody known: nobody named
    assert "Queued" in line(Stage.QUEUED) and "Paused" in line(Stage.PAUSED)
    assert "Spec ready: 8 features" in line(Stage.READY, features=8)
    assert "Spec ready: 1 feature." in line(Stage.READY, features=1)
    assert "Spec ready." in line(Stage.READY)  # the spec does not state a count
    assert "Cancelled" in line(Stage.CANCELLED) and "went wrong" in line(Stage.FAILED)


def test_the_cancel_button_is_plain_and_goes_once_the_interview_has_ended():
    for stage in Stage:
        text, blocks = root_message(Standing("shop", "U1", stage, waiting_on="U2", features=3))
        assert text.startswith("Spec interview for *shop*, started by <@U1>")
        actions = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
        if stage in (Stage.READY, Stage.CANCELLED):
            assert actions == []
        else:
            (button,) = actions
            assert button["action_id"] == CANCEL_ACTION and "style" not in button and "confirm" in button


def test_the_stage_follows_the_turn_then_the_stored_status():
    assert stage_of(Status.CANCELLED, Phase.RUNNING, held=False) is Stage.CANCELLED
    assert stage_of(Status.COMPLETE, Phase.QUEUED, held=False) is Stage.QUEUED
    assert stage_of(Status.COMPLETE, Phase.RUNNING, held=False) is Stage.INTERVIEWING
    assert stage_of(Status.INTERVIEWING, Phase.ASKING, held=False) is Stage.WAITING
    assert stage_of(Status.WAITING, Phase.IDLE, held=True) is Stage.PAUSED
    assert stage_of(Status.COMPLETE, Phase.IDLE, held=False) is Stage.READY
    assert stage_of(Status.FAILED, Phase.IDLE, held=False) is Stage.FAILED
    assert stage_of(Status.WAITING, Phase.IDLE, held=False) is Stage.WAITING
