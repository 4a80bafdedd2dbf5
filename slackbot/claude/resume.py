"""A resume that loads the conversation from the state store.

The SDK's own resume from a `session_store` writes the transcript into a temporary
folder and removes it when the process ends. But the CLI keeps one entry on disk only,
never mirrored: its running total (`cost-state`, saved when a process ends), which the
next process starts from (see interview/thread_spend.py). So the bot writes the store's
copy into the conversation's own private CLI folder before a process resumes it, the
SDK only mirrors (`MirrorOnly`), and the total a process saved goes into the store
after it ends. A conversation then resumes on any machine, with the total too, and a
killed bot leaves no copy of people's words outside the state folder.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from claude_agent_sdk import project_key_for_directory
from claude_agent_sdk.types import SessionKey, SessionStoreEntry

from .session_store import Entry, StoreSessionStore, TranscriptStore, reconciled
from .transcript import COST_STATE, on_disk

log = logging.getLogger(__name__)


class MirrorOnly(StoreSessionStore):
    """The store as the SDK's `session_store`: every entry the CLI writes is appended
    to it; loading for a resume is ours (`restore`), so the SDK finds nothing to load.
    `gate` says whether an entry may still be appended: not from a process whose
    conversation another replica took over (fencing)."""

    def __init__(self, store: TranscriptStore, gate: Callable[[], Awaitable[bool]]) -> None:
        super().__init__(store)
        self.gate = gate

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        if await self.gate():
            await super().append(key, entries)

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        return None


async def restore(sessions: StoreSessionStore, project_dir: Path, config_dir: Path, session_id: str) -> list[Entry]:
    """Before a process resumes `session_id`: the store's transcript, written where the CLI
    reads it in `config_dir` (a transcript only the disk has goes into the store first,
    whole: the SDK mirrors only what a process adds). Returns the transcript's entries."""
    stored = await reconciled(sessions, project_dir, on_disk(config_dir, session_id), session_id)
    if not stored:
        return stored
    folder = config_dir / "projects" / project_key_for_directory(project_dir)
    folder.mkdir(parents=True, exist_ok=True)
    # "type" first, as the CLI writes it (its session listing reads lines by prefix).
    lines = [json.dumps({"type": entry.get("type"), **entry}) + "\n" for entry in stored]
    (folder / f"{session_id}.jsonl").write_text("".join(lines), encoding="utf-8")
    return stored


async def keep_total(sessions: StoreSessionStore, project_dir: Path, config_dir: Path, session_id: str) -> None:
    """After a process ended: the running total it saved on disk, into the store too."""
    saved = [entry for entry in on_disk(config_dir, session_id) if entry.get("type") == COST_STATE]
    if not saved:
        return
    stored = await sessions.entries(project_dir, session_id) or []
    last = next((entry for entry in reversed(stored) if entry.get("type") == COST_STATE), None)
    if saved[-1] != last:
        key: SessionKey = {"project_key": project_key_for_directory(project_dir), "session_id": session_id}
        await sessions.append(key, [saved[-1]])  # type: ignore[list-item]
