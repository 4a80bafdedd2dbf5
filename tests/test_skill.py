"""The interview skill covers every phase and topic of AutoForge's own
/create-spec, as the side-by-side table in docs/interview.md promises. A text
check: no model needed."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

SKILL = (REPO / ".claude/commands/create-spec.md").read_text(encoding="utf-8")
DOC = (REPO / "docs/interview.md").read_text(encoding="utf-8")

# Each row of the table in docs/interview.md, and what the skill must say for it.
TOPICS: dict[str, tuple[str, ...]] = {
    "What and who": ("what are you building", "who will use it", "do not ask for a name"),
    "Mode": ('header "mode"', "quick (recommended)", "detailed"),
    "Stack": ('header "stack"', "react + vite", "express", "sqlite", "postgresql", "environment variables"),
    "Data storage (persistence)": (
        'header "data"', "always, in every mode, asked outright", "store data persistently",
        "yes, a database", "no, stateless", "not sure",
    ),
    "Main flow and feature areas": (
        "walk me through it", "multiselect", "accounts and logins", "search and filters", "sharing or collaboration",
        "works on phones", "settings", "dashboards", "import and export", "unique to this app",
    ),
    "Roles and permissions": ("roles and permissions", "pages only some roles reach", "may not do"),
    "Sign-in and sessions": ("sign-in and sessions", "password rules", "session timeout", "automatic logout"),
    "Sensitive operations": ("sensitive operations", "extra confirmation"),
    "Data flow, deletes and cascades": ("data flow", "deletes and their cascades", "related data", "soft or hard"),
    "Failures (network)": ("failures", "network fails mid-action"),
    "Duplicates": ("duplicates", "same email"),
    "Limits (long input)": ("limits", "very long text", "maximum lengths"),
    "Empty states": ("empty states", "nothing yet"),
    "Feature count": (
        "never ask for a number", "one testable behaviour per feature", "25 to 55", "about 105", "155 to 205",
        "infrastructure first",
    ),
    "Technical plan": ("technical plan", "database tables", "api endpoints", "ui layout", "design system",
                       "build order"),
    "Success criteria": ('what "done" looks like', "must-haves", "quality bar"),
    "Review and approval": ('header "write spec"', "yes, write it", "change something", "the assumptions you made"),
    "Files": ("<feature id=", "<depends_on>", "<steps>", "feature_count", "{{feature_count}}", "initializer_prompt.md"),
}
# What detailed mode drills into, inside its own list.
DETAILED = ("roles and permissions", "sessions", "sensitive operations", "deletes and their cascades",
            "failures", "duplicates", "limits", "empty states")
# AutoForge's infrastructure features, in its order.
INFRASTRUCTURE = ("database connection established", "database schema applied correctly",
                  "data survives a full server restart", "no mock or in-memory data", "queries the real database")


def lower(text: str) -> str:
    """Lower case, with line breaks and runs of spaces as single spaces."""
    return " ".join(text.split()).lower()


def section(start: str, end: str) -> str:
    text = lower(SKILL)
    return text[text.index(lower(start)) : text.index(lower(end))]


def table_topics() -> list[str]:
    rows = [line for line in DOC.splitlines() if line.startswith("| ") and not line.startswith("| Topic")]
    return [row.split("|")[1].strip() for row in rows]


def test_the_doc_has_a_row_for_every_topic():
    assert table_topics() == list(TOPICS)
    for row in DOC.splitlines():
        if row.startswith("| ") and not row.startswith(("| Topic", "|---")):
            assert row.count("|") == 5, row  # topic, AutoForge, newspec, shorter because


@pytest.mark.parametrize("topic", list(TOPICS))
def test_the_skill_covers_the_topic(topic):
    text = lower(SKILL)
    missing = [phrase for phrase in TOPICS[topic] if phrase not in text]
    assert missing == []


def test_detailed_mode_drills_into_every_edge():
    detailed = section("**Detailed mode: drill into each", "**Quick mode: ask only")
    assert [topic for topic in DETAILED if f"**{topic}" not in detailed and topic not in detailed] == []


def test_quick_mode_asks_what_changes_the_build_and_states_assumptions():
    quick = section("**Quick mode: ask only what changes the build", "### 5.")
    assert "state your assumptions" in quick
    assert "let them correct" in quick


def test_persistence_is_asked_outright_in_every_mode():
    phase = section("### 3. Stack and data storage", "### 4.")
    assert 'header "data"' in phase and "always, in every mode" in phase
    # Even "just write it" does not skip it.
    assert "ask the data-storage question" in lower(SKILL)


def test_infrastructure_features_come_first_in_autoforges_order():
    rules = section("## What counts as a feature", "## The spec file")
    positions = [rules.index(name) for name in INFRASTRUCTURE]
    assert positions == sorted(positions)
    assert "first category is `infrastructure`" in rules and "ids 1 to 5" in rules


def test_choices_are_still_buttons():
    assert SKILL.count("AskUserQuestion") >= 5
    for header in ("Mode", "Stack", "Data", "Areas", "Features", "Write spec"):
        assert f'header "{header.lower()}"' in lower(SKILL)


def test_the_skill_keeps_its_placeholders_and_output_format():
    assert "Project directory (your working directory): `$ARGUMENTS`" in SKILL
    assert "$TEMPLATES/app_spec_example.txt" in SKILL and "$TEMPLATES/initializer_prompt.md" in SKILL
    # The order of the spec's sections the validator and the example share.
    order = re.findall(r"^\s*\d+\. `(\w+)`", SKILL, flags=re.M)
    assert order[:13] == [
        "project_name", "overview", "technology_stack", "prerequisites", "feature_count",
        "security_and_access_control", "core_features", "database_schema", "api_endpoints_summary",
        "ui_layout", "design_system", "implementation_steps", "success_criteria",
    ]
    example = (REPO / ".claude/templates/app_spec_example.txt").read_text(encoding="utf-8")
    top_level = re.findall(r"^  <(\w+)>", example, flags=re.M)
    assert top_level == order[:13]


def test_the_dependency_cap_matches_autoforges():
    # 15 written + the 5 implied Infrastructure features = AutoForge's 20.
    assert "at most 15" in lower(SKILL) and "allows 20 in all" in lower(SKILL)


def test_steps_are_ones_autoforges_agent_can_run_as_configured():
    """AutoForge's bash hook refuses sqlite3, psql and python -m pip unless a person
    allows them: steps that need them stall its coding agent. The example spec and the
    skill keep verification to the app's UI and API."""
    example = (REPO / ".claude/templates/app_spec_example.txt").read_text(encoding="utf-8")
    steps = re.findall(r"<step>(.*?)</step>", example, flags=re.S)
    shells = re.compile(r"\b(?:sqlite3|psql|mysql|mongosh|pip3?|python3?)\b", re.I)
    assert steps and [step for step in steps if shells.search(step)] == []
    rules = lower(SKILL)
    assert "through the app's ui or its api" in rules
    assert all(f"`{command}`" in rules for command in ("sqlite3", "psql", "python -m pip"))
