"""What a conversation's transcript holds: the one witness of what Claude has.

The transcript is the store's copy where there is one (the SDK mirrors every entry
there as the CLI writes it, and a resume loads it from there), else the CLI's file on
disk. The CLI writes lazily (within about half a second, and on a clean exit); a
process killed in that window never wrote what it last took. So a message whose turn
did not finish counts as delivered only if the transcript shows it. A message is known
by the uuid the bot gave it when it sent it (the CLI records a message under the uuid
it comes with); an answer to a question by its tool call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

Entry = dict[str, Any]

log = logging.getLogger(__name__)

ANSWER_MARK = "answer:"
COST_STATE = "cost-state"  # the entry the CLI saves its running total in (on disk only)


def answer_mark(question_id: str) -> str:
    """How the answers to a question are known: Claude has them once the transcript holds
    the question's tool result, given (not refused)."""
    return ANSWER_MARK + question_id


def marks_in(entries: Iterable[Entry]) -> set[str]:
    """The marks of everything the conversation's transcript holds: message uuids, and
    `answer_mark`s of the questions answered in it."""
    marks: set[str] = set()
    for entry in entries:
        uuid = entry.get("uuid")
        if isinstance(uuid, str):
            marks.add(uuid)
        message = entry.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else ():
            if isinstance(block, dict) and block.get("type") == "tool_result" and not block.get("is_error"):
                marks.add(answer_mark(str(block.get("tool_use_id"))))
    return marks


def saved_total(entries: Iterable[Entry]) -> float:
    """The running total (USD) a resumed CLI process starts from: the last one the CLI
    saved in the transcript (it does so when a process ends, not when it is killed); 0 for
    a new conversation or one never saved. Measured with the bundled CLI: tests pin it."""
    total = 0.0
    for entry in entries:
        if entry.get("type") == COST_STATE and isinstance(entry.get("totalCostUSD"), int | float):
            total = float(entry["totalCostUSD"])
    return total


def on_disk(config_dir: Path | None, session_id: str | None) -> list[Entry]:
    """The entries of the CLI's own transcript file in `config_dir`."""
    return list(_entries(config_dir, session_id)) if config_dir is not None and session_id else []


def _entries(config_dir: Path, session_id: str) -> Iterator[Entry]:
    # The CLI keeps one folder per working directory under projects/; the session's
    # file is named by its id, so looking in each avoids copying its folder naming.
    for path in (config_dir / "projects").glob(f"*/{session_id}.jsonl"):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            log.warning("could not read the transcript %s: %s", path, exc)
            continue
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:  # a line cut short by a kill
                continue
            if isinstance(entry, dict):
                yield entry
