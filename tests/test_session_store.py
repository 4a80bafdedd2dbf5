"""Claude's transcripts in the state store, through the Agent SDK's SessionStore:
the SDK's own conformance suite against our adapter on a real SQLite file and on a
real PostgreSQL server, and a resume that finds the conversation after the store was
reopened."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from claude_agent_sdk import ClaudeAgentOptions, project_key_for_directory
from claude_agent_sdk._internal.session_resume import materialize_resume_session
from claude_agent_sdk._internal.session_store_validation import _store_implements
from claude_agent_sdk.testing import run_session_store_conformance

from slackbot.claude.session_store import StoreSessionStore
from slackbot.store import PostgresStore, SqliteStore
from tests.conftest import reopen
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
