"""Can AutoForge build from this spec as is? Checks both files, in the prompts
folder AutoForge itself would read (`spec.prompts_dir`).

The bar is what AutoForge accepts, plus a few rules of our own where its tools would
accept a spec its agents can't build well (`feature_rules` says whose each rule is).
Reading app_spec.txt leniently is `spec.reader`'s job; the rules of the
`feature_create_bulk` payload the initializer sends are `feature_rules`'. This
module checks the count where it is *stated*: `<feature_count>` and "exactly N"
(or "has N features") in `initializer_prompt.md`, never any number in prose.
With itemised features every statement must equal the number of `<feature>`
elements. A spec in AutoForge's own free-form layout (bullet lists under
category tags) passes with a note: AutoForge's initializer derives the features
from it, so only the statements must agree with each other.

Problems (a build would fail or go wrong) go back to Claude for repair and are
shown to people; notes are advice that never blocks. Pure logic: no Slack, no SDK.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .feature_rules import short
from .files import APP_SPEC, INITIALIZER_PROMPT, prompts_dir
from .reader import EXPECTED_SECTIONS, REQUIRED_SECTIONS, TEMPLATE_PLACEHOLDER, Spec, read_spec

__all__ = ["EXPECTED_SECTIONS", "REQUIRED_SECTIONS", "Problem", "Report", "check_spec", "validate_spec"]

SPEC_FILE = APP_SPEC
PROMPT_FILE = INITIALIZER_PROMPT

# Template leftovers: those of the spec, and <PROJECT_NAME> (in the spec that would be a tag).
PLACEHOLDER = re.compile(TEMPLATE_PLACEHOLDER + r"|<[A-Z][A-Z_]{2,}>")
# How a prompt states the count: "exactly **25** features", "exactly 8." or
# "Create exactly **8** with the tool", "has **8** features". Not "exactly 5
# infrastructure features" (a part, not the total), not "Step 8", not "port 3001".
COUNT_STATEMENT = re.compile(
    r"\bexactly\s+\**([0-9]+)\**(?=\s*features?\b|\s*(?:with|using|via|in total)\b|\s*[.,;:!)]|\s*$)"
    r"|\b(?:has|have|create|creates|total of)\s+\**([0-9]+)\**\s+features?\b",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class Problem:
    """Something that would make the build fail, with what to change.

    `feature` is the feature's position in document order (the id it must have).
    """

    file: str
    message: str
    feature: int | None = None
    title: str = ""

    def __str__(self) -> str:
        if self.feature is None:
            return f"{self.file}: {self.message}"
        named = f' ("{short(self.title)}")' if self.title else ""
        return f"{self.file}: feature {self.feature}{named}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "feature": self.feature, "message": self.message, "text": str(self)}


@dataclass
class Report:
    """Everything `check_spec` found, plus the features as `feature_create_bulk` takes them."""

    folder: Path
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    feature_count: int | None = None
    features: list[dict[str, Any]] = field(default_factory=list)
    itemised: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [problem.to_json() for problem in self.problems],
            "feature_count": self.feature_count,
            "features": self.features,
            "notes": self.notes,
        }


def validate_spec(project: Path) -> list[Problem]:
    """Every problem in the project's spec; an empty list means AutoForge can build it."""
    return check_spec(project).problems


def check_spec(project: Path) -> Report:
    """Check both spec files where AutoForge looks for them (`.autoforge/prompts`, …, `prompts`)."""
    folder = prompts_dir(project)
    report = Report(folder)
    spec = read_spec(project, folder / SPEC_FILE, _SpecFindings(report))
    report.features = spec.features.payload
    report.itemised = spec.features.listed is not None
    count_problem = _check_listed_count(spec, report)
    _check_prompt(folder / PROMPT_FILE, spec, count_problem, report)
    return report


