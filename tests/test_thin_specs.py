"""Specs `check` must send back: dependencies AutoForge's initializer would write
twice, and thin specs (no features, a second <core_features>, template
placeholders, names and categories longer than AutoForge stores).

AutoForge's initializer template makes every feature after the Infrastructure
tier depend on all of it, and its `feature_create_bulk` refuses the whole batch
when a feature lists an index twice. Its `feature_create` takes names of at
most 255 characters and categories of at most 100, the sizes of its features
table's columns. The fixtures are ours.
"""

from __future__ import annotations

import re

import pytest

from slackbot.spec.validate import check_spec
from tests.conftest import REPO
from tests.fakes import anthropic as fa
from tests.test_check_json import bulk_refusal
from tests.test_interview_flow import prompt_for, spec_for
from tests.test_validate import category, feature, feature_problems, infrastructure, make, messages, project_with

# -- dependencies as the initializer writes them -------------------------------------


def test_infrastructure_ids_in_depends_on_are_flagged(tmp_path):
    found = feature_problems(
        tmp_path, infrastructure(), category("Tasks", feature(6), feature(7, depends_on="1, 3, 6"))
    )
    assert found == [
        'app_spec.txt: feature 7 ("User can do a thing"): <depends_on> lists 1 and 3, which are Infrastructure '
        "features: every later feature depends on all 5 already (AutoForge's initializer adds them), so "
        "listing them makes a dependency appear twice, which feature_create_bulk refuses: remove 1 and 3 from "
        "<depends_on>"
    ]


def test_an_infrastructure_feature_has_no_dependencies(tmp_path):
    infra = infrastructure().replace(
        '<feature id="3">', '<feature id="3"><depends_on>1</depends_on>'
    )
    found = feature_problems(tmp_path, infra, category("Tasks", feature(6)))
    assert found == [
        'app_spec.txt: feature 3 ("Data survives a full server restart"): is an Infrastructure feature, and '
        "AutoForge's initializer creates those first with no dependencies: remove its <depends_on>"
    ]


def test_without_infrastructure_low_ids_are_ordinary_dependencies(tmp_path):
    project = project_with(tmp_path, category("Tasks", feature(1), feature(2), feature(3, depends_on="1, 2")))
    assert messages(project) == []


def test_a_repeated_dependency_is_not_silently_merged(tmp_path):
    project = project_with(tmp_path, infrastructure(), category("Tasks", feature(6), feature(7, depends_on="2, 6, 6")))
    report = check_spec(project)
    assert not report.ok and len(report.problems) == 2
    # The payload is what the initializer would send for the spec as written: AutoForge refuses it.
    assert report.features[6]["depends_on_indices"] == [0, 1, 1, 2, 3, 4, 5, 5]
    assert bulk_refusal(report.features) == "index 6: duplicate dependencies"


# -- thin specs ----------------------------------------------------------------------


def with_core(core: str) -> str:
    return re.sub(r"<core_features>.*</core_features>", lambda _: core, spec_for("shop"), flags=re.S)


@pytest.mark.parametrize(
    "core",
    [
        "<core_features>TBD</core_features>",
        '<core_features><category name="Tasks">TBD</category></core_features>',
        "<core_features>\n    <tasks>\n      To be decided with the team.\n    </tasks>\n  </core_features>",
    ],
    ids=["tbd", "tbd-in-a-category", "prose-only"],
)
def test_core_features_without_any_feature(tmp_path, core):
    found = messages(make(tmp_path, with_core(core), prompt_for("shop")))
    assert len(found) == 1
    assert found[0].startswith("app_spec.txt: <core_features> lists no features")


def test_a_second_core_features_is_refused(tmp_path):
    extra = '<core_features><category name="Later">' + feature(9, "User can export tasks") + "</category>"
    spec = spec_for("shop").replace("<database_schema>", extra + "</core_features>\n  <database_schema>")
    found = messages(make(tmp_path, spec, prompt_for("shop")))
    assert found == [
        "app_spec.txt: has 2 <core_features> sections, and only the first is read as the feature list: move "
        "every feature into one <core_features>, then renumber the ids and update <feature_count>"
    ]


@pytest.mark.parametrize(
    ("placeholder", "where"),
    [
        ("YOUR_PROJECT_NAME", "<project_name>shop</project_name>"),
        ("YOUR_API_KEY", "<environment_setup>"),
        ("{{PROJECT_NAME}}", "<overview>"),
        ("{{ feature_count }}", "<overview>"),
        ("$ARGUMENTS", "<overview>"),
        ("[FEATURE_COUNT]", "<overview>"),
    ],
)
def test_template_placeholders_in_the_spec(tmp_path, placeholder, where):
    if where.startswith("<project_name>"):
        spec = spec_for("shop").replace(where, f"<project_name>{placeholder}</project_name>")
    else:
        spec = spec_for("shop").replace(where, f"{where}\n    {placeholder}", 1)
    found = messages(make(tmp_path, spec, prompt_for("shop")))
    problems = [p for p in found if "placeholder" in p]
    assert problems == [f"app_spec.txt: still has the template placeholder {placeholder}: write the real value"]


def test_a_spec_without_placeholders_has_none_reported(tmp_path):
    spec = spec_for("shop").replace("<overview>", "<overview>\n    Keys like YOUR and [A] or {x} are prose.", 1)
    assert messages(make(tmp_path, spec, prompt_for("shop"))) == []


