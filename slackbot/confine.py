"""Where Claude's file tools may reach: the project folder (and, for reading, the
skill's templates). Pure policy, enforced by the session for every tool call.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any

FILE_TOOLS = frozenset({"Read", "Write", "Edit", "Glob"})
READ_ONLY_TOOLS = frozenset({"Read", "Glob"})
ASK_TOOL = "AskUserQuestion"
ALLOWED_TOOLS = FILE_TOOLS | {ASK_TOOL}
MAX_WRITE_BYTES = 1024 * 1024  # a spec is tens of KB; anything near this is a runaway


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())  # symlinks and `..` resolved first
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def check_tool(tool: str, tool_input: Any, project: Path, templates: Path) -> str | None:
    """None if the call may run; else why not, in words Claude can act on."""
    if tool not in ALLOWED_TOOLS:
        return f"The {tool} tool is not available in this session."
    if tool == ASK_TOOL:
        return None
    if not isinstance(tool_input, dict):
        return f"{tool} needs its input as an object."
    where = f"inside {project}" + (f" (or, to read, {templates})" if tool in READ_ONLY_TOOLS else "")

    if tool == "Glob":
        pattern = tool_input.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            return "Glob needs a pattern."
        if PurePath(pattern).is_absolute() or ".." in PurePath(pattern).parts:
            return f"Glob patterns must be relative and stay {where}: {pattern} does not."
        raw = tool_input.get("path") or str(project)
    else:
        raw = tool_input.get("file_path")
    if not isinstance(raw, str) or not raw or "\x00" in raw:
        return f"{tool} needs a file_path {where}."
    path = Path(raw) if Path(raw).is_absolute() else project / raw
    inside = _inside(path, project) or (tool in READ_ONLY_TOOLS and _inside(path, templates))
    if not inside:
        return f"Only files {where} may be used; {raw} is outside it."

    if tool in ("Write", "Edit"):
        field = "content" if tool == "Write" else "new_string"
        text = tool_input.get(field, "")
        if not isinstance(text, str):
            return f"{tool} needs {field} as text."
        if len(text.encode("utf-8", errors="replace")) > MAX_WRITE_BYTES:
            return f"{tool} refused: {field} is over {MAX_WRITE_BYTES // 1024} KB; keep files to what the spec needs."
    return None
