"""The completion message: the spec's files, what it holds and what to do next, in one
message that mentions whoever started the interview (they are notified)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...markup import escape
from ...spec.files import SpecSummary, prompts_dir
from ...spec.handoff import FeatureChanges, Handoff, allowlist_text, build_text
from ...spec.validate import Problem
from ..blocks import SECTION_TEXT, fields_section, shorten
from ..feedback import feedback_block
from .errors import SLACK_ERRORS, slack_error

if TYPE_CHECKING:
    from .base import ThreadBase, Usage

log = logging.getLogger(__name__)

REQUEST_CHANGES_ACTION = "newspec_request_changes"
HOW_TO_BUILD_ACTION = "newspec_how_to_build"
# What a click on Request changes tells Claude, as the clicker's message.
CHANGES_REQUEST = "I'd like to change the spec. Ask me what to change."


def headline(name: str, features: int | None, problems: int) -> str:
    """E.g. "shop — 8 features, ready to build": the first thing people read."""
    count = "features not stated" if features is None else f"{features} feature{'s' if features != 1 else ''}"
    if problems:
        return f"{name} — {count}, delivered with {problems} problem{'s' if problems != 1 else ''}"
    return f"{name} — {count}, ready to build"


def completion(
    summary: SpecSummary, usage: Usage, project_dir: Path, problems: list[Problem],
    handoff: Handoff, starter: str, unsent: list[Path] | None = None,
) -> list[dict[str, Any]]:
    """The completion message's blocks for a checked spec (its remaining `problems`
    listed). The first leads with the headline: with no `text` to the message, that is
    what a phone's notification shows (see `upload_completion`)."""
    title = headline(project_dir.name, summary.feature_count, len(problems))
    lead = f"*{escape(project_dir.name)}*{escape(title.removeprefix(project_dir.name))}. <@{starter}>, "
    if problems:
        listed = "\n".join(f"• {escape(problem)}" for problem in problems)
        lead += (
            f"I checked the spec and these are still wrong, which a coding agent may trip over:\n{listed}\n"
            "*Request changes* and Claude can fix them."
        )
    else:
        lead += "I checked the spec and it's all there."
    if unsent:
        lead += f"\n{unsent_text(unsent)}, so I didn't upload {'it' if len(unsent) == 1 else 'them'}."
    features = "not stated" if summary.feature_count is None else str(summary.feature_count)
    if handoff.categories:
        features += "\n" + escape(" · ".join(f"{name} {count}" for name, count in handoff.categories))
    checked = ":white_check_mark: passed" if not problems else f":warning: {len(problems)} problem" + (
        "s" if len(problems) != 1 else "")
    fields = [("Stack", escape(summary.stack)), ("Features", features), ("Validation", checked)]
    blocks: list[dict[str, Any]] = [_section(lead), fields_section(fields)]
    if handoff.changes is not None and handoff.changes.any:
        blocks.append(_section(changes_text(handoff.changes)))
    if handoff.root_copy:
        blocks.append(_section(escape(handoff.root_copy)))
    blocks.append({"type": "actions", "block_id": "completion", "elements": [
        _button("Request changes", REQUEST_CHANGES_ACTION), _button("How to build", HOW_TO_BUILD_ACTION),
    ]})
    # Relative to the generations folder: where people look, without the server's layout.
    where = f"Saved in `{escape(prompts_dir(project_dir).relative_to(project_dir.parent))}/`"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"{where} · {small_print(usage)}"}]})
    blocks.append(feedback_block())
    return blocks


def small_print(usage: Usage) -> str:
    """Model usage, for whoever wants it: turns, tokens, cost, model."""
    parts = [
        f"{usage.model_turns:,} model turn{'s' if usage.model_turns != 1 else ''}",
        f"{usage.input_tokens:,} tokens in · {usage.output_tokens:,} out",
        usage.cost,
    ]
    if usage.models:
        parts.append(escape(", then ".join(usage.models)))
    return " · ".join(parts)


def how_to_build(handoff: Handoff, project_dir: Path) -> str:
    """The hand-off steps (mrkdwn), shown to whoever clicks How to build."""
    allow = allowlist_text(handoff, project_dir)
    return build_text(handoff, project_dir) + (f"\n\n{allow}" if allow else "")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": shorten(text, SECTION_TEXT)}}


def _button(label: str, action_id: str) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": label}}


async def upload_completion(
    relay: ThreadBase, files: tuple[Path, ...], blocks: list[dict[str, Any]]
) -> str | None:
    """Upload the files as ONE message showing `blocks`: None, or why Slack refused.

    files.completeUploadExternal takes `blocks` (Slack's method page) but no `text`, and
    ignores the blocks when an `initial_comment` is given: so none is, and the first
    block leads with the headline, the notification's text (assumed: Slack builds it
    from the blocks when a message has no text). slack_sdk's files_upload_v2 passes
    keyword arguments it does not know on to that call; form-encoded, hence JSON."""
    try:
        await relay.share_files(
            [{"file": str(f), "filename": f.name, "title": f.name} for f in files], blocks=json.dumps(blocks)
        )
    except SLACK_ERRORS as exc:
        log.error("upload failed in %s/%s: %s", relay.channel, relay.thread_ts, slack_error(exc))
        return slack_error(exc)
    return None


def changes_text(changes: FeatureChanges) -> str:
    """What the latest answers changed, for people (names escaped, lists kept short)."""

    def names(items: list[str]) -> str:
        shown = ", ".join(items[:5])
        return shown + (f" and {len(items) - 5} more" if len(items) > 5 else "")

    def name(text: str) -> str:
        return escape(shorten(text, 60))

    parts = [f"*Since the last upload:* {changes.before} → {changes.after} features"]
    if changes.added:
        parts.append(f"added {names([name(n) for n in changes.added])}")
    if changes.removed:
        parts.append(f"removed {names([name(n) for n in changes.removed])}")
    if changes.renamed:
        parts.append("renamed " + names([f"{name(old)} → {name(new)}" for old, new in changes.renamed]))
    return shorten("; ".join(parts), 2_900)


def has_bytes(path: Path) -> bool:
    """Whether the file can be uploaded: there, and not empty (Slack refuses length 0)."""
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def unsent_text(files: list[Path]) -> str:
    """E.g. "`a.md` and `b.txt` are empty": the files left out of an upload, and why."""
    why: dict[str, list[str]] = {}
    for f in files:
        why.setdefault("empty" if f.exists() else "missing", []).append(f"`{escape(f.name)}`")
    return "; ".join(f"{' and '.join(n)} {'is' if len(n) == 1 else 'are'} {what}" for what, n in why.items())
