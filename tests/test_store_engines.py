"""Both engines hold the same state: the PostgreSQL schema ends where SQLite's
migrations end, and the store picks its engine from the settings."""

from __future__ import annotations

from pathlib import Path

from slackbot.store import PostgresStore, SqliteStore, make_store
from slackbot.store.pg_migrations import PG_MIGRATIONS
from tests.postgres import PostgresServer

# What one engine has for its own bookkeeping.
ENGINE_OWN = {("sqlite_sequence", "name"), ("sqlite_sequence", "seq"), ("schema_version", "version")}


async def sqlite_columns(path: Path) -> set[tuple[str, str]]:
    store = SqliteStore(path)
    await store.open()
    try:
        tables = [t for (t,) in await store.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {(t, row[1]) for t in tables for row in await store.fetch(f"PRAGMA table_info({t})")}
    finally:
        await store.close()


async def postgres_columns(url: str) -> set[tuple[str, str]]:
    store = PostgresStore(url)
    await store.open()
    try:
        rows = await store.fetch(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        )
        # rowid: SQLite's hidden column, a real one here where the store orders by it.
        return {(t, c) for t, c in rows if c != "rowid"}
    finally:
        await store.close()


async def test_both_engines_end_with_the_same_tables_and_columns(tmp_path: Path, postgres_server: PostgresServer):
    on_sqlite = await sqlite_columns(tmp_path / "state.db") - ENGINE_OWN
    on_postgres = await postgres_columns(postgres_server.fresh_database()) - ENGINE_OWN
    assert on_sqlite - on_postgres == set(), "columns SQLite has and PostgreSQL lacks: add a PG migration"
    assert on_postgres - on_sqlite == set(), "columns PostgreSQL has and SQLite lacks: add a migration"


async def test_a_second_start_finds_the_schema_migrated_and_the_state_kept(postgres_server: PostgresServer):
    from slackbot.store import InterviewRecord

    url = postgres_server.fresh_database()
    first = PostgresStore(url)
    await first.open()
    await first.add_interview(InterviewRecord("C1", "1.0", "shop", "U1"))
    await first.close()
    again = PostgresStore(url)
    await again.open()
    try:
        assert [r.name for r in await again.list_interviews()] == ["shop"]
        versions = await again.fetch("SELECT version FROM schema_version ORDER BY version")
        assert versions == [(n,) for n in range(1, len(PG_MIGRATIONS) + 1)]  # each migration once
    finally:
        await again.close()


def test_the_database_url_chooses_the_engine(tmp_path: Path):
    assert isinstance(make_store(None, tmp_path), SqliteStore)
    assert isinstance(make_store("postgresql://bot@db/newspec", tmp_path), PostgresStore)


async def test_two_processes_claiming_one_name_at_once_get_one_interview(postgres_server: PostgresServer):
    """Replicas share the database: the one-interview-per-name claim and the event
    dedupe hold across them, as within one process."""
    import asyncio

    from slackbot.store import InterviewRecord

    url = postgres_server.fresh_database()
    replicas = [PostgresStore(url), PostgresStore(url)]
    for replica in replicas:
        await replica.open()
    try:
        for n in range(10):
            claims = await asyncio.gather(*(
                replica.claim_name(InterviewRecord(f"C{k}", f"{n}.{k}", f"shop{n}", "U1"))
                for k, replica in enumerate(replicas)
            ))
            assert sorted(c is None for c in claims) == [False, True]  # one claimed it, one was told
            accepted = await asyncio.gather(*(
                replica.accept_reply("C0", f"{n}.0", "U1", "hi", f"{n}.5", f"Ev{n}") for replica in replicas
            ))
            assert sum(a is not None for a in accepted) == 1  # Slack's retry reached the other: refused
    finally:
        for replica in replicas:
            await replica.close()
