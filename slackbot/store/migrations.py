"""The schema, as migrations: entry i migrates the database from version i to i + 1."""

from __future__ import annotations

# Each entry migrates the schema from version i to i + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE interviews (
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        name TEXT NOT NULL,
        started_by TEXT NOT NULL,
        team_id TEXT,
        session_id TEXT,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        spec_written TEXT NOT NULL DEFAULT '[]',
        spec_reported INTEGER NOT NULL DEFAULT 0,
        uploads INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (channel, thread_ts)
    );
    CREATE INDEX interviews_by_name ON interviews (name);
    CREATE TABLE pending_replies (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        user_id TEXT NOT NULL,
        text TEXT NOT NULL,
        ts TEXT NOT NULL,
        accepted_at REAL NOT NULL
    );
    CREATE INDEX pending_by_thread ON pending_replies (channel, thread_ts, id);
    CREATE TABLE seen (
        key TEXT PRIMARY KEY,
        seen_at REAL NOT NULL
    );
    """,
    "ALTER TABLE pending_replies ADD COLUMN author TEXT;",
    """
    CREATE TABLE questions (
        id TEXT PRIMARY KEY,
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        payload TEXT NOT NULL,
        answered INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    );
    """,
    """
    ALTER TABLE interviews ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;
    ALTER TABLE interviews ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE interviews ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE interviews ADD COLUMN model_turns INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE interviews ADD COLUMN session_cost_usd REAL NOT NULL DEFAULT 0;
    ALTER TABLE pending_replies ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]';
    """,
    # Files as blobs in their own table, loaded only for the turn that sends them
    # (the JSON column above is emptied by `_move_legacy_files`).
    """
    CREATE TABLE reply_files (
        reply_id INTEGER NOT NULL,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        mime TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (reply_id, position)
    );
    ALTER TABLE pending_replies ADD COLUMN file_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE pending_replies ADD COLUMN file_text_bytes INTEGER NOT NULL DEFAULT 0;
    """,
    # One open interview per project name, enforced by the database (an older
    # version could start two at once: the newer one wins, the others end), a
    # reply is stored before it is enriched (ready = 0 until then), and each item
    # of a question is answered at most once, also across restarts.
    """
    UPDATE interviews SET status = 'cancelled'
        WHERE status != 'cancelled' AND rowid NOT IN (
            SELECT max(rowid) FROM interviews WHERE status != 'cancelled' GROUP BY lower(name));
    CREATE UNIQUE INDEX one_open_interview_per_name ON interviews (lower(name)) WHERE status != 'cancelled';
    ALTER TABLE pending_replies ADD COLUMN ready INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE question_answers (
        question_id TEXT NOT NULL,
        item INTEGER NOT NULL,
        PRIMARY KEY (question_id, item)
    );
    """,
    # The team of the person who wrote a reply: Claude's answer streams to them
    # (Slack Connect and Enterprise Grid users differ from the bot's workspace).
    "ALTER TABLE pending_replies ADD COLUMN user_team TEXT;",
    # Each project's feature names as last delivered, so the next delivery can say
    # what the team's answers changed (kept per project, across threads).
    """
    CREATE TABLE deliveries (
        project TEXT PRIMARY KEY,
        features TEXT NOT NULL,
        delivered_at REAL NOT NULL
    );
    """,
    # Model spend per turn, with the person whose message started the turn and the
    # UTC day (YYYY-MM-DD), so budgets hold across restarts; and the budget notes an
    # interview was already given (the 80 % warning is said once).
    """
    CREATE TABLE spend (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        user_id TEXT NOT NULL,
        day TEXT NOT NULL,
        cost_usd REAL NOT NULL,
        spent_at REAL NOT NULL
    );
    CREATE INDEX spend_by_day ON spend (day, user_id);
    CREATE INDEX spend_by_thread ON spend (channel, thread_ts);
    CREATE TABLE budget_notes (
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        note TEXT NOT NULL,
        noted_at REAL NOT NULL,
        PRIMARY KEY (channel, thread_ts, note)
    );
    """,
    # The model an interview runs on (None: CLAUDE_MODEL; quick mode may pick a cheaper
    # one), and budgets an admin set in Slack, which override the settings without a
    # restart (value NULL: no limit).
    """
    ALTER TABLE interviews ADD COLUMN model TEXT;
    CREATE TABLE budget_limits (
        name TEXT PRIMARY KEY,
        value REAL,
        set_by TEXT NOT NULL,
        set_at REAL NOT NULL
    );
    """,
    # A turn counts text files by the characters Claude reads (an older version
    # counted their bytes: never fewer) and images by their bytes.
    """
    ALTER TABLE pending_replies RENAME COLUMN file_text_bytes TO file_text_chars;
    ALTER TABLE pending_replies ADD COLUMN file_image_bytes INTEGER NOT NULL DEFAULT 0;
    """,
    # One home for an interview's state. A reply (or an answer) stays stored until
    # Claude has it: `sent` is NULL while it waits, '' once a turn carries it, and the
    # CLI's mark for it once the CLI took it (resolved against the transcript if the
    # turn did not finish). An answer to a question with parts still open waits for
    # them (`question_id`). A question's messages (one per part) keep their ts, and each
    # part who answered it and how; `other_by` is the person who chose "Other…" on a part.
    """
    ALTER TABLE pending_replies ADD COLUMN sent TEXT;
    ALTER TABLE pending_replies ADD COLUMN question_id TEXT;
    ALTER TABLE question_answers ADD COLUMN who TEXT;
    ALTER TABLE question_answers ADD COLUMN answer TEXT;
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
    """,
    # What a held reply needs to fetch its files again (Slack's file objects: id, name,
    # mimetype, size, download URL; never a token), so a run that stops while they
    # download leaves them to the next start instead of losing them. Emptied once the
    # reply is complete.
    "ALTER TABLE pending_replies ADD COLUMN slack_files TEXT NOT NULL DEFAULT '[]';",
    # The spec's upload is under way (set before it starts, cleared once Slack has it): a
    # restart in between finds out from the thread whether it landed, and uploads it if not.
    "ALTER TABLE interviews ADD COLUMN upload_pending INTEGER NOT NULL DEFAULT 0;",
    # Who pays for the model turn under way (cleared once the CLI reports its cost): a turn
    # cut off before that is still theirs when a later process shows what it spent.
    "ALTER TABLE interviews ADD COLUMN turn_payer TEXT;",
    # `user_team` is the team answers to a reply stream to. An older version stored the
    # Enterprise Grid organisation (E…) there, which no stream can go to: such replies
    # take their interview's workspace.
    """
    UPDATE pending_replies SET user_team = (
        SELECT i.team_id FROM interviews i
        WHERE i.channel = pending_replies.channel AND i.thread_ts = pending_replies.thread_ts
    ) WHERE user_team LIKE 'E%';
    """,
    # Whose message started the latest turn: the root message says Claude waits on them.
    "ALTER TABLE interviews ADD COLUMN turn_by TEXT;",
    # People's votes on a finished spec (1: positive, 0: negative; one per person per
    # interview, a later click replaces it), and the questions already reminded of
    # (one reminder each, also across restarts).
    """
    CREATE TABLE feedback (
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        user_id TEXT NOT NULL,
        positive INTEGER NOT NULL,
        voted_at REAL NOT NULL,
        PRIMARY KEY (channel, thread_ts, user_id)
    );
    CREATE TABLE reminders (
        question_id TEXT PRIMARY KEY,
        reminded_at REAL NOT NULL
    );
    """,
    # Claude's transcripts, mirrored through the Agent SDK's SessionStore (one row per
    # transcript entry, in append order; `subpath` '' is the main transcript, others a
    # subagent's). `uuid` dedupes a batch the SDK retries; entries without one append.
    # `transcripts` is each key's storage write time (epoch ms) and, for main
    # transcripts, the SDK's folded summary (opaque JSON).
    """
    CREATE TABLE transcripts (
        project_key TEXT NOT NULL,
        session_id TEXT NOT NULL,
        subpath TEXT NOT NULL,
        mtime INTEGER NOT NULL,
        summary TEXT,
        PRIMARY KEY (project_key, session_id, subpath)
    );
    CREATE TABLE transcript_entries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
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
    # each thread's turns (its lease lasts while that replica's heartbeat is fresh).
    """
    CREATE TABLE replicas (
        id TEXT PRIMARY KEY,
        seen_at REAL NOT NULL
    );
    CREATE TABLE thread_owners (
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        replica_id TEXT NOT NULL,
        PRIMARY KEY (channel, thread_ts)
    );
    CREATE INDEX thread_owners_by_replica ON thread_owners (replica_id);
    """,
    # Slack's one new message a second per channel, kept across replicas: who holds
    # each channel for a new message, and when it is next free (store/channel_slots.py).
    """
    CREATE TABLE channel_slots (
        channel TEXT PRIMARY KEY,
        holder TEXT,
        free_at REAL NOT NULL
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
    # as that part's answer, never by what its text starts with.
    """
    ALTER TABLE pending_replies ADD COLUMN question_item INTEGER;
    """,
]
