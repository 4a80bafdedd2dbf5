"""The skill's file instructions, followed to the letter through the real CLI, pass
our confinement policy: a refused call is a wasted turn (and money) in every
interview. The calls are parsed from the system prompt Claude actually gets, so
these tests follow the skill when its wording changes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from slackbot.claude.cli_options import SessionSettings
from slackbot.spec.files import APP_SPEC, INITIALIZER_PROMPT, PROMPTS_FOLDERS, spec_paths
from tests.test_confinement import attempt_all

GLOB_CHARS = re.compile(r"[*?\[]")


def _skill(settings: SessionSettings, project: Path) -> str:
    return " ".join(settings.system_prompt(project).split())  # one line: instructions wrap


def _spans(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def glob_calls(skill: str) -> list[dict[str, str]]:
    """The Glob calls step 1 of "Writing the files" asks for: spans with glob
    characters are patterns; a plain path among them is the `path` argument."""
    step = re.search(r"## Writing the files .*? 1\. (Glob .*?) 2\. ", skill)
    assert step, "the skill no longer says how to Glob for PROMPTS"
    spans = [s for s in _spans(step.group(1)) if s != "path"]
    patterns = [s for s in spans if GLOB_CHARS.search(s)]
    paths = [s for s in spans if not GLOB_CHARS.search(s)]
    assert patterns and len(paths) <= 1, spans
    return [{"pattern": p, **({"path": paths[0]} if paths else {})} for p in patterns]


def prompts_folders(skill: str, project: Path) -> list[Path]:
    """The prompts folders the skill's setup names, in the order it gives them."""
    bullet = re.search(r"- Prompts folder .*?(?= - )", skill)
    assert bullet, "the skill no longer says where PROMPTS is"
    named = [Path(s) for s in _spans(bullet.group(0)) if s.startswith(f"{project}/")]
    return list(dict.fromkeys(named))


@pytest.fixture(params=[rel.as_posix() for rel in PROMPTS_FOLDERS])
def project(request, tmp_path: Path) -> Path:
    """A project whose prompts folder is where AutoForge left it, with both spec files in it."""
    project = tmp_path / "generations" / "shop"
    folder = project / request.param
    folder.mkdir(parents=True)
    (folder / APP_SPEC).write_text("<project_specification/>")
    (folder / INITIALIZER_PROMPT).write_text("Create exactly 1 feature.")
    return project


def test_the_skill_names_the_prompts_folders_in_autoforge_order(session_settings, tmp_path):
    project = tmp_path / "shop"
    assert prompts_folders(_skill(session_settings, project), project) == [project / r for r in PROMPTS_FOLDERS]


async def test_the_skill_glob_for_prompts_is_allowed_and_finds_the_files(model, session_settings, project):
    calls = glob_calls(_skill(session_settings, project))
    results, _ = await attempt_all(model, session_settings, project, [("Glob", call) for call in calls], "Done.")
    assert len(results) == len(calls)
    assert not any(r.is_error for r in results), [r.content_text[:200] for r in results]
    # The CLI lists matches relative to the working directory (the project).
    found = {(project / line).resolve() for r in results for line in r.content_text.splitlines()}
    assert {target.resolve() for target in spec_paths(project)} <= found, found


async def test_the_skills_reads_and_writes_are_allowed(model, session_settings, project):
    """Steps 1 to 4 of "Writing the files": read the templates, write both files into
    PROMPTS (found as the skill says), read them back, fix with Edit."""
    skill = _skill(session_settings, project)
    folder = next((f for f in prompts_folders(skill, project) if f.is_dir()), project / "prompts")
    under = str(session_settings.templates_dir) + "/"
    templates = [s for s in dict.fromkeys(_spans(skill)) if s.startswith(under)]
    assert len(templates) == 2, templates
    spec, prompt = folder / APP_SPEC, folder / INITIALIZER_PROMPT
    calls = [("Read", {"file_path": t}) for t in templates]
    calls += [("Read", {"file_path": str(spec)}), ("Read", {"file_path": str(prompt)})]  # read before overwrite
    calls += [
        ("Write", {"file_path": str(spec), "content": "<project_specification>1</project_specification>"}),
        ("Write", {"file_path": str(prompt), "content": "Create exactly 1 feature."}),
        ("Read", {"file_path": str(spec)}),
        ("Edit", {"file_path": str(spec), "old_string": ">1<", "new_string": ">2<"}),
    ]
    results, _ = await attempt_all(model, session_settings, project, calls, "Done.")
    assert len(results) == len(calls)
    assert not any(r.is_error for r in results), [r.content_text[:200] for r in results]
    assert spec.read_text() == "<project_specification>2</project_specification>"
    assert spec in spec_paths(project)
