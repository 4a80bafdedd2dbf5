"""Project names and the rule for when a spec counts as written."""

from pathlib import Path

import pytest

from slackbot.spec.files import InvalidName, SpecTracker, check_name, project_dir


@pytest.mark.parametrize("text", ["myapp", "todo-app", "A_b-9", "x" * 50, "  padded  "])
def test_valid_names_are_accepted(text):
    assert check_name(text) == text.strip()


@pytest.mark.parametrize(
    "text",
    ["", "   ", "my app", "../x", "a/b", "x" * 51, "café", "名前", "a.b", "$(rm)", "..", "-\n-"],
)
def test_invalid_names_say_what_a_valid_name_looks_like(text):
    with pytest.raises(InvalidName) as problem:
        check_name(text)
    assert "letters" in str(problem.value) and "`-`" in str(problem.value)


def test_project_dir_is_inside_generations(tmp_path):
    assert project_dir(tmp_path, "app") == (tmp_path / "app").resolve()
    with pytest.raises(InvalidName):
        project_dir(tmp_path, "../escape")


def _write(tracker: SpecTracker, tool_id: str, rel: str, ok: bool = True, tool: str = "Write") -> None:
    path = tracker.project / rel
    tracker.tool_called(tool_id, tool, {"file_path": str(path), "content": "x"})
    if ok:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    tracker.tool_finished(tool_id, is_error=not ok)


def test_spec_is_complete_once_both_files_are_confirmed(tmp_path):
    tracker = SpecTracker(tmp_path)
    _write(tracker, "t1", "prompts/app_spec.txt")
    assert tracker.take_completion() is None  # one file is not a spec
    _write(tracker, "t2", "prompts/initializer_prompt.md", tool="Edit")
    files = tracker.take_completion()
    assert files is not None and [f.name for f in files] == ["app_spec.txt", "initializer_prompt.md"]
    assert tracker.take_completion() is None  # reported once


def test_a_failed_write_does_not_count(tmp_path):
    tracker = SpecTracker(tmp_path)
    _write(tracker, "t1", "prompts/app_spec.txt")
    _write(tracker, "t2", "prompts/initializer_prompt.md", ok=False)
    assert tracker.take_completion() is None


def test_other_files_and_unmatched_results_do_not_count(tmp_path):
    tracker = SpecTracker(tmp_path)
    _write(tracker, "t1", "prompts/app_spec.txt")
    _write(tracker, "t2", "notes/initializer_prompt.md")
    tracker.tool_finished("never-called", is_error=False)
    assert tracker.take_completion() is None


def test_relative_paths_resolve_against_the_project(tmp_path):
    tracker = SpecTracker(tmp_path)
    for tool_id, rel in (("a", "prompts/app_spec.txt"), ("b", "prompts/../prompts/initializer_prompt.md")):
        (tmp_path / "prompts").mkdir(exist_ok=True)
        (tmp_path / rel).write_text("x")
        tracker.tool_called(tool_id, "Write", {"file_path": rel})
        tracker.tool_finished(tool_id, is_error=False)
    assert tracker.take_completion() is not None


def test_a_rewrite_after_completion_is_reported_again(tmp_path):
    tracker = SpecTracker(tmp_path)
    _write(tracker, "t1", "prompts/app_spec.txt")
    _write(tracker, "t2", "prompts/initializer_prompt.md")
    assert tracker.take_completion() is not None
    _write(tracker, "t3", "prompts/app_spec.txt", tool="Edit")
    assert tracker.take_completion() is not None


def test_a_deleted_file_is_not_complete(tmp_path):
    tracker = SpecTracker(tmp_path)
    _write(tracker, "t1", "prompts/app_spec.txt")
    _write(tracker, "t2", "prompts/initializer_prompt.md")
    Path(tmp_path / "prompts/app_spec.txt").unlink()
    assert tracker.take_completion() is None
