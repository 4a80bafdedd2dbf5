"""Folders only the bot's own user may enter: the state folder and what is in it
(database, transcripts, the CLI launcher) hold people's answers."""

from __future__ import annotations

from pathlib import Path


def private_folder(folder: Path) -> Path:
    """Create `folder` and any missing parents as 0700, and tighten `folder` itself
    if it already existed (an older install left it 0755)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    return folder
