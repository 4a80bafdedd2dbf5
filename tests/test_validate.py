"""Spec validation: what AutoForge accepts, stricter only where a build would fail.

The rules come from AutoForge itself (github leonvanzyl/autocoder, now AutoForge):
`feature_create_bulk` in mcp_server/feature_mcp.py, `has_project_prompts` in
prompts.py, the prompts folder order in autoforge_paths.py, and the layout its
own /create-spec skill and app_spec template write. The fixtures are ours.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from slackbot.markup import escape
from slackbot.spec.files import summarize_spec
from slackbot.spec.validate import EXPECTED_SECTIONS, REQUIRED_SECTIONS, check_spec, validate_spec
from tests.test_interview_flow import EXAMPLE_SPEC, prompt_for, spec_for


def make(
    tmp_path: Path, spec: str | None = None, prompt: str | None = None, name: str = "shop", folder: str = "prompts"
) -> Path:
    project = tmp_path / name
    (project / folder).mkdir(parents=True, exist_ok=True)
    if spec is not None:
        (project / folder / "app_spec.txt").write_text(spec)
    if prompt is not None:
        (project / folder / "initializer_prompt.md").write_text(prompt)
    return project


def messages(project: Path) -> list[str]:
    return [str(p) for p in validate_spec(project)]


def notes(project: Path) -> list[str]:
    return check_spec(project).notes


# -- building itemised specs ---------------------------------------------------------

OMIT = object()  # leave an element out entirely


def feature(
    id: object = OMIT,
    name: object = "User can do a thing",
    description: object = "Doing the thing shows it at once.",
    steps: object = ("Open the app", "Do the thing and check it shows"),
    depends_on: object = OMIT,
) -> str:
    parts = [f'<feature id="{id}">' if id is not OMIT else "<feature>"]
    if name is not OMIT:
        parts.append(f"<name>{name}</name>")
    if description is not OMIT:
        parts.append(f"<description>{description}</description>")
    if depends_on is not OMIT:
        parts.append(f"<depends_on>{depends_on}</depends_on>")
    if steps is not OMIT:
        parts.append("<steps>" + "".join(f"<step>{s}</step>" for s in steps) + "</steps>")
    return "\n        ".join(parts) + "</feature>"


def category(name: str, *features: str) -> str:
    return f'<category name="{name}">\n        ' + "\n        ".join(features) + "\n    </category>"


INFRA_NAMES = (
    "Database connection established",
    "Database schema applied correctly",
    "Data survives a full server restart",
    "No mock or in-memory data in the code",
    "Backend API queries the real database",
)


def infrastructure() -> str:
    return category("Infrastructure", *(feature(i, name) for i, name in enumerate(INFRA_NAMES, 1)))


def itemised(*categories: str, count: int | None = None, name: str = "shop") -> str:
    """The example spec with these categories as its <core_features>."""
    core = "<core_features>\n    " + "\n    ".join(categories) + "\n  </core_features>"
    spec = re.sub(r"<core_features>.*</core_features>", lambda _: core, spec_for(name), flags=re.S)
    total = count if count is not None else len(re.findall(r"<feature[ >]", core))
    return spec.replace("<feature_count>8</feature_count>", f"<feature_count>{total}</feature_count>")


def project_with(tmp_path: Path, *categories: str) -> Path:
    spec = itemised(*categories)
    count = len(re.findall(r"<feature[ >]", spec))
    return make(tmp_path, spec, prompt_for("shop", count))


def feature_problems(tmp_path: Path, *categories: str) -> list[str]:
    return messages(project_with(tmp_path, *categories))


# -- a good spec ---------------------------------------------------------------------


def test_a_good_spec_passes(tmp_path):
    project = make(tmp_path, spec_for("shop"), prompt_for("shop"))
    assert messages(project) == []
    assert notes(project) == []


def test_the_example_becomes_the_bulk_payload(tmp_path):
    report = check_spec(make(tmp_path, spec_for("shop"), prompt_for("shop")))
    assert report.ok and report.itemised and report.feature_count == 8
    first, *_, last = report.features
    assert first == {
        "category": "Infrastructure",
        "name": "Database connection established",
        "description": "On start the backend opens the SQLite file named in technology_stack and reports it as "
        "connected on the health endpoint.",
        "steps": [
            "Start the app with ./init.sh",
            "Check the server log shows the database file being opened",
            'Call GET /api/health and check the response says database: "connected"',
        ],
        "depends_on_indices": [],
    }
    # Infrastructure is implied for every later feature, plus its own <depends_on>6</depends_on>.
    assert last["name"] == "User can delete a task after confirming"
    assert last["depends_on_indices"] == [0, 1, 2, 3, 4, 5]
    assert [f["category"] for f in report.features] == ["Infrastructure"] * 5 + ["Tasks"] * 3


def test_the_example_puts_the_infrastructure_features_first():
    names = re.findall(r"<name>(.*?)</name>", EXAMPLE_SPEC)
    assert [n.lower() for n in names[:5]] == [
        "database connection established",
        "database schema applied correctly",
        "data survives a full server restart",
        "no mock or in-memory data in the code",
        "backend api queries the real database",
    ]


# -- sections ------------------------------------------------------------------------


def without(section: str) -> str:
    return re.sub(rf"\s*<{section}>.*?</{section}>", "", spec_for("shop"), flags=re.S)


def test_without_core_features_there_is_nothing_to_build(tmp_path):
    assert REQUIRED_SECTIONS == ("core_features",)
    (found,) = messages(make(tmp_path, without("core_features"), prompt_for("shop")))
    assert found.startswith("app_spec.txt: has no <core_features> section, so there is nothing to build")


@pytest.mark.parametrize("section", [s for s in EXPECTED_SECTIONS if s not in REQUIRED_SECTIONS])
def test_other_missing_sections_are_notes_not_problems(tmp_path, section):
    # AutoForge builds without them (its own template has no <feature_count> or
    # <security_and_access_control>); the old validator refused the spec.
    project = make(tmp_path, without(section), prompt_for("shop"))
    assert messages(project) == []
    assert any(f"<{section}>" in note for note in notes(project))


def test_project_name_other_than_the_folder_is_a_note(tmp_path):
    # Used to be a problem; AutoForge never compares the two, so it can't fail a build.
    project = make(tmp_path, spec_for("other"), prompt_for("shop"))
    assert messages(project) == []
    assert "app_spec.txt: <project_name> is 'other' but the project folder is 'shop'" in notes(project)


def test_the_root_must_be_spelled_as_autoforge_looks_for_it(tmp_path):
    spec = spec_for("shop").replace("project_specification>", "spec>")
    (found,) = messages(make(tmp_path, spec, prompt_for("shop")))
    assert found.startswith("app_spec.txt: does not contain <project_specification>")
    # An attribute hides the literal `<project_specification>` from AutoForge too.
    spec = spec_for("shop").replace("<project_specification>", '<project_specification version="2">')
    (found,) = messages(make(tmp_path, spec, prompt_for("shop"), name="shop2"))
    assert "does not contain <project_specification>" in found


# -- the count, where it is stated ---------------------------------------------------


def test_wrong_feature_count(tmp_path):
    spec = spec_for("shop").replace("<feature_count>8</feature_count>", "<feature_count>12</feature_count>")
    found = messages(make(tmp_path, spec, prompt_for("shop", 12)))
    # One count, one problem; the prompt's number is folded into it.
    assert found == [
        "app_spec.txt: <feature_count> is 12 but <core_features> lists 8 <feature> elements; "
        "initializer_prompt.md says 12: make both 8"
    ]


def test_wrong_feature_count_with_a_right_prompt(tmp_path):
    spec = spec_for("shop").replace("<feature_count>8</feature_count>", "<feature_count>12</feature_count>")
    found = messages(make(tmp_path, spec, prompt_for("shop", 8)))
    assert found == ["app_spec.txt: <feature_count> is 12 but <core_features> lists 8 <feature> elements"]


@pytest.mark.parametrize("value", ["0", "-3", "eight", "", "²", "٣"])
def test_feature_count_must_be_a_positive_number(tmp_path, value):
    spec = spec_for("shop").replace("<feature_count>8</feature_count>", f"<feature_count>{value}</feature_count>")
    found = messages(make(tmp_path, spec, prompt_for("shop")))
    assert found == [f"app_spec.txt: <feature_count> must be a positive whole number, not {value!r}"]


def test_placeholder_left_in_the_prompt(tmp_path):
    prompt = prompt_for("shop").replace("exactly 8 features", "exactly {{FEATURE_COUNT}} features", 1)
    found = messages(make(tmp_path, spec_for("shop"), prompt))
    assert found == ["initializer_prompt.md: still has the template placeholder {{FEATURE_COUNT}}"]


def test_prompt_must_state_the_same_count(tmp_path):
    # The old check also said "does not state the feature count 8", and was
    # satisfied by any 8 in the text; only statements of the count count now.
    found = messages(make(tmp_path, spec_for("shop"), prompt_for("shop", 9)))
    assert found == ["initializer_prompt.md: says exactly 9 where the spec's feature count is 8"]


UNRELATED_NUMBERS = """
## Step 8: start the servers on port 3008
Keep exactly 5 infrastructure features first (indices 0-4) and at most 20
dependencies per feature; a simple app has ~165 tests, at least 25 of them with
10+ steps. Check exactly 3 steps per screen.
"""


def test_the_count_check_is_not_fooled_by_unrelated_numbers(tmp_path):
    # The right statement plus many numbers that are not statements of the count.
    prompt = prompt_for("shop") + UNRELATED_NUMBERS
    assert messages(make(tmp_path, spec_for("shop"), prompt)) == []
    # Unrelated 8s don't make up for a statement of 9.
    prompt = prompt_for("shop", 9) + UNRELATED_NUMBERS + "\nOpen http://localhost:8/ after Step 8.\n"
    found = messages(make(tmp_path, spec_for("shop"), prompt, name="shop2"))
    assert found == ["initializer_prompt.md: says exactly 9 where the spec's feature count is 8"]
    # The spec's own prose ("All 12 features pass") is not a statement either.
    spec = spec_for("shop").replace("All 8 features pass", "All 12 features pass")
    assert messages(make(tmp_path, spec, prompt_for("shop"), name="shop3")) == []


@pytest.mark.parametrize(
    "sentence",
    [
        "You must create exactly **8** features using the `feature_create_bulk` tool.",
        "This project has **8** features.",
        "Create exactly 8 with the feature_create_bulk tool.",
        "When done, the total is exactly 8.",
    ],
)
def test_ways_of_stating_the_count(tmp_path, sentence):
    good = make(tmp_path, spec_for("shop"), f"# Initializer\n\n{sentence}\n")
    assert messages(good) == []
    bad = make(tmp_path, spec_for("shop"), f"# Initializer\n\n{sentence.replace('8', '9')}\n", name="bad")
    assert messages(bad) == ["initializer_prompt.md: says exactly 9 where the spec's feature count is 8"]


def test_a_prompt_without_a_statement_is_a_note(tmp_path):
    project = make(tmp_path, spec_for("shop"), "# Initializer\n\nRead app_spec.txt and create the features.\n")
    assert messages(project) == []
    assert any("doesn't state the feature count" in note for note in notes(project))


def test_missing_files(tmp_path):
    found = messages(make(tmp_path))
    assert found[0] == f"app_spec.txt: is missing (expected at {tmp_path / 'shop/prompts/app_spec.txt'})"
    assert found[1].startswith(
        f"initializer_prompt.md: is missing (expected at {tmp_path / 'shop/prompts/initializer_prompt.md'})"
    )
    assert len(found) == 2


# -- reading prose leniently ---------------------------------------------------------


def test_a_bare_ampersand_or_angle_bracket_in_prose_passes(tmp_path):
    # The old validator refused this spec ("escape & as &amp;"); AutoForge only
    # looks for `<project_specification>`, so a stray character is no reason to
    # send the spec back.
    spec = (
        spec_for("shop")
        .replace("<overview>", "<overview>Fast & simple, loads in < 2s (p95 <1s), a<b and R&D&nbsp;ready.", 1)
        .replace("<name>User can add a task</name>", "<name>User can add a task & a note</name>")
        .replace("<step>Open the app</step>", "<step>Open the app & wait < 2 seconds</step>")
        .replace('<category name="Tasks">', '<category name="Tasks & notes">')
    )
    report = check_spec(make(tmp_path, spec, prompt_for("shop")))
    assert report.problems == [] and report.notes == []
    task = report.features[5]
    assert task["name"] == "User can add a task & a note"
    assert task["category"] == "Tasks & notes"
    assert task["steps"][0] == "Open the app & wait < 2 seconds"


def test_escaped_prose_is_unescaped_in_the_payload(tmp_path):
    spec = spec_for("shop").replace("<name>User can add a task</name>", "<name>User can add &amp; tag a task</name>")
    report = check_spec(make(tmp_path, spec, prompt_for("shop")))
    assert report.ok and report.features[5]["name"] == "User can add & tag a task"


def test_tags_that_do_not_nest_say_where(tmp_path):
    spec = spec_for("shop").replace("</feature>", "", 1)  # feature 1 is never closed
    (found,) = messages(make(tmp_path, spec, prompt_for("shop")))
    assert found.startswith("app_spec.txt: its tags don't nest properly at line ")
    line = int(re.search(r"at line (\d+)", found).group(1))
    assert "</category>" in spec.splitlines()[line - 1]  # where the parser saw the mismatch


def test_text_around_the_spec_is_ignored(tmp_path):
    # AutoForge accepts any file containing the literal; so do we.
    spec = "Here is the spec:\n```xml\n" + spec_for("shop") + "\n```\n"
    assert messages(make(tmp_path, spec, prompt_for("shop"))) == []


# -- feature_create_bulk's refusals, as problems with the feature and the fix --------


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (feature(6, name=OMIT), 'feature 6: has no <name>: add one saying who does what'),
        (feature(6, name=" "), "feature 6: its <name> is empty"),
        (feature(6, description=OMIT), "has no <description>: add one or two sentences"),
        (feature(6, description=""), "its <description> is empty"),
        (feature(6, steps=OMIT), "has no <steps>: add <steps> with the <step> elements a tester follows"),
        (feature(6, steps=()), "its <steps> is empty"),
        (feature(6, steps=("", " ")), "its <steps> is empty"),
    ],
    ids=["no-name", "empty-name", "no-description", "empty-description", "no-steps", "no-step", "blank-steps"],
)
def test_required_fields(tmp_path, broken, expected):
    found = feature_problems(tmp_path, infrastructure(), category("Tasks", broken, feature(7)))
    assert len(found) == 1 and expected in found[0] and found[0].startswith("app_spec.txt: feature 6")


def test_every_feature_is_inside_a_category(tmp_path):
    loose = feature(6, name="User can see the about page")
    found = feature_problems(tmp_path, infrastructure(), loose)
    assert found == [
        'app_spec.txt: feature 6 ("User can see the about page"): is not inside a category: put it in a '
        '<category name="…"> (my check: AutoForge\'s bulk tool would take an empty category; its feature_create '
        "refuses one)"
    ]


def test_a_category_needs_a_name(tmp_path):
    found = feature_problems(tmp_path, infrastructure(), category(" ", feature(6)))
    (message,) = found
    assert message.startswith('app_spec.txt: feature 6 ("User can do a thing"): its <category> has no name: give it '
                              'name="…" (my check')


def test_autoforge_style_category_tags_name_the_category(tmp_path):
    core = "<authentication>" + feature(1, "User can sign in") + "</authentication>"
    report = check_spec(project_with(tmp_path, core))
    assert report.ok and report.features[0]["category"] == "authentication"


def test_forward_reference(tmp_path):
    found = feature_problems(
        tmp_path, infrastructure(), category("Tasks", feature(6, depends_on="7"), feature(7, "User can edit a task"))
    )
    assert found == [
        'app_spec.txt: feature 6 ("User can do a thing"): depends on feature 7 ("User can edit a task"), which '
        "comes after it; a feature can only depend on earlier ones: move feature 7 before this one (and renumber), "
        "or drop the dependency"
    ]


def test_self_reference(tmp_path):
    found = feature_problems(tmp_path, infrastructure(), category("Tasks", feature(6, depends_on="6")))
    assert found == ['app_spec.txt: feature 6 ("User can do a thing"): depends on itself: remove 6 from its '
                     "<depends_on>"]


def test_duplicate_dependencies(tmp_path):
    found = feature_problems(
        tmp_path, infrastructure(), category("Tasks", feature(6), feature(7, depends_on="6, 6"))
    )
    assert found == ['app_spec.txt: feature 7 ("User can do a thing"): <depends_on> lists feature 6 2 times: '
                     "list each dependency once"]


@pytest.mark.parametrize("written", ["-1", "0"])
def test_negative_index(tmp_path, written):
    found = feature_problems(tmp_path, infrastructure(), category("Tasks", feature(6, depends_on=written)))
    assert len(found) == 1
    assert f"<depends_on> lists {written}, which is not a feature id (ids start at 1; it would be the negative " \
           f"index {int(written) - 1})" in found[0]


def test_a_dependency_that_does_not_exist(tmp_path):
    found = feature_problems(tmp_path, infrastructure(), category("Tasks", feature(6, depends_on="99")))
    assert found == ['app_spec.txt: feature 6 ("User can do a thing"): depends on feature 99, which does not exist '
                     "(ids run 1 to 6): use the id of an earlier feature or remove it"]


def test_unreadable_dependencies(tmp_path):
    found = feature_problems(tmp_path, infrastructure(), category("Tasks", feature(6), feature(7, depends_on="login")))
    assert len(found) == 1 and "<depends_on> has 'login': write the ids of earlier features" in found[0]


def test_lenient_dependency_lists(tmp_path):
    core = category("Tasks", *(feature(i) for i in range(1, 5)), feature(5, depends_on="#1 and 2; 3-4"))
    report = check_spec(project_with(tmp_path, core))
    assert report.ok and report.features[4]["depends_on_indices"] == [0, 1, 2, 3]


def test_more_than_20_dependencies_counting_the_infrastructure(tmp_path):
    # 5 Infrastructure features are added to every later feature: 16 more make 21.
    tasks = [feature(i) for i in range(6, 22)]
    tasks.append(feature(22, depends_on=", ".join(str(i) for i in range(6, 22))))
    found = feature_problems(tmp_path, infrastructure(), category("Tasks", *tasks))
    assert found == [
        'app_spec.txt: feature 22 ("User can do a thing"): depends on 21 features (16 in <depends_on>, plus the 5 '
        "Infrastructure features every feature gets); AutoForge takes at most 20: keep the 15 most direct ones in "
        "<depends_on>"
    ]
    tasks[-1] = feature(22, depends_on=", ".join(str(i) for i in range(7, 22)))  # 15 + 5 = 20: fine
    assert feature_problems(tmp_path / "ok", infrastructure(), category("Tasks", *tasks)) == []


def test_more_than_20_dependencies_without_infrastructure(tmp_path):
    tasks = [feature(i) for i in range(1, 22)]
    tasks.append(feature(22, depends_on=", ".join(str(i) for i in range(1, 22))))
    (found,) = feature_problems(tmp_path, category("Tasks", *tasks))
    assert "depends on 21 features (21 in <depends_on>); AutoForge takes at most 20" in found


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ((1, 2, 4, 5), 'feature 3 ("User can do a thing"): has id="4", but ids must run 1, 2, 3… in document order '
                       'with no gaps or repeats: make it id="3", renumber the ones after it to match (features 3–4 '
                       "are off: 2 in all)"),
        ((1, 2, 2, 3), 'feature 3 ("User can do a thing"): has id="2"'),
        ((0, 1, 2, 3), 'feature 1 ("User can do a thing"): has id="0"'),
        ((1, 2, 3, None), 'feature 4 ("User can do a thing"): has no id, but ids must run'),
        ((1, 2, 3, "x"), 'feature 4 ("User can do a thing"): has id="x"'),
    ],
    ids=["gap", "repeat", "zero", "missing", "not-a-number"],
)
def test_ids_run_1_to_n_in_document_order(tmp_path, ids, expected):
    core = category("Tasks", *(feature(OMIT if i is None else i) for i in ids))
    (found,) = feature_problems(tmp_path, core)
    assert found.startswith("app_spec.txt: " + expected)


def test_infrastructure_must_come_first(tmp_path):
    spec = itemised(category("Tasks", feature(1)), category("Infrastructure", feature(2, "Database connected")))
    (found,) = messages(make(tmp_path, spec, prompt_for("shop", 2)))
    assert found.startswith("app_spec.txt: the Infrastructure features must come first")


def test_a_database_without_infrastructure_features_is_a_note(tmp_path):
    project = project_with(tmp_path, category("Tasks", feature(1), feature(2, depends_on="1")))
    assert messages(project) == []
    assert any("has a database (SQLite" in note and "no Infrastructure category" in note for note in notes(project))
    assert check_spec(project).features[1]["depends_on_indices"] == [0]


def test_empty_core_features(tmp_path):
    spec = itemised('<category name="Later"></category>', "<reports/>", count=8)
    assert messages(make(tmp_path, spec, prompt_for("shop"))) == [
        "app_spec.txt: <core_features> is empty: list the features there, grouped by category"
    ]


def test_a_category_without_features_next_to_itemised_ones_is_a_note(tmp_path):
    later = '<category name="Later">\n      - Export to CSV\n    </category>'
    project = project_with(tmp_path, category("Tasks", feature(1)), later)
    assert messages(project) == []
    assert any("also has <category> without <feature> elements" in note for note in notes(project))


def test_several_problems_are_all_reported(tmp_path):
    found = feature_problems(
        tmp_path,
        infrastructure(),
        category("Tasks", feature(6, steps=OMIT, depends_on="7"), feature(7, description=OMIT, depends_on="7")),
    )
    assert [p.split(":")[1].strip() for p in found] == ["feature 6 (\"User can do a thing\")"] * 2 + [
        "feature 7 (\"User can do a thing\")"
    ] * 2


# -- AutoForge's own layouts ---------------------------------------------------------

# Laid out as AutoForge's app_spec template is (a comment before the root,
# comments inside, features as bullets under tag-named categories, no
# <feature_count>), with our own content.
AUTOFORGE_TEMPLATE_LAYOUT = """<!--
  Recipe box: a spec laid out like AutoForge's own template.
