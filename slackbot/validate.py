"""Is a spec something the coding agent can build from? Checks both files.

How features are counted: every `<feature>` element inside `<core_features>`
(at any depth, usually grouped in `<category>` elements) is one feature, and
`<feature_count>` must equal that number. Pure logic: no Slack, no SDK.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from .spec import APP_SPEC, INITIALIZER_PROMPT

REQUIRED_SECTIONS = (
    "project_name",
    "overview",
    "technology_stack",
    "prerequisites",
    "feature_count",
    "security_and_access_control",
    "core_features",
    "database_schema",
    "api_endpoints_summary",
    "ui_layout",
    "design_system",
    "implementation_steps",
    "success_criteria",
)
# {{FEATURE_COUNT}}, [FEATURE_COUNT], $ARGUMENTS, <PROJECT_NAME>: template leftovers.
PLACEHOLDER = re.compile(r"\{\{\s*[A-Za-z_][\w ]*\}\}|\[[A-Z][A-Z_]{2,}\]|\$(?:ARGUMENTS|TEMPLATES)\b|<[A-Z][A-Z_]{2,}>")
STATED_COUNT = re.compile(r"exactly\s+\**(\d+)\**", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


def validate_spec(project: Path) -> list[Problem]:
    """Every problem found in `project/prompts/`; an empty list means the spec is good."""
    problems: list[Problem] = []
    count = _check_app_spec(project, problems)
    _check_prompt(project, count, problems)
    return problems


def _check_app_spec(project: Path, problems: list[Problem]) -> int | None:
    """Check app_spec.txt; return its feature count when that is sound."""
    file = APP_SPEC.name
    path = project / APP_SPEC
    if not path.is_file():
        problems.append(Problem(file, f"is missing (expected at {path})"))
        return None
    try:
        root = ET.fromstring(path.read_text(encoding="utf-8", errors="replace"))
    except ET.ParseError as error:
        line, column = error.position
        problems.append(
            Problem(file, f"is not well-formed XML at line {line}, column {column + 1} ({_reason(error)}); "
                          "escape & as &amp; and < as &lt; in text")
        )
        return None
    if root.tag != "project_specification":
        problems.append(Problem(file, f"the root element is <{root.tag}>; it must be <project_specification>"))
    present = {child.tag for child in root}
    for section in REQUIRED_SECTIONS:
        if section not in present:
            problems.append(Problem(file, f"the <{section}> section is missing"))

    name = (root.findtext("project_name") or "").strip()
    if "project_name" in present and name != project.name:
        problems.append(Problem(file, f"<project_name> is {name!r} but the project folder is {project.name!r}"))

    if "feature_count" not in present:
        return None
    raw = (root.findtext("feature_count") or "").strip()
    if not raw.isdigit() or int(raw) <= 0:
        problems.append(Problem(file, f"<feature_count> must be a positive whole number, not {raw!r}"))
        return None
    count = int(raw)
    core = root.find("core_features")
    if core is not None:
        listed = sum(1 for _ in core.iter("feature"))
        if listed != count:
            problems.append(
                Problem(file, f"<feature_count> is {count} but <core_features> lists {listed} <feature> elements")
            )
            return None
    return count


def _check_prompt(project: Path, count: int | None, problems: list[Problem]) -> None:
    file = INITIALIZER_PROMPT.name
    path = project / INITIALIZER_PROMPT
    if not path.is_file():
        problems.append(Problem(file, f"is missing (expected at {path})"))
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    for placeholder in sorted(set(PLACEHOLDER.findall(text))):
        problems.append(Problem(file, f"still has the template placeholder {placeholder}"))
    if count is None:
        return
    if not re.search(rf"(?<!\d){count}(?!\d)", text):
        problems.append(Problem(file, f"does not state the feature count {count}"))
    for stated in sorted({int(n) for n in STATED_COUNT.findall(text)} - {count}):
        problems.append(Problem(file, f"says exactly {stated} where the spec's feature count is {count}"))


def _reason(error: ET.ParseError) -> str:
    return str(error).split(":")[0]
