"""The Agent SDK's `SessionStore` over our state store: the SDK mirrors each
conversation's transcript into it, and a resume loads it from there.

The store keeps plain JSON (slackbot.store.sessions); this adapter only translates the
SDK's keys and folds its session summaries. All optional methods are implemented:
`list_subkeys` lets a resume bring subagent transcripts along, `delete` lets retention
remove a conversation, the listings serve the SDK's session helpers. The store's copy
lives as long as the disk copy would: "Start over" and the retention period delete it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, cast

from claude_agent_sdk import fold_session_summary, project_key_for_directory
from claude_agent_sdk.types import (
    SessionKey,
    SessionListSubkeysKey,
    SessionStore,
    SessionStoreEntry,
    SessionStoreListEntry,
    SessionSummaryEntry,
)

from ..store.sessions import Entry, Fold
from .transcript import on_disk

log = logging.getLogger(__name__)


class TranscriptStore(Protocol):
    """What the adapter needs of the state store (`SqliteStore` has it)."""

    async def append_transcript(
        self, project_key: str, session_id: str, subpath: str, entries: list[Entry], fold: Fold | None = None
    ) -> None: ...

    async def load_transcript(self, project_key: str, session_id: str, subpath: str) -> list[Entry] | None: ...

    async def transcript_sessions(self, project_key: str) -> list[tuple[str, int, Entry | None]]: ...

    async def transcript_subpaths(self, project_key: str, session_id: str) -> list[str]: ...

    async def delete_transcript(self, project_key: str, session_id: str, subpath: str) -> None: ...

    async def delete_project_transcripts(self, project_key: str) -> None: ...

    async def expire_transcripts(self, written_before_ms: int, keep: Iterable[str] = ()) -> int: ...


class StoreSessionStore(SessionStore):
    """Claude's transcripts in the state store, as the SDK's `session_store` option."""

    def __init__(self, store: TranscriptStore) -> None:
        self.store = store

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        def fold(prior: Entry | None, batch: list[Entry], mtime: int) -> Entry:
            folded = fold_session_summary(
                cast(SessionSummaryEntry | None, prior), key, cast(list[SessionStoreEntry], batch)
            )
            folded["mtime"] = mtime  # storage write time: the clock `list_sessions` shows
            return cast(Entry, folded)

        await self.store.append_transcript(
            key["project_key"], key["session_id"], _subpath(key), cast(list[Entry], entries), fold
        )

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        entries = await self.store.load_transcript(key["project_key"], key["session_id"], _subpath(key))
        return None if entries is None else cast(list[SessionStoreEntry], entries)

    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        return [
            {"session_id": session_id, "mtime": mtime}
            for session_id, mtime, _ in await self.store.transcript_sessions(project_key)
        ]

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        return [
            cast(SessionSummaryEntry, summary)
            for _, _, summary in await self.store.transcript_sessions(project_key)
            if summary is not None
        ]

    async def delete(self, key: SessionKey) -> None:
        await self.store.delete_transcript(key["project_key"], key["session_id"], _subpath(key))

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        return await self.store.transcript_subpaths(key["project_key"], key["session_id"])

    # -- beyond the SDK's interface: what the bot itself asks of the stored transcripts --

    async def entries(self, project_dir: Path, session_id: str) -> list[Entry] | None:
        """The main transcript of that conversation; None if the store never had it."""
        return await self.store.load_transcript(project_key_for_directory(project_dir), session_id, "")

    async def seed(self, project_dir: Path, session_id: str, entries: list[Entry]) -> None:
        """Copy a transcript only the disk has (a conversation from before the store) into
        the store, whole: the SDK mirrors only what a process adds, and a later resume
        from the store must not find the beginning missing."""
        key: SessionKey = {"project_key": project_key_for_directory(project_dir), "session_id": session_id}
        await self.append(key, cast(list[SessionStoreEntry], entries))

    async def forget_project(self, project_dir: Path) -> None:
        """Every conversation of the project leaves the store ("Start over")."""
        await self.store.delete_project_transcripts(project_key_for_directory(project_dir))

    async def expire(self, max_age_seconds: float, keep: Iterable[str] = ()) -> int:
        """Conversations not written for `max_age_seconds` (except the session ids `keep`)
        leave the store, as their folders on disk do (retention.expire_transcripts)."""
        return await self.store.expire_transcripts(int((time.time() - max_age_seconds) * 1000), keep)


async def transcript_of(
    sessions: StoreSessionStore | None, project_dir: Path, config_dir: Path | None, session_id: str | None
) -> list[Entry]:
    """A conversation's transcript: the store's copy with whatever the CLI's file on disk
    has beyond it (see `reconciled`), else the file alone."""
    if not session_id:
        return []
    if sessions is None:
        return on_disk(config_dir, session_id)
    return await reconciled(sessions, project_dir, on_disk(config_dir, session_id), session_id)


async def reconciled(sessions: StoreSessionStore, project_dir: Path, disk: list[Entry], session_id: str) -> list[Entry]:
    """The store's transcript, caught up with the disk's entries it lacks (by uuid), which
    go into the store first. The store can lag: the SDK's mirror gives a batch up when the
    database is unreachable (it logs and drops it), while the CLI's own file has it. Read
    alone, the store would say Claude never got a message it has, and the bot would send it
    again. A transcript only the disk has goes into the store whole."""
    stored = await sessions.entries(project_dir, session_id)
    if stored is None:
        if disk:
            await sessions.seed(project_dir, session_id, disk)
        return disk
    known = {entry.get("uuid") for entry in stored}
    missing = [entry for entry in disk if entry.get("uuid") and entry.get("uuid") not in known]
    if missing:
        log.warning("the stored transcript of %s lacked %d entries the CLI wrote; added", session_id, len(missing))
        await sessions.seed(project_dir, session_id, missing)
    return stored + missing


def _subpath(key: SessionKey) -> str:
    """'' for the main transcript (the SDK treats an empty subpath as none, too)."""
    return key.get("subpath") or ""