-->

<project_specification>
  <project_name>recipes</project_name>

  <overview>
    A recipe box for a family: save recipes, plan the week's meals & build a shopping list.
  </overview>

  <technology_stack>
    <frontend>
      <framework>React with Vite</framework>
      <styling>Tailwind CSS</styling>
      <port>3000</port>
    </frontend>
    <backend>
      <runtime>Node.js with Express</runtime>
      <database>SQLite with better-sqlite3</database>
      <port>3001</port>
    </backend>
    <communication>
      <api>RESTful endpoints</api>
    </communication>
  </technology_stack>

  <prerequisites>
    <environment_setup>
      - Node.js 20 installed
    </environment_setup>
  </prerequisites>

  <core_features>
    <!--
      Features grouped by category, one capability per line.
    -->
    <recipes>
      - User can add a recipe with a title, ingredients and steps
      - User can edit and delete a recipe
      - User can search recipes by ingredient
    </recipes>

    <meal_plan>
      - User can drag a recipe onto a day of the week
      - Plan page loads in < 2s with 100 recipes
    </meal_plan>

    <shopping_list>
      - System builds a shopping list from the week's plan
      - User can tick items off
    </shopping_list>
  </core_features>

  <database_schema>
    <tables>
      <recipes>
        - id (PRIMARY KEY)
        - title (NOT NULL)
      </recipes>
    </tables>
  </database_schema>

  <key_interactions>
    <plan_the_week>
      1. User opens the plan
      2. Drags recipes onto days
    </plan_the_week>
  </key_interactions>
