"""Handing the spec over, once it is written: check it, let Claude fix what is wrong
(a few rounds) inside one answer shown as task cards, then upload both files once in
the completion message."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from ..events import SessionEvent, ToolActivity, ToolFailed, TurnDone
from ..markup import escape
from ..slack.relay import Recipient, Usage
from ..slack.relay.completion import completion, has_bytes, unsent_text, upload_completion
from ..spec.allowlist import needed_commands
from ..spec.files import prompts_dir, spec_paths, summarize_spec
from ..spec.handoff import FeatureChanges, Handoff, build_command, by_category, compare
from ..spec.root_copy import refresh
from ..spec.validate import Problem, check_spec, validate_spec
from ..store import Status
from .quick_mode import Modelled, models

log = logging.getLogger(__name__)


class Delivering(Modelled, Protocol):
    """What delivery uses of the conversation: its turn, and a request of its own."""

    turn: str | None

    def request(self, text: str) -> AsyncIterator[SessionEvent]: ...


MAX_REPAIR_ROUNDS = 2  # then the spec is delivered with its remaining problems listed
CHECKING = "Checking the spec"


def repair_request(problems: list[Problem]) -> str:
    listed = "\n".join(f"- {problem}" for problem in problems)
    return (
        "The bot checked the spec files before handing them over and found these problems:\n"
        f"{listed}\n\nFix them in the files (Read them, then Edit or Write), keep everything "
        "else as it is, and reply in one short line saying what you fixed."
    )


def _problems(count: int) -> str:
    return f"{count} problem{'s' if count != 1 else ''}"


async def deliver(conversation: Delivering, recipient: Recipient) -> None:
    """Check the spec; let Claude fix what is wrong (a few rounds); then upload it once."""
    problems = validate_spec(conversation.project_dir)
    if problems:
        problems = await _repair(conversation, recipient, problems)
    written, _ = conversation.session.tracker.snapshot()
    # Pending from here until Slack has it: a restart in between looks in the thread
    # (`resume_upload`), so the spec is uploaded once, never twice and never not at all.
    await conversation.save(spec_written=written, spec_reported=True, upload_pending=True, status=Status.COMPLETE)
    await _upload(conversation, problems)


async def _repair(conversation: Delivering, recipient: Recipient, problems: list[Problem]) -> list[Problem]:
    """The check and Claude's repair rounds as ONE answer in the thread: a task card for
    each check and each repair, with the repair's own text and cards in between (never a
    note per step). The problems left at the end."""
    left = problems

    async def events() -> AsyncIterator[SessionEvent]:
        nonlocal left
        for round in range(1, MAX_REPAIR_ROUNDS + 1):
            check = f"check{round}"
            yield ToolActivity("bot", CHECKING, check)
            yield ToolFailed(check, "; ".join(str(p) for p in left))
            yield ToolActivity("bot", f"Fixing {_problems(len(left))}", f"fix{round}")
            async for event in conversation.request(repair_request(left)):
                if not isinstance(event, TurnDone):  # the answer goes on: the check follows
                    yield event
            left = validate_spec(conversation.project_dir)
            yield ToolActivity("bot", CHECKING, f"recheck{round}")
            if not left:
                return  # its card ends ticked with the answer
        yield ToolFailed(f"recheck{MAX_REPAIR_ROUNDS}", f"{_problems(len(left))} left")

    conversation.turn = uuid.uuid4().hex  # what this answer's Stop buttons carry
    try:
        await conversation.relay.render(events(), recipient, conversation.session.interrupt, conversation.turn)
    finally:
        conversation.turn = None
    return left


async def resume_upload(conversation: Delivering) -> None:
    """The last run stopped while uploading the spec: upload it, unless the thread shows
    that Slack took it (it carried the completion message: then nothing is missing)."""
    record, project_dir = conversation.record, conversation.project_dir
    names = {path.name for path in conversation.session.tracker.targets}
    landed = await conversation.relay.spec_uploads(names)
    if landed is not None and landed > record.uploads:
        log.info("the spec of %s reached Slack before the restart; not uploading it again", record.name)
        await conversation.save(upload_pending=False, uploads=landed)
        await _delivered(conversation)
        return
    log.info("uploading the spec of %s: the last run stopped before Slack had it", record.name)
    await _upload(conversation, validate_spec(project_dir))


async def _upload(conversation: Delivering, problems: list[Problem]) -> None:
    relay, project_dir = conversation.relay, conversation.project_dir
    targets = conversation.session.tracker.targets
    unsent = [f for f in targets if not has_bytes(f)]
    files = tuple(f for f in targets if f not in unsent)
    uploaded = False
    if not files:  # Slack refuses an empty file, and with it the whole upload
        await relay.note(
            f":warning: {unsent_text(unsent)}, so there is nothing to upload. "
            "Reply here and Claude can write the spec again."
        )
    else:
        blocks = await _completion(conversation, problems, unsent)
        refused = None if blocks is None else await upload_completion(relay, files, blocks)
        uploaded = blocks is not None and refused is None
        if not uploaded:
            why = "I couldn't read it back to upload it" if blocks is None else f"Slack refused the upload ({refused})"
            await relay.note(
                f":warning: The spec is written, but {why}. The files are in `{escape(prompts_dir(project_dir))}`."
            )
    await conversation.save(upload_pending=False, uploads=conversation.record.uploads + int(uploaded))
    if uploaded:
        await _delivered(conversation)


async def _completion(
    conversation: Delivering, problems: list[Problem], unsent: list[Path]
) -> list[dict[str, Any]] | None:
    """The completion message for the spec as it is on disk (None if it can't be read)."""
    record, project_dir = conversation.record, conversation.project_dir
    try:
        summary = summarize_spec(spec_paths(project_dir)[0])
    except OSError:
        log.warning("no spec to summarise for %s", record.name)
        return None
    budgets = await conversation.budgets.current(conversation.store)
    usage = Usage(
        record.model_turns, record.input_tokens, record.output_tokens, record.cost_usd,
        budget_usd=budgets.per_interview, models=models(conversation),
    )
    before = await conversation.store.last_delivery(record.name)
    changes = compare(before, feature_names(project_dir)) if before is not None else None
    handoff = handoff_for(project_dir, changes, refresh(project_dir))
    return completion(summary, usage, project_dir, problems, handoff, record.started_by, unsent)


async def _delivered(conversation: Delivering) -> None:
    """Slack has the spec: its features are what the next delivery is compared with."""
    await conversation.store.record_delivery(conversation.record.name, feature_names(conversation.project_dir))


def feature_names(project_dir: Path) -> list[str]:
    return [str(feature["name"]) for feature in check_spec(project_dir).features]


def handoff_for(project_dir: Path, changes: FeatureChanges | None = None, root_copy: str | None = None) -> Handoff:
    """How to build the spec in `project_dir`, as it is on disk (OSError if it can't be read)."""
    summary = summarize_spec(spec_paths(project_dir)[0])
    allow = tuple(needed_commands(summary.technology or summary.stack))
    features = by_category(check_spec(project_dir).features)
    return Handoff(build_command(project_dir), features, changes, root_copy, allow)
