"""Where each conversation's Claude transcripts live, and when they go.

Every interview gets its own CLI config folder under the state folder (private
to the bot's user), so one conversation's transcript is never another's and
can be deleted on its own: on "Start over", and after a retention period of
inactivity (a later reply then starts a fresh conversation and says so).
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def transcripts_root(state_dir: Path) -> Path:
    return state_dir / "transcripts"


def transcript_dir(state_dir: Path, channel: str, thread_ts: str) -> Path:
    """The CLI config folder of the interview in that thread."""
    return transcripts_root(state_dir) / _UNSAFE.sub("_", f"{channel}-{thread_ts}")


def delete_transcripts(folders: Iterable[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _last_change(folder: Path) -> float:
    latest = folder.stat().st_mtime
    for path in folder.rglob("*"):
        try:
            latest = max(latest, path.stat().st_mtime)
        except OSError:
            continue
    return latest


def expire_transcripts(state_dir: Path, max_age_seconds: float, keep: Iterable[Path] = ()) -> list[Path]:
    """Delete transcript folders untouched for `max_age_seconds` (except `keep`); return them."""
    root = transcripts_root(state_dir)
    if not root.is_dir():
        return []
    kept = {folder.resolve() for folder in keep}
    cutoff = time.time() - max_age_seconds
    expired = [
        folder for folder in root.iterdir()
        if folder.is_dir() and folder.resolve() not in kept and _last_change(folder) < cutoff
    ]
    delete_transcripts(expired)
    for folder in expired:
        log.info("deleted the Claude transcript in %s after the retention period", folder.name)
    return expired
