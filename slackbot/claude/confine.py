"""Where Claude's file tools may reach. Pure policy, enforced by the session for
every tool call (in `can_use_tool` and again in a PreToolUse hook).

- Read and Glob: inside the project folder, or the skill's templates.
- Write and Edit: only the two spec files, in the prompts folder the spec
  resolves to. Nothing else in the project (no `.claude/`, `CLAUDE.md`,
  `.mcp.json`, `.git/hooks`, `package.json`): AutoForge's coding agent later
  runs in that folder with a shell and would load them.
- Sizes: one file at most `MAX_WRITE_BYTES`, both together `MAX_SPEC_BYTES`,
  counted on the file an Edit would produce, not on its arguments.
- No `~` and no braces: the CLI expands them itself, after our check.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any

from ..events import ASK_TOOL
from ..spec.files import inside, spec_paths

FILE_TOOLS = frozenset({"Read", "Write", "Edit", "Glob"})
READ_ONLY_TOOLS = frozenset({"Read", "Glob"})
ALLOWED_TOOLS = FILE_TOOLS | {ASK_TOOL}
MAX_WRITE_BYTES = 1024 * 1024  # a spec is tens of KB; anything near this is a runaway
MAX_SPEC_BYTES = 3 * MAX_WRITE_BYTES // 2  # both spec files together


def _expands(text: str) -> bool:
    """True if the CLI would expand this path or pattern beyond what we checked."""
    return "{" in text or "}" in text or any(part.startswith("~") for part in PurePath(text).parts)


def check_tool(tool: str, tool_input: Any, project: Path, templates: Path) -> str | None:
    """None if the call may run; else why not, in words Claude can act on."""
    if tool not in ALLOWED_TOOLS:
        return f"The {tool} tool is not available in this session."
    if tool == ASK_TOOL:
        return None
    if not isinstance(tool_input, dict):
        return f"{tool} needs its input as an object."
    if tool in READ_ONLY_TOOLS:
        return _check_read(tool, tool_input, project, templates)
    return _check_write(tool, tool_input, project)


def _check_read(tool: str, tool_input: dict[str, Any], project: Path, templates: Path) -> str | None:
    where = f"inside {project} (or {templates})"
    if tool == "Glob":
        pattern = tool_input.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            return "Glob needs a pattern."
        if PurePath(pattern).is_absolute() or ".." in PurePath(pattern).parts or _expands(pattern):
            return f"Glob patterns must be plain relative patterns (no `..`, `~` or braces) {where}: {pattern} is not."
        raw = tool_input.get("path") or str(project)
    else:
        raw = tool_input.get("file_path")
    if not isinstance(raw, str) or not raw or "\x00" in raw:
        return f"{tool} needs a path {where}."
    if _expands(raw):
        return f"Paths may not use `~` or braces; give a path {where}."
    path = Path(raw) if Path(raw).is_absolute() else project / raw
    if not (inside(path, project) or inside(path, templates)):
        return f"Only files {where} may be read; {raw} is outside it."
    return None


def _check_write(tool: str, tool_input: dict[str, Any], project: Path) -> str | None:
    targets = spec_paths(project)
    allowed = " or ".join(str(t) for t in targets)
    raw = tool_input.get("file_path")
    if not isinstance(raw, str) or not raw or "\x00" in raw or _expands(raw):
        return f"{tool} needs a file_path: {allowed}."
    path = Path(raw) if Path(raw).is_absolute() else project / raw
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):
        return f"{tool} can't use {raw}; write {allowed}."
    if resolved not in {t.resolve() for t in targets}:
        return f"Only the two spec files may be written in this session ({allowed}); {raw} is not one of them."
    size = _size_after(tool, tool_input, resolved)
    if isinstance(size, str):
        return size
    if size > MAX_WRITE_BYTES:
        return f"{tool} refused: the file would be over {MAX_WRITE_BYTES // 1024} KB; keep it to what the spec needs."
    others = sum(_size(t) for t in targets if t.resolve() != resolved)
    if others + size > MAX_SPEC_BYTES:
        return f"{tool} refused: the spec files together would be over {MAX_SPEC_BYTES // 1024} KB."
    return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _size_after(tool: str, tool_input: dict[str, Any], path: Path) -> int | str:
    """The file's size in bytes once the call has run, or why the call is malformed."""
    if tool == "Write":
        content = tool_input.get("content", "")
        if not isinstance(content, str):
            return "Write needs content as text."
        return len(content.encode("utf-8", errors="replace"))
    old, new = tool_input.get("old_string", ""), tool_input.get("new_string", "")
    if not isinstance(old, str) or not isinstance(new, str):
        return "Edit needs old_string and new_string as text."
    try:
        current = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        current = ""
    # The CLI replaces one occurrence, or every one with replace_all.
    count = current.count(old) if old and tool_input.get("replace_all") else 1
    grown = len(new.encode("utf-8", errors="replace")) - len(old.encode("utf-8", errors="replace"))
    return len(current.encode("utf-8", errors="replace")) + max(count, 1) * grown