def test_a_feature_name_longer_than_autoforge_stores(tmp_path):
    long_name = "User can " + "x" * 247  # 256 characters
    found = feature_problems(tmp_path, infrastructure(), category("Tasks", feature(6, long_name)))
    assert len(found) == 1
    assert found[0].startswith("app_spec.txt: feature 6 (")
    assert found[0].endswith(
        "its <name> is 256 characters; AutoForge takes at most 255: shorten it and put the detail in "
        "<description>"
    )
    ok = feature_problems(tmp_path / "ok", infrastructure(), category("Tasks", feature(6, long_name[:255])))
    assert ok == []


def test_a_category_name_longer_than_autoforge_stores(tmp_path):
    name = "C" * 101
    found = feature_problems(tmp_path, infrastructure(), category(name, feature(6), feature(7)))
    assert found == [
        'app_spec.txt: feature 6 ("User can do a thing"): its category name is 101 characters; AutoForge takes '
        "at most 100: shorten the category's name (it is every feature's category in it)"
    ]
    ok = feature_problems(tmp_path / "ok", infrastructure(), category(name[:100], feature(6), feature(7)))
    assert ok == []


# -- through the repair loop, with Slack and the real CLI ----------------------------

THIN = {  # how each thin spec is made from the example, and what Claude is told
    "tbd": (
        lambda spec: re.sub(r"<core_features>.*</core_features>", "<core_features>TBD</core_features>", spec,
                            flags=re.S),
        "<core_features> lists no features",
    ),
    "second-core-features": (
        lambda spec: spec.replace("<database_schema>", "<core_features>TBD</core_features>\n  <database_schema>"),
        "has 2 <core_features> sections",
    ),
    "placeholder": (
        lambda spec: spec.replace("<overview>", "<overview>\n    YOUR_PROJECT_NAME is", 1),
        "still has the template placeholder YOUR_PROJECT_NAME",
    ),
    "long-name": (
        lambda spec: spec.replace(
            "<name>Database connection established</name>", f"<name>Database connection {'y' * 240}</name>"
        ),
        "its <name> is 260 characters; AutoForge takes at most 255",
    ),
    "long-category": (
        lambda spec: spec.replace('<category name="Tasks">', f'<category name="{"T" * 101}">'),
        "its category name is 101 characters; AutoForge takes at most 100",
    ),
}


@pytest.mark.parametrize("kind", list(THIN))
async def test_a_thin_spec_goes_back_to_claude(start_bot, kind):
    h = await start_bot()
    project = h.project("shop")
    make_thin, problem = THIN[kind]
    thin = make_thin(spec_for("shop"))
    assert thin != spec_for("shop")
    told: list[str] = []

    def told_what_is_wrong(request: fa.ModelRequest) -> fa.Turn:
        told.append(request.last_user_text)
        return fa.tool("Write", {"file_path": str(project / "prompts/app_spec.txt"), "content": spec_for("shop")})

    h.model.script(
        str(project),
        [fa.text("Ready?"),
         fa.tool("Write", {"file_path": str(project / "prompts/app_spec.txt"), "content": thin}),
         fa.tool("Write", {"file_path": str(project / "prompts/initializer_prompt.md"),
                           "content": prompt_for("shop")}),
         fa.text("Written."), told_what_is_wrong, fa.text("Filled in the spec.")],
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Ready?")
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)
    await h.slack.wait_for(lambda: len(h.slack.uploads) == 2)
    thread = h.slack.thread_text("C1", root_ts)
    assert "Checking the spec" not in thread  # a task card in the repair's answer, not a note
    assert thread.index("Filled in the spec.") < thread.index("ready to build")  # fixed, then uploaded
    assert len(told) == 1 and problem in told[0]
    uploaded = {u.filename: u.content.decode() for u in h.slack.uploads}
    assert uploaded["app_spec.txt"] == spec_for("shop")
    card = await h.slack.wait_for(lambda: next((m for m in h.slack.messages if "*Validation*" in m.visible_text), None))
    assert ":white_check_mark: passed" in card.visible_text
    h.model.verify()


# -- what Claude and the initializer are told ----------------------------------------


def between(text: str, start: str, end: str) -> str:
    flat = " ".join(text.split()).lower()
    at = flat.index(start.lower())
    return flat[at : flat.index(end.lower(), at)]


def test_the_skill_and_the_initializer_template_agree_on_infrastructure_indices():
    skill = (REPO / ".claude/commands/create-spec.md").read_text(encoding="utf-8")
    template = (REPO / ".claude/templates/initializer_prompt.md").read_text(encoding="utf-8")
    # The skill: Infrastructure ids are never written in <depends_on>, and why.
    depends_on = between(skill, "`<depends_on>` (optional)", "`<steps>`")
    assert "never an infrastructure id" in depends_on and "refuses an index listed twice" in depends_on
    assert "none of them an infrastructure id" in between(skill, "4. Check your work", "5. Tell the team")
    # The initializer adds the infrastructure indices itself, each index once.
    rules = between(template, "### Dependencies", "When done")
    assert "have no dependencies" in rules and "every other feature depends on all of them" in rules
    assert "never lists an infrastructure id" in rules and "each index once" in rules
    # And names and categories fit what AutoForge stores.
    assert "at most 255 characters" in skill and "at most 100 characters" in skill
