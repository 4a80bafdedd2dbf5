"""AutoForge's root copy of the spec, `<project>/app_spec.txt`.

AutoForge's first initializer run copies the spec there, only when none is there,
and its coding agents read that copy, never the prompts folder again. So after a
revision the copy is stale until someone replaces it. The bot does (Claude may
write only the two spec files), and `slackbot check` fails while they differ.

The copy is replaced, never written through: a new file in the project folder is
renamed over it, so a symlink there is never followed. A copy that links outside
the project folder is left alone and reported (someone may have planted it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..markup import escape
from .files import APP_SPEC, inside, spec_paths

log = logging.getLogger(__name__)

AGENTS_READ = "the copy AutoForge's coding agents read"


@dataclass(frozen=True)
class RootCopy:
    path: Path
    spec: Path
    stale: bool = False  # there, readable, and not the spec's text
    refused: str = ""  # why the bot won't touch it, e.g. "links outside the project folder"


def inspect(project: Path) -> RootCopy | None:
    """The root copy's state; None when there is none (or no spec to compare it with)."""
    root, spec = project / APP_SPEC, spec_paths(project)[0]
    if not os.path.lexists(root):
        return None
    try:
        wanted = spec.read_bytes()
    except OSError:
        return None  # no spec: `check` reports that already, and there is nothing to copy
    if root.is_symlink() and not inside(root, project):
        return RootCopy(root, spec, refused=f"links outside the project folder (to {os.readlink(root)})")
    try:
        if not stat.S_ISREG(root.stat().st_mode):
            return RootCopy(root, spec, refused="is not a file")
        return RootCopy(root, spec, stale=root.read_bytes() != wanted)
    except OSError as exc:
        return RootCopy(root, spec, refused=f"can't be read ({exc.strerror or exc})")


def problem(project: Path) -> str | None:
    """What `check` says about the root copy, or None when it is absent or current."""
    copy = inspect(project)
    if copy is None or not (copy.stale or copy.refused):
        return None
    if copy.refused:
        return f"{copy.path}, {AGENTS_READ}, {copy.refused}: replace it with a copy of {copy.spec}"
    return (
        f"{copy.path}, {AGENTS_READ}, differs from {copy.spec}: copy the spec over it "
        "(the bot does this when it delivers a revision)"
    )


def refresh(project: Path) -> str | None:
    """Bring the root copy up to date with the spec; one line for the thread saying what
    happened, or None when there is no copy or it is current already."""
    copy = inspect(project)
    if copy is None or not (copy.stale or copy.refused):
        return None
    if copy.refused:
        log.warning("not refreshing %s: it %s", copy.path, copy.refused)
        return (
            f":warning: `{copy.path}`, {AGENTS_READ}, {escape(copy.refused)}, so I left it alone and it still "
            f"holds an older spec: replace it with a copy of `{copy.spec}`."
        )
    try:
        _replace(copy.path, copy.spec.read_bytes())
    except OSError as exc:
        log.warning("could not refresh %s: %s", copy.path, exc)
        why = exc.strerror or exc
        return f":warning: Couldn't refresh `{copy.path}`, {AGENTS_READ} ({why}): copy the spec over it."
    log.info("refreshed %s from %s", copy.path, copy.spec)
    return f"Refreshed `{copy.path}`, {AGENTS_READ}, with this spec."


def _replace(target: Path, content: bytes) -> None:
    """Write a new file beside `target` and rename it over `target`: the rename replaces
    the directory entry itself, so nothing a link points to is ever written."""
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".app_spec.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            os.fchmod(out.fileno(), stat.S_IMODE(target.stat().st_mode) or 0o644)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