</project_specification>
"""

# Worded like AutoForge's own initializer template, with the count filled in.
AUTOFORGE_INITIALIZER = """## YOUR ROLE - INITIALIZER AGENT (Session 1 of Many)

Start by reading `app_spec.txt` in your working directory.

## REQUIRED FEATURE COUNT

**CRITICAL:** You must create exactly **{count}** features using the `feature_create_bulk` tool.

Reference tiers: simple apps ~165 tests (includes 5 infrastructure), at least 25
tests with 10+ steps. Infrastructure features (indices 0-4) come first; all tiers
require exactly 5 infrastructure features. Maximum 20 dependencies per feature.
"""


def test_autoforge_template_layout_passes_with_a_note(tmp_path):
    project = make(tmp_path, AUTOFORGE_TEMPLATE_LAYOUT, AUTOFORGE_INITIALIZER.format(count=40), name="recipes")
    report = check_spec(project)
    assert report.problems == []
    assert report.feature_count == 40 and report.features == [] and not report.itemised
    derive = [n for n in report.notes if "AutoForge's initializer will derive its 40 features" in n]
    assert derive and "3 categories, 7 bullet lines" in derive[0]


def test_autoforge_template_with_its_placeholder_left_fails(tmp_path):
    prompt = AUTOFORGE_INITIALIZER.replace("{count}", "[FEATURE_COUNT]")
    project = make(tmp_path, AUTOFORGE_TEMPLATE_LAYOUT, prompt, name="recipes")
    assert messages(project) == ["initializer_prompt.md: still has the template placeholder [FEATURE_COUNT]"]


# As AutoForge's /create-spec skill writes it: its XML layout with a
# <feature_count> and free-form categories.
def skill_written(count: int = 30) -> str:
    return AUTOFORGE_TEMPLATE_LAYOUT.replace(
        "  <core_features>", f"  <feature_count>{count}</feature_count>\n\n  <core_features>"
    ).split("-->\n\n", 1)[1]


def test_a_spec_as_autoforges_skill_writes_it_passes_with_a_note(tmp_path):
    project = make(tmp_path, skill_written(30), AUTOFORGE_INITIALIZER.format(count=30), name="recipes")
    report = check_spec(project)
    assert report.ok and report.feature_count == 30 and report.features == []
    assert any("AutoForge's initializer will derive its 30 features" in n for n in report.notes)


def test_free_form_statements_must_agree(tmp_path):
    project = make(tmp_path, skill_written(30), AUTOFORGE_INITIALIZER.format(count=35), name="recipes")
    assert messages(project) == ["initializer_prompt.md: says exactly 35 where the spec's feature count is 30"]


def test_free_form_with_broken_tags_is_a_note(tmp_path):
    spec = skill_written(30).replace("</meal_plan>", "")
    project = make(tmp_path, spec, AUTOFORGE_INITIALIZER.format(count=30), name="recipes")
    report = check_spec(project)
    assert report.ok and report.feature_count == 30
    assert any("don't nest properly" in n for n in report.notes)


def test_spec_in_autoforge_folder_after_its_layout_migration(tmp_path):
    # AutoForge's first run moves prompts/ to .autoforge/prompts/.
    project = make(tmp_path, spec_for("shop"), prompt_for("shop"), folder=".autoforge/prompts")
    assert not (project / "prompts").exists()
    report = check_spec(project)
    assert report.ok and report.feature_count == 8
    assert report.folder == project / ".autoforge/prompts"


def test_the_autoforge_folder_wins_over_a_stale_prompts_folder(tmp_path):
    project = make(tmp_path, spec_for("shop"), prompt_for("shop"), folder=".autoforge/prompts")
    make(tmp_path, "stale", prompt_for("shop", 3))  # prompts/, no longer read by AutoForge
    assert messages(project) == []
    (project / ".autoforge/prompts/initializer_prompt.md").unlink()
    (found,) = messages(project)
    assert f"is missing (expected at {project / '.autoforge/prompts/initializer_prompt.md'})" in found


def test_legacy_autocoder_folder(tmp_path):
    project = make(tmp_path, spec_for("shop"), prompt_for("shop", 9), folder=".autocoder/prompts")
    assert messages(project) == ["initializer_prompt.md: says exactly 9 where the spec's feature count is 8"]


# -- the command line ----------------------------------------------------------------


def test_check_command_exit_codes(tmp_path):
    good = make(tmp_path, spec_for("shop"), prompt_for("shop"))
    bad = make(tmp_path, spec_for("blog"), prompt_for("blog", 3), name="blog")
    ok = subprocess.run([sys.executable, "-m", "slackbot", "check", str(good)], capture_output=True, text=True)
    assert ok.returncode == 0 and "looks buildable" in ok.stdout and "8 features" in ok.stdout
    failed = subprocess.run([sys.executable, "-m", "slackbot", "check", str(bad)], capture_output=True, text=True)
    assert failed.returncode == 1
    assert "initializer_prompt.md: says exactly 3 where the spec's feature count is 8" in failed.stdout


# -- the repair loop, through Slack and the real CLI ------------------------------

from tests.fakes import anthropic as fa  # noqa: E402


def wrong_count_spec(name: str) -> str:
    return spec_for(name).replace("<feature_count>8</feature_count>", "<feature_count>12</feature_count>")


def writes(project: Path, spec: str, prompt: str) -> list[fa.Step]:
    return [
        fa.tool("Write", {"file_path": str(project / "prompts/app_spec.txt"), "content": spec}),
        fa.tool("Write", {"file_path": str(project / "prompts/initializer_prompt.md"), "content": prompt}),
    ]


async def test_claude_fixes_the_spec_before_it_is_uploaded(start_bot):
    h = await start_bot()
    project = h.project("shop")

    def told_what_is_wrong(request: fa.ModelRequest) -> fa.Turn:
        assert "<feature_count> is 12 but <core_features> lists 8 <feature> elements" in request.last_user_text
        return fa.tool("Write", {"file_path": str(project / "prompts/app_spec.txt"), "content": spec_for("shop")})

    h.model.script(
        str(project),
        [fa.text("Ready?"), *writes(project, wrong_count_spec("shop"), prompt_for("shop", 8)),
         fa.text("Written."), told_what_is_wrong, fa.tool("Write", {
             "file_path": str(project / "prompts/initializer_prompt.md"), "content": prompt_for("shop")}),
         fa.text("Fixed the feature count.")],
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Ready?")
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)
    await h.slack.wait_for(lambda: len(h.slack.uploads) == 2)
    thread = h.slack.thread_text("C1", root_ts)
    assert "Checking the spec" not in thread and "Fixed the feature count." in thread  # a card, not a note
    assert thread.index("Fixed the feature count.") < thread.index("ready to build")  # fixed, then uploaded
    uploaded = {u.filename: u.content.decode() for u in h.slack.uploads}
    assert uploaded["app_spec.txt"] == spec_for("shop")
    card = await h.slack.wait_for(lambda: next((m for m in h.slack.messages if "*Validation*" in m.visible_text), None))
    assert ":white_check_mark: passed" in card.visible_text
    h.model.verify()


async def test_gives_up_after_two_rounds_and_uploads_with_a_warning(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(
        str(project),
        [fa.text("Ready?"), *writes(project, wrong_count_spec("shop"), prompt_for("shop", 12)),
         fa.text("Written."), fa.text("I think it's fine."), fa.text("Still fine.")],
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Ready?")
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)
    await h.slack.wait_for(lambda: len(h.slack.uploads) == 2)
    thread = h.slack.thread_text("C1", root_ts)
    assert "Checking the spec" not in thread  # task cards in the repair's answer, not notes
    assert "delivered with 1 problem" in thread and "ready to build" not in thread
    # Escaped for Slack, which shows it as typed.
    assert escape("<feature_count> is 12 but <core_features> lists 8 <feature> elements") in thread
    card = await h.slack.wait_for(lambda: next((m for m in h.slack.messages if "*Validation*" in m.visible_text), None))
    assert ":warning: 1 problem" in card.visible_text
    assert len(h.slack.uploads) == 2  # uploaded once, with the warning
    h.model.verify()


@pytest.mark.parametrize("value", ["²", "٣", "8 "])
def test_the_summary_card_survives_a_count_that_only_looks_like_a_number(tmp_path, value):
    """str.isdigit() takes "²" and "٣", which int() refuses: the card must still be made."""
    spec = spec_for("shop").replace("<feature_count>8</feature_count>", f"<feature_count>{value}</feature_count>")
    path = tmp_path / "prompts" / "app_spec.txt"
    path.parent.mkdir()
    path.write_text(spec)
    summary = summarize_spec(path)
    assert summary.name == "shop" and summary.feature_count == (8 if value == "8 " else None)
