"""Claude's transcripts in the state store, through the Agent SDK's SessionStore:
the SDK's own conformance suite against our adapter on a real SQLite file and on a
real PostgreSQL server, a resume that finds the conversation after the store was
reopened, and a conversation taken over by another replica mirroring nothing more."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from claude_agent_sdk import ClaudeAgentOptions, project_key_for_directory
from claude_agent_sdk._internal.session_resume import materialize_resume_session
from claude_agent_sdk._internal.session_store_validation import _store_implements
from claude_agent_sdk.testing import run_session_store_conformance

from slackbot.claude.session import SessionSettings, SpecSession
from slackbot.claude.session_store import StoreSessionStore
from slackbot.claude.transcript import on_disk
from slackbot.store import PostgresStore, SqliteStore
from tests.conftest import reopen
from tests.fakes import anthropic as fa
from tests.postgres import PostgresServer

OPTIONAL = ("list_sessions", "list_session_summaries", "delete", "list_subkeys")


@pytest.mark.parametrize("engine_name", ["sqlite", "postgres"])
async def test_the_sdk_conformance_suite_passes(engine_name: str, tmp_path: Path, request: pytest.FixtureRequest):
    opened: list[SqliteStore | PostgresStore] = []

    def new_store() -> SqliteStore | PostgresStore:
        if engine_name == "sqlite":
            return SqliteStore(tmp_path / f"state-{len(opened)}.db")
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return PostgresStore(server.fresh_database(), pool_size=2)

    async def fresh() -> StoreSessionStore:
        # Each contract gets its own empty database, as the suite requires.
        store = new_store()
        await store.open()
        opened.append(store)
        return StoreSessionStore(store)

    try:
        # The suite skips the contracts of optional methods a store lacks: ours has all.
        probe = await fresh()
        assert [m for m in OPTIONAL if not _store_implements(probe, m)] == []
        await run_session_store_conformance(fresh)
    finally:
        for store in opened:
            await store.close()
    assert len(opened) > 14  # one database per contract: the suite ran them all


async def test_a_retried_batch_is_not_stored_twice(store: SqliteStore):
    sessions = StoreSessionStore(store)
    key = {"project_key": "p", "session_id": "s"}
    batch = [{"type": "user", "uuid": "u1"}, {"type": "custom-title", "customTitle": "shop"}]
    await sessions.append(key, batch)
    await sessions.append(key, batch)  # the SDK retries a batch it could not confirm
    assert await sessions.load(key) == [*batch, {"type": "custom-title", "customTitle": "shop"}]


async def test_a_resume_after_a_restart_loads_the_transcript_from_the_store(store: SqliteStore, tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    session_id = str(uuid.uuid4())
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    entries = [
        {"type": "user", "uuid": first, "parentUuid": None, "sessionId": session_id,
         "message": {"role": "user", "content": "We need a shop."}},
        {"type": "assistant", "uuid": second, "parentUuid": first, "sessionId": session_id,
         "message": {"role": "assistant", "content": [{"type": "text", "text": "Who buys?"}]}},
    ]
    key = {"project_key": project_key_for_directory(project), "session_id": session_id}
    await StoreSessionStore(store).append(key, entries[:1])
    await StoreSessionStore(store).append(key, entries[1:])
    store = await reopen(store)  # a new process: nothing but the database carries over

    # What ClaudeSDKClient does before it starts the CLI with session_store and resume.
    options = ClaudeAgentOptions(
        cwd=project, resume=session_id, session_store=StoreSessionStore(store),
        env={"CLAUDE_CONFIG_DIR": str(tmp_path / "no-config")},
    )
    materialized = await materialize_resume_session(options)
    await store.close()
    assert materialized is not None
    try:
        written = materialized.config_dir / "projects" / key["project_key"] / f"{session_id}.jsonl"
        assert [json.loads(line) for line in written.read_text().splitlines()] == entries
    finally:
        await materialized.cleanup()


async def test_deleting_a_session_takes_its_subagents_along(store: SqliteStore):
    sessions = StoreSessionStore(store)
    main = {"project_key": "p", "session_id": "s"}
    await sessions.append(main, [{"type": "user", "uuid": "u1"}])
    await sessions.append({**main, "subpath": "subagents/agent-1"}, [{"type": "user", "uuid": "u2"}])
    await sessions.delete(main)
    rows = await store.fetch("SELECT COUNT(*) FROM transcript_entries")
    assert rows[0][0] == 0 and await sessions.list_sessions("p") == []


async def test_a_conversation_taken_over_meanwhile_mirrors_nothing_more_into_the_store(
    model: fa.FakeAnthropic, session_settings: SessionSettings, store: SqliteStore, tmp_path: Path
):
    """Fencing (interview/fencing.py): the replica's beat is stale when its CLI's entries
    come to be mirrored, so the mirror waits for the next beat (`vouch`); that beat finds
    the conversation taken over (`fenced`), and the entries stay out of the store's copy,
    which the new owner resumes from. The CLI's own file has them: they were written."""
    project = tmp_path / "generations" / "shop"
    asked, answer = asyncio.Event(), asyncio.Event()

    async def late(request: fa.ModelRequest) -> fa.Turn:
        asked.set()
        await answer.wait()
        return fa.text("Bread, noted (too late).")

    model.script(str(project), [fa.text("What do you sell?"), late])
    config_dir = tmp_path / "config"
    session = SpecSession(project, session_settings, config_dir=config_dir, transcripts=StoreSessionStore(store))
    sessions = StoreSessionStore(store)
    waiting, beat = asyncio.Event(), asyncio.Event()

    async def stale_beat() -> None:
        waiting.set()
        await beat.wait()

    try:
        [event async for event in session.send("start")]
        assert session.session_id is not None
        assert "What do you sell?" in json.dumps(await sessions.entries(project, session.session_id))
        session.vouch = stale_beat
        turn = asyncio.create_task(_turn(session, "We sell bread"))
        await asyncio.wait_for(asked.wait(), 30)
        answer.set()
        mirror_waits = asyncio.create_task(waiting.wait())
        await asyncio.wait([mirror_waits, turn], timeout=30, return_when=asyncio.FIRST_COMPLETED)
        mirror_waits.cancel()
        session.fenced = True  # the beat found the thread another replica's (fencing.stop_at_once)
        beat.set()
        await asyncio.wait_for(turn, 30)
    finally:
        await session.close()
    kept = json.dumps(await sessions.entries(project, session.session_id))
    assert "What do you sell?" in kept
    assert "We sell bread" not in kept and "too late" not in kept
    assert "too late" in json.dumps(on_disk(config_dir, session.session_id))
    assert waiting.is_set()  # the mirror waited for the beat


async def _turn(session: SpecSession, text: str) -> list[object]:
    return [event async for event in session.send(text)]
