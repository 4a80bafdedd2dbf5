"""Claude's transcripts live in the state store (issue 24, item 2): a conversation
resumes on a machine whose disk never had its transcript, a CLI killed right after a
turn leaves that turn's end behind, and the store's copy goes when the disk's would."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from slackbot.claude.retention import transcripts_root
from slackbot.claude.session_store import StoreSessionStore
from slackbot.claude.translate import TRANSCRIPT_LOST
from slackbot.store import SqliteStore
from tests.conftest import bot_env, process_env
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack
from tests.test_at_rest import on_disk
from tests.test_crash import greeted, kill_9, launch, nothing_pending

pytestmark = pytest.mark.both_engines


def history(request: fa.ModelRequest) -> str:
    return json.dumps(request.messages)


async def test_a_conversation_resumes_from_the_store_when_its_transcript_folder_is_gone(start_bot, tmp_path):
    """As on a new replica, or after the machine's disk was lost: only the database carries over."""
    h = await start_bot()
    seen: list[fa.ModelRequest] = []

    def after_move(request: fa.ModelRequest) -> fa.Turn:
        seen.append(request)
        return fa.text("Bread and cakes, got it.")

    h.model.script(str(h.project("shop")), [fa.text("What do you sell?"), fa.text("Bread, noted."), after_move])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What do you sell?")
    await h.slack.send_message("C1", "U1", "We sell bread", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Bread, noted.")
    await h.stop()
    shutil.rmtree(transcripts_root(tmp_path / "state"))  # the CLI's own transcripts are gone

    await h.start()
    await h.slack.send_message("C1", "U1", "Cakes too", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Bread and cakes, got it.")
    (request,) = seen
    said = history(request)
    assert "What do you sell?" in said and "We sell bread" in said and "Bread, noted." in said
    assert TRANSCRIPT_LOST not in h.slack.thread_text("C1", root_ts)
    h.model.verify()


async def test_a_cli_killed_right_after_a_turn_leaves_that_turns_end_in_the_store(model, tmp_path: Path):
    """The CLI writes its file lazily: killed at once after a turn, the file may lack the
    turn's end. The store has it before the bot records the turn as answered."""
    seen: list[fa.ModelRequest] = []

    def after_kill(request: fa.ModelRequest) -> fa.Turn:
        seen.append(request)
        return fa.text("Bread and cakes, got it.")

    async with FakeSlack() as slack:
        env = process_env(**bot_env(slack, tmp_path))
        model.script(
            str(tmp_path / "generations" / "shop"),
            [fa.text("What do you sell?"), fa.text("Bread, noted, and the end of this turn."), after_kill],
        )
        process = await launch(slack, env)
        try:
            root_ts = await greeted(slack, "What do you sell?")
            await slack.send_message("C1", "U1", "We sell bread", thread_ts=root_ts)
            await slack.wait_for(lambda: nothing_pending(tmp_path), timeout=30, what="the turn to be recorded")
            await kill_9(process)  # the bot and its CLI, the moment the turn is recorded
            shutil.rmtree(transcripts_root(tmp_path / "state"), ignore_errors=True)  # only the store is witness

            process = await launch(slack, env)
            await slack.send_message("C1", "U1", "Cakes too", thread_ts=root_ts)
            await slack.wait_for(lambda: "Bread and cakes, got it." in slack.thread_text("C1", root_ts), timeout=30)
            (request,) = seen
            assert "Bread, noted, and the end of this turn." in history(request)
            assert history(request).count("We sell bread") == 1
            model.verify()
        finally:
            if process.returncode is None:
                await kill_9(process)


async def test_retention_deletes_the_stores_copy_and_empties_the_log(tmp_path: Path):
    store = SqliteStore(tmp_path / "newspec.db")
    await store.open()
    try:
        sessions = StoreSessionStore(store)
        secret, live_words = "old-secret-" + "s" * 400, "still-talking-" + "t" * 400
        for session_id, words in (("old", secret), ("live", live_words)):
            key = {"project_key": "p", "session_id": session_id}
            await sessions.append(key, [{"type": "user", "uuid": f"{session_id}-1", "message": {"content": words}}])
        await asyncio.sleep(0.01)  # both are now older than this moment
        assert secret.encode() in on_disk(tmp_path)
        assert await sessions.expire(0.005, keep=["live"]) == 1
        assert [s["session_id"] for s in await sessions.list_sessions("p")] == ["live"]
        disk = on_disk(tmp_path)
        assert secret.encode() not in disk and live_words.encode() in disk
    finally:
        await store.close()


async def test_a_parked_turns_spend_moves_with_the_conversation(start_bot, tmp_path):
    """The CLI saves its running total on disk only, when its process ends (a turn parked
    mid-question included): it goes into the store too, so on a machine without the
    transcript folder the cut-off turn is still paid by who asked, not lost."""
    from tests.test_questions import MODE, ask, click, question_message
    from tests.test_turn_costs import call, spent, waiting

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
    shutil.rmtree(transcripts_root(tmp_path / "state"))  # the process ended: only the store has its total
    await click(h, question, "Detailed", user="U3")
    await h.wait_for_text("C1", root_ts, "Detailed, noted.")
    await waiting(h, root_ts)
    one = await spent(h, "U1")
    assert one > 0
    assert (await spent(h, "U2"), await spent(h, "U3")) == pytest.approx((one, one))


@pytest.mark.sqlite_only  # writes the SQLite file as an older version left it
async def test_a_conversation_from_before_the_store_goes_into_it_whole(start_bot, tmp_path):
    """A transcript only the disk has (the bot upgraded mid-conversation) is copied into
    the store at its next resume: the SDK mirrors only what a process adds, and a later
    move must not find the conversation's beginning missing."""
    h = await start_bot()
    seen: list[fa.ModelRequest] = []

    def after_move(request: fa.ModelRequest) -> fa.Turn:
        seen.append(request)
        return fa.text("All three, got it.")

    h.model.script(
        str(h.project("shop")),
        [fa.text("What do you sell?"), fa.text("Bread, noted."), fa.text("Cakes, noted."), after_move],
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What do you sell?")
    await h.slack.send_message("C1", "U1", "We sell bread", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Bread, noted.")
    await h.stop()
    with sqlite3.connect(tmp_path / "state" / "newspec.db") as db:  # as a database from before the store kept them
        db.execute("DELETE FROM transcript_entries")
        db.execute("DELETE FROM transcripts")

    await h.start()
    await h.slack.send_message("C1", "U1", "Cakes too", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Cakes, noted.")
    await h.stop()
    shutil.rmtree(transcripts_root(tmp_path / "state"))

    await h.start()
    await h.slack.send_message("C1", "U1", "And pies", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "All three, got it.")
    (request,) = seen
    said = history(request)
    assert "We sell bread" in said and "Bread, noted." in said and "Cakes too" in said
