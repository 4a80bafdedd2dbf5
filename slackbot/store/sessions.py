"""The store's copy of Claude's transcripts, so a conversation can resume without the
CLI's files on this machine's disk.

Plain JSON in, plain JSON out: the Agent SDK's `SessionStore` adapter over these
methods lives on the Claude side (`slackbot.claude.session_store`), so the store
knows no SDK. A key is (project_key, session_id, subpath); subpath '' is the main
transcript, anything else a subagent's under it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from .transactions import Transactions

Entry = dict[str, Any]
# Folds a batch of entries into the previous summary (None at first): pure, run in the
# append's transaction so two appends to one session can't lose each other's fold.
Fold = Callable[[Entry | None, list[Entry], int], Entry]


class Transcripts(Transactions):
    """Queries of `SqliteStore` for mirrored transcripts."""

    async def append_transcript(
        self, project_key: str, session_id: str, subpath: str, entries: list[Entry], fold: Fold | None = None
    ) -> None:
        """Append entries in order (an entry whose uuid the key holds already is skipped:
        the SDK retries a batch it could not confirm); `fold` updates the summary of a
        main transcript. An empty batch writes nothing."""
        if not entries:
            return
        key = (project_key, session_id, subpath)
        async with self.transaction() as db:
            rows = await self.fetch(
                "SELECT mtime, summary FROM transcripts WHERE project_key = ? AND session_id = ? AND subpath = ?", key
            )
            previous_mtime, previous_summary = rows[0] if rows else (0, None)
            # Storage write time, strictly increasing per key so each append is seen as newer.
            mtime = max(int(time.time() * 1000), previous_mtime + 1)
            await db.executemany(
                "INSERT INTO transcript_entries (project_key, session_id, subpath, uuid, entry) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(*key, _uuid(entry), json.dumps(entry)) for entry in entries],
            )
            summary = None
            if fold is not None and not subpath:
                prior = json.loads(previous_summary) if previous_summary else None
                summary = json.dumps(fold(prior, entries, mtime))
            await db.execute(
                "INSERT INTO transcripts (project_key, session_id, subpath, mtime, summary) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (project_key, session_id, subpath) "
                "DO UPDATE SET mtime = excluded.mtime, summary = COALESCE(excluded.summary, transcripts.summary)",
                (*key, mtime, summary),
            )

    async def load_transcript(self, project_key: str, session_id: str, subpath: str) -> list[Entry] | None:
        """The entries in append order; None if the key was never written."""
        # One query, so the key and its entries come from the same commit.
        rows = await self.fetch(
            "SELECT e.entry FROM transcripts t LEFT JOIN transcript_entries e ON e.project_key = t.project_key "
            "AND e.session_id = t.session_id AND e.subpath = t.subpath "
            "WHERE t.project_key = ? AND t.session_id = ? AND t.subpath = ? ORDER BY e.id",
            (project_key, session_id, subpath),
        )
        if not rows:
            return None
        return [json.loads(raw) for (raw,) in rows if raw is not None]

    async def transcript_sessions(self, project_key: str) -> list[tuple[str, int, Entry | None]]:
        """The project's main transcripts: (session_id, mtime in epoch ms, summary)."""
        rows = await self.fetch(
            "SELECT session_id, mtime, summary FROM transcripts WHERE project_key = ? AND subpath = ''",
            (project_key,),
        )
        return [(session_id, mtime, json.loads(summary) if summary else None) for session_id, mtime, summary in rows]

    async def transcript_subpaths(self, project_key: str, session_id: str) -> list[str]:
        """The subagent transcripts under a session."""
        rows = await self.fetch(
            "SELECT subpath FROM transcripts WHERE project_key = ? AND session_id = ? AND subpath != '' "
            "ORDER BY subpath",
            (project_key, session_id),
        )
        return [subpath for (subpath,) in rows]

    async def delete_transcript(self, project_key: str, session_id: str, subpath: str) -> None:
        """Delete one subagent transcript, or (subpath '') a session with all under it."""
        where = "project_key = ? AND session_id = ?"
        params: tuple[str, ...] = (project_key, session_id)
        if subpath:
            where, params = where + " AND subpath = ?", (*params, subpath)
        async with self.transaction() as db:
            await db.execute(f"DELETE FROM transcript_entries WHERE {where}", params)
            await db.execute(f"DELETE FROM transcripts WHERE {where}", params)
        await self._empty_log()  # people's words leave the disk, not just the table


    async def delete_project_transcripts(self, project_key: str) -> None:
        """Delete every conversation of a project ("Start over"), log emptied as above."""
        async with self.transaction() as db:
            await db.execute("DELETE FROM transcript_entries WHERE project_key = ?", (project_key,))
            await db.execute("DELETE FROM transcripts WHERE project_key = ?", (project_key,))
        await self._empty_log()

    async def expire_transcripts(self, written_before_ms: int, keep: Iterable[str] = ()) -> int:
        """Delete the conversations (all their keys) last written before `written_before_ms`,
        except the session ids in `keep`; how many went. The retention period of the disk copy."""
        kept = set(keep)
        rows = await self.fetch(
            "SELECT project_key, session_id FROM transcripts GROUP BY project_key, session_id HAVING MAX(mtime) < ?",
            (written_before_ms,),
        )
        expired = [(project_key, session_id) for project_key, session_id in rows if session_id not in kept]
        if not expired:
            return 0
        async with self.transaction() as db:
            for table in ("transcript_entries", "transcripts"):
                await db.executemany(f"DELETE FROM {table} WHERE project_key = ? AND session_id = ?", expired)
        await self._empty_log()
        return len(expired)


def _uuid(entry: Entry) -> str | None:
    uuid = entry.get("uuid")
    return uuid if isinstance(uuid, str) and uuid else None