@dataclass
class _SpecFindings:
    """Files what the app_spec.txt readers find in the report, under that file's name."""

    report: Report

    def problem(self, message: str, feature: int | None = None, title: str = "") -> None:
        self.report.problems.append(Problem(SPEC_FILE, message, feature, title))

    def note(self, message: str) -> None:
        self.report.notes.append(f"{SPEC_FILE}: {message}")


# -- app_spec.txt -------------------------------------------------------------------


def _check_listed_count(spec: Spec, report: Report) -> int | None:
    """Report a <feature_count> other than the number of <feature> elements; its index in report.problems."""
    stated, listed = spec.stated, spec.features.listed
    if listed is None or stated is None or stated == listed:
        return None
    report.problems.append(
        Problem(SPEC_FILE, f"<feature_count> is {stated} but <core_features> lists {listed} <feature> elements")
    )
    return len(report.problems) - 1


# -- initializer_prompt.md ----------------------------------------------------------


def _check_prompt(path: Path, spec: Spec, count_problem: int | None, report: Report) -> None:
    """Check the prompt's own problems, then that every count it states agrees with the spec."""
    stated = _read_prompt(path, report)
    listed, free_form = spec.features.listed, spec.features.free_form
    # The count every statement must match: the <feature> elements when itemised,
    # else the spec's own statement, else the prompt's first.
    target = listed if listed is not None else spec.stated
    if target is None and stated:
        target = stated[0]
    report.feature_count = target
    if free_form:
        derived = f"its {target} features" if target is not None else "its features"
        report.notes.append(
            f"{SPEC_FILE}: <core_features> lists features as free-form text ({free_form}), AutoForge's own "
            f"layout, not as <feature> elements: AutoForge's initializer will derive {derived} from it, so the "
            "feature list can't be checked or exported here"
        )
    if target is None:
        if spec.stated_raw is None and path.is_file() and not any(p.file == PROMPT_FILE for p in report.problems):
            report.notes.append(
                "the feature count is stated nowhere: put it in app_spec.txt as <feature_count>N</feature_count> "
                f'and say "exactly N features" in {PROMPT_FILE}, so the initializer creates that many'
            )
        return
    wrong = sorted(set(stated) - {target})
    if count_problem is not None:
        # One count, one fix: the prompt's number goes into the <feature_count> problem.
        if stated and set(stated) != {target}:
            says = " and ".join(str(n) for n in sorted(set(stated)))
            old = report.problems[count_problem]
            report.problems[count_problem] = Problem(
                old.file, f"{old.message}; {PROMPT_FILE} says {says}: make both {target}"
            )
        return
    for number in wrong:
        message = f"says exactly {number} where the spec's feature count is {target}"
        report.problems.append(Problem(PROMPT_FILE, message))
    if path.is_file() and not stated:
        where = "the initializer will take it from <feature_count>" if spec.stated is not None else (
            f'say "exactly {target} features"'
        )
        report.notes.append(f"{PROMPT_FILE}: doesn't state the feature count; {where}")
    if listed is not None and spec.stated_raw is None:
        report.notes.append(f"{SPEC_FILE}: has no <feature_count>; add <feature_count>{target}</feature_count>")


def _read_prompt(path: Path, report: Report) -> list[int]:
    """The counts the prompt states, in order; reports a missing prompt and template leftovers."""
    if not path.is_file():
        message = (
            f"is missing (expected at {path}); without it AutoForge falls back to its generic initializer, "
            "which has no feature count"
        )
        report.problems.append(Problem(PROMPT_FILE, message))
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():  # and Slack refuses to take an empty file
        message = "is empty; AutoForge's initializer needs its instructions and the feature count"
        report.problems.append(Problem(PROMPT_FILE, message))
        return []
    for placeholder in sorted(set(PLACEHOLDER.findall(text))):
        report.problems.append(Problem(PROMPT_FILE, f"still has the template placeholder {placeholder}"))
    return [int(a or b) for a, b in COUNT_STATEMENT.findall(text)]
