"""Spec validation: what makes a spec buildable, reported precisely."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from slackbot.slack_text import escape
from slackbot.validate import REQUIRED_SECTIONS, validate_spec
from tests.test_interview_flow import prompt_for, spec_for


def make(tmp_path: Path, spec: str | None = None, prompt: str | None = None, name: str = "shop") -> Path:
    project = tmp_path / name
    (project / "prompts").mkdir(parents=True)
    if spec is not None:
        (project / "prompts/app_spec.txt").write_text(spec)
    if prompt is not None:
        (project / "prompts/initializer_prompt.md").write_text(prompt)
    return project


def messages(project: Path) -> list[str]:
    return [str(p) for p in validate_spec(project)]


def test_a_good_spec_passes(tmp_path):
    assert messages(make(tmp_path, spec_for("shop"), prompt_for("shop"))) == []


@pytest.mark.parametrize("section", REQUIRED_SECTIONS)
def test_each_missing_section_is_named(tmp_path, section):
    spec = re.sub(rf"\s*<{section}>.*?</{section}>", "", spec_for("shop"), flags=re.S)
    found = messages(make(tmp_path, spec, prompt_for("shop")))
    assert f"app_spec.txt: the <{section}> section is missing" in found


def test_wrong_feature_count(tmp_path):
    spec = spec_for("shop").replace("<feature_count>8</feature_count>", "<feature_count>12</feature_count>")
    found = messages(make(tmp_path, spec, prompt_for("shop", 12)))
    assert found == ["app_spec.txt: <feature_count> is 12 but <core_features> lists 8 <feature> elements"]


@pytest.mark.parametrize("value", ["0", "-3", "eight", ""])
def test_feature_count_must_be_a_positive_number(tmp_path, value):
    spec = spec_for("shop").replace("<feature_count>8</feature_count>", f"<feature_count>{value}</feature_count>")
    found = messages(make(tmp_path, spec, prompt_for("shop")))
    assert found == [f"app_spec.txt: <feature_count> must be a positive whole number, not {value!r}"]


def test_bad_xml_says_where(tmp_path):
    spec = spec_for("shop").replace("<overview>", "<overview>Fast & simple", 1)
    (problem,) = messages(make(tmp_path, spec, prompt_for("shop")))
    line = spec[: spec.index("Fast & simple")].count("\n") + 1
    assert problem.startswith(f"app_spec.txt: is not well-formed XML at line {line}, column")
    assert "&amp;" in problem


def test_project_name_must_match_the_folder(tmp_path):
    found = messages(make(tmp_path, spec_for("other"), prompt_for("shop")))
    assert found == ["app_spec.txt: <project_name> is 'other' but the project folder is 'shop'"]


def test_wrong_root(tmp_path):
    spec = spec_for("shop").replace("project_specification>", "spec>")
    assert "app_spec.txt: the root element is <spec>; it must be <project_specification>" in messages(
        make(tmp_path, spec, prompt_for("shop"))
    )


def test_placeholder_left_in_the_prompt(tmp_path):
    prompt = prompt_for("shop").replace("exactly 8 features", "exactly {{FEATURE_COUNT}} features", 1)
    found = messages(make(tmp_path, spec_for("shop"), prompt))
    assert found == ["initializer_prompt.md: still has the template placeholder {{FEATURE_COUNT}}"]


def test_prompt_must_state_the_same_count(tmp_path):
    found = messages(make(tmp_path, spec_for("shop"), prompt_for("shop", 9)))
    assert found == [
        "initializer_prompt.md: does not state the feature count 8",
        "initializer_prompt.md: says exactly 9 where the spec's feature count is 8",
    ]


def test_missing_files(tmp_path):
    assert messages(make(tmp_path)) == [
        f"app_spec.txt: is missing (expected at {tmp_path / 'shop/prompts/app_spec.txt'})",
        f"initializer_prompt.md: is missing (expected at {tmp_path / 'shop/prompts/initializer_prompt.md'})",
    ]


def test_check_command_exit_codes(tmp_path):
    good = make(tmp_path, spec_for("shop"), prompt_for("shop"))
    bad = make(tmp_path, spec_for("blog"), prompt_for("blog", 3), name="blog")
    ok = subprocess.run([sys.executable, "-m", "slackbot", "check", str(good)], capture_output=True, text=True)
    assert ok.returncode == 0 and "looks buildable" in ok.stdout
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
    assert "Checking the spec… fixing 1 problem." in thread and "Fixed the feature count." in thread
    assert thread.index("Fixed the feature count.") < thread.index("is ready")  # fixed, then uploaded
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
    assert thread.count("Checking the spec… fixing 1 problem.") == 2
    assert "still has problems" in thread
    # Escaped for Slack, which shows it as typed.
    assert escape("<feature_count> is 12 but <core_features> lists 8 <feature> elements") in thread
    card = await h.slack.wait_for(lambda: next((m for m in h.slack.messages if "*Validation*" in m.visible_text), None))
    assert ":warning: 1 problem" in card.visible_text
    assert len(h.slack.uploads) == 2  # uploaded once, with the warning
    h.model.verify()
