"""The PostgreSQL schema, as migrations: entry i migrates the database from version i to i + 1.

Entry 0 is the SQLite schema as it stands after all of `migrations.MIGRATIONS` (this
engine started there, so it has no history to replay). A later change to the schema adds
an entry here and one there; tests/test_store_engines.py checks that both engines end
with the same tables and columns.

Types: SQLite's REAL is double precision, its INTEGER a plain integer for flags and small
counts and a bigint for ids, tokens and epoch milliseconds, its BLOB bytea. `rowid`, which
SQLite gives every table, is a column of its own where the store orders by it.
"""

from __future__ import annotations

PG_MIGRATIONS: list[str] = [
    """
    CREATE TABLE interviews (
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        name TEXT NOT NULL,
        started_by TEXT NOT NULL,
        team_id TEXT,
        session_id TEXT,
        status TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        spec_written TEXT NOT NULL DEFAULT '[]',
        spec_reported INTEGER NOT NULL DEFAULT 0,
        uploads INTEGER NOT NULL DEFAULT 0,
        cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
        input_tokens BIGINT NOT NULL DEFAULT 0,
        output_tokens BIGINT NOT NULL DEFAULT 0,
        model_turns INTEGER NOT NULL DEFAULT 0,
        session_cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
        model TEXT,
        upload_pending INTEGER NOT NULL DEFAULT 0,
        turn_payer TEXT,
        turn_by TEXT,
        rowid BIGSERIAL NOT NULL,
        PRIMARY KEY (channel, thread_ts)
    );
    CREATE INDEX interviews_by_name ON interviews (name);
    CREATE UNIQUE INDEX one_open_interview_per_name ON interviews (lower(name)) WHERE status != 'cancelled';
    CREATE TABLE pending_replies (
        id BIGSERIAL PRIMARY KEY,
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        user_id TEXT NOT NULL,
        text TEXT NOT NULL,
        ts TEXT NOT NULL,
        accepted_at DOUBLE PRECISION NOT NULL,
        author TEXT,
        attachments TEXT NOT NULL DEFAULT '[]',
        file_count INTEGER NOT NULL DEFAULT 0,
        file_text_chars BIGINT NOT NULL DEFAULT 0,
        ready INTEGER NOT NULL DEFAULT 1,
        user_team TEXT,
        file_image_bytes BIGINT NOT NULL DEFAULT 0,
        sent TEXT,
        question_id TEXT,
        slack_files TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX pending_by_thread ON pending_replies (channel, thread_ts, id);
    CREATE TABLE seen (
        key TEXT PRIMARY KEY,
        seen_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE questions (
        id TEXT PRIMARY KEY,
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        payload TEXT NOT NULL,
        answered INTEGER NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL,
        rowid BIGSERIAL NOT NULL
    );
    CREATE TABLE reply_files (
        reply_id BIGINT NOT NULL,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        mime TEXT NOT NULL,
        data BYTEA NOT NULL,
        PRIMARY KEY (reply_id, position)
    );
    CREATE TABLE question_answers (
        question_id TEXT NOT NULL,
        item INTEGER NOT NULL,
        who TEXT,
        answer TEXT,
        PRIMARY KEY (question_id, item)
    );
    CREATE TABLE deliveries (
        project TEXT PRIMARY KEY,
        features TEXT NOT NULL,
        delivered_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE spend (
        id BIGSERIAL PRIMARY KEY,
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        user_id TEXT NOT NULL,
        day TEXT NOT NULL,
        cost_usd DOUBLE PRECISION NOT NULL,
        spent_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX spend_by_day ON spend (day, user_id);
    CREATE INDEX spend_by_thread ON spend (channel, thread_ts);
    CREATE TABLE budget_notes (
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        note TEXT NOT NULL,
        noted_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (channel, thread_ts, note)
    );
    CREATE TABLE budget_limits (
        name TEXT PRIMARY KEY,
        value DOUBLE PRECISION,
        set_by TEXT NOT NULL,
        set_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE question_posts (
        question_id TEXT NOT NULL,
        item INTEGER NOT NULL,
        ts TEXT NOT NULL,
        PRIMARY KEY (question_id, item)
    );
    CREATE TABLE question_others (
        question_id TEXT NOT NULL,
        item INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        PRIMARY KEY (question_id, user_id)
    );
    CREATE TABLE feedback (
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        user_id TEXT NOT NULL,
        positive INTEGER NOT NULL,
        voted_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (channel, thread_ts, user_id)
    );
    CREATE TABLE reminders (
        question_id TEXT PRIMARY KEY,
        reminded_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE transcripts (
        project_key TEXT NOT NULL,
        session_id TEXT NOT NULL,
        subpath TEXT NOT NULL,
        mtime BIGINT NOT NULL,
        summary TEXT,
        PRIMARY KEY (project_key, session_id, subpath)
    );
    CREATE TABLE transcript_entries (
        id BIGSERIAL PRIMARY KEY,
        project_key TEXT NOT NULL,
        session_id TEXT NOT NULL,
        subpath TEXT NOT NULL,
        uuid TEXT,
        entry TEXT NOT NULL
    );
    CREATE INDEX transcript_entries_by_key ON transcript_entries (project_key, session_id, subpath, id);
    CREATE UNIQUE INDEX transcript_entries_by_uuid
        ON transcript_entries (project_key, session_id, subpath, uuid) WHERE uuid IS NOT NULL;
    """,
    # Replicas sharing the database: each one's last heartbeat, and which replica runs
    # each thread's turns (migrations.py has the same).
    """
    CREATE TABLE replicas (
        id TEXT PRIMARY KEY,
        seen_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE thread_owners (
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        replica_id TEXT NOT NULL,
        PRIMARY KEY (channel, thread_ts)
    );
    CREATE INDEX thread_owners_by_replica ON thread_owners (replica_id);
    """,
    # Channel slots across replicas (migrations.py has the same).
    """
    CREATE TABLE channel_slots (
        channel TEXT PRIMARY KEY,
        holder TEXT,
        free_at DOUBLE PRECISION NOT NULL
    );
    """,
    # The replica holding a reply while its author and files are fetched (NULL: one that
    # isn't held, or held before this was recorded): only a replica no longer live leaves
    # its held replies to the others.
    """
    ALTER TABLE pending_replies ADD COLUMN held_by TEXT;
    """,
    # Which part of its question a stored answer is for (NULL: a reply that answers no one
    # part, or an answer stored before this was recorded): the owner hands it to Claude
    # as that part's answer, never by what its text starts with (migrations.py has the same).
    """
    ALTER TABLE pending_replies ADD COLUMN question_item INTEGER;
    """,
]
