"""Opening an interview's thread in Slack: its root message, and a note under it when
AutoForge already has the project's features. Shared by `/newspec` and the buttons that
start an interview (listeners/starting.py, which tells the person what failed), and by
a replica finishing an opening that another, since stopped, had claimed (`finish_opening`)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Protocol

from ..config import Settings
from ..markup import escape
from ..slack.relay.root import Stage, Standing, root_message
from ..slack.scheduler import SlackScheduler
from ..spec.files import find_features, project_dir
from ..store import InterviewRecord

log = logging.getLogger(__name__)

FEATURES_EXIST = (
    ":information_source: AutoForge has already created this project's features, and it creates them only "
    "once: changes to the spec here will be saved, but they won't add, remove or rename features it already "
    "has. To rebuild from a changed spec, start the project afresh in AutoForge."
)

FEATURES_UNKNOWN = (
    ":warning: I couldn't read AutoForge's features database ({why}). If AutoForge has already created "
    "this project's features, changes to the spec here won't add, remove or rename them."
)


async def features_note(project: Path) -> str | None:
    """The note for a project whose features AutoForge has created (or may have: its
    database could not be read), else None. Read in a thread: a locked database waits."""
    found = await asyncio.to_thread(find_features, project)
    if found.unreadable is not None:
        log.warning("could not read the features database of %s: %s", project, found.unreadable)
        return FEATURES_UNKNOWN.format(why=escape(found.unreadable))
    return FEATURES_EXIST if found.exist else None


async def post_thread(
    scheduler: SlackScheduler, generations_dir: Path, claim: InterviewRecord, posted: list[str]
) -> str:
    """Post the claimed interview's root message (and the features note under it); each
    message's ts is added to `posted` as it lands, for taking them down if a later step
    fails. The root's ts."""
    text, blocks = root_message(Standing(claim.name, claim.started_by, Stage.INTERVIEWING))
    posted.append((await scheduler.post(channel=claim.channel, text=text, blocks=blocks))["ts"])
    features = await features_note(project_dir(generations_dir, claim.name))
    if features is not None:
        note = await scheduler.post(channel=claim.channel, thread_ts=posted[0], text=features)
        posted.append(note["ts"])
    return posted[0]


class Opener(Protocol):
    """What finishing an opening needs of the interviews (registry.py)."""

    scheduler: SlackScheduler
    settings: Settings

    async def start(self, claim: InterviewRecord, thread_ts: str, opening: str | None = None) -> object: ...

    async def release(self, claim: InterviewRecord, thread_ts: str | None = None) -> None: ...


async def finish_opening(interviews: Opener, claim: InterviewRecord) -> None:
    """Open the thread of a name this replica took over from one that stopped between
    acking `/newspec` and opening its thread: the person's command is not lost, and the
    greeting mentions them. The name is freed if Slack refuses (nobody can be told: the
    command's response_url died with the replica)."""
    log.info("opening the thread of %s: the replica that claimed it stopped first", claim.name)
    posted: list[str] = []
    try:
        root = await post_thread(interviews.scheduler, interviews.settings.generations_dir, claim, posted)
        await interviews.start(claim, root)
    except Exception as exc:
        log.warning("could not open the thread of %s for %s; the name is free again: %s",
                    claim.name, claim.started_by, exc)
        await interviews.release(claim, posted[0] if posted else None)
