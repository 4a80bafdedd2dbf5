"""Handing the spec over, once it is written: check it, let Claude fix what is wrong
(a few rounds), upload both files once, and post the summary card."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .allowlist import needed_commands
from .handoff import Handoff, build_command, by_category, compare
from .quick_mode import models
from .relay import Recipient, Usage
from .root_copy import refresh
from .spec import spec_paths, summarize_spec
from .store import Status
from .validate import Problem, check_spec, validate_spec

if TYPE_CHECKING:
    from .conversation import Conversation

log = logging.getLogger(__name__)

MAX_REPAIR_ROUNDS = 2  # then the spec is delivered with its remaining problems listed


def repair_request(problems: list[Problem]) -> str:
    listed = "\n".join(f"- {problem}" for problem in problems)
    return (
        "The bot checked the spec files before handing them over and found these problems:\n"
        f"{listed}\n\nFix them in the files (Read them, then Edit or Write), keep everything "
        "else as it is, and reply in one short line saying what you fixed."
    )


async def deliver(conversation: Conversation, recipient: Recipient) -> None:
    """Check the spec; let Claude fix what is wrong (a few rounds); then upload it once."""
    relay, project_dir = conversation.relay, conversation.project_dir
    problems = validate_spec(project_dir)
    for _ in range(MAX_REPAIR_ROUNDS):
        if not problems:
            break
        count = len(problems)
        await relay.note(f":mag: Checking the spec… fixing {count} problem{'s' if count != 1 else ''}.")
        await conversation.run_request(repair_request(problems), recipient)
        problems = validate_spec(project_dir)
    written, _ = conversation.session.tracker.snapshot()
    # Pending from here until Slack has it: a restart in between looks in the thread
    # (`resume_upload`), so the spec is uploaded once, never twice and never not at all.
    await conversation.save(spec_written=written, spec_reported=True, upload_pending=True, status=Status.COMPLETE)
    await _upload(conversation, problems)


async def resume_upload(conversation: Conversation) -> None:
    """The last run stopped while uploading the spec: upload it, unless the thread shows
    that Slack took it (then only the card after it is missing)."""
    record, project_dir = conversation.record, conversation.project_dir
    names = {path.name for path in conversation.session.tracker.targets}
    landed = await conversation.relay.spec_uploads(names)
    problems = validate_spec(project_dir)
    if landed is not None and landed > record.uploads:
        log.info("the spec of %s reached Slack before the restart; not uploading it again", record.name)
        await conversation.save(upload_pending=False, uploads=landed)
        await _post_summary(conversation, problems)
        return
    log.info("uploading the spec of %s: the last run stopped before Slack had it", record.name)
    await _upload(conversation, problems)


async def _upload(conversation: Conversation, problems: list[Problem]) -> None:
    uploaded = await conversation.relay.upload_spec(
        conversation.project_dir, conversation.session.tracker.targets, problems
    )
    await conversation.save(upload_pending=False, uploads=conversation.record.uploads + int(uploaded))
    await _post_summary(conversation, problems)


async def _post_summary(conversation: Conversation, problems: list[Problem]) -> None:
    record, store, project_dir = conversation.record, conversation.store, conversation.project_dir
    root_copy = refresh(project_dir)  # the bot's write, not Claude's: AutoForge's agents read that copy
    try:
        summary = summarize_spec(spec_paths(project_dir)[0])
    except OSError:
        log.warning("no spec to summarise for %s", record.name)
        return
    budgets = await conversation.budgets.current(store)
    usage = Usage(
        record.model_turns, record.input_tokens, record.output_tokens, record.cost_usd,
        budget_usd=budgets.per_interview, models=models(conversation),
    )
    report = check_spec(project_dir)
    names = [str(feature["name"]) for feature in report.features]
    before = await store.last_delivery(record.name)
    changes = compare(before, names) if before is not None else None
    await store.record_delivery(record.name, names)
    allow = tuple(needed_commands(summary.technology or summary.stack))
    handoff = Handoff(build_command(project_dir), by_category(report.features), changes, root_copy, allow)
    await conversation.relay.post_summary(summary, usage, project_dir, problems, handoff)
