"""AutoForge's first initializer run copies the spec to `<project>/app_spec.txt`, once,
and its coding agents read that copy. After a revision the bot (not Claude) refreshes
it and says so; `slackbot check` fails while it differs from the spec. The bot writes
only inside the project folder: a copy that is a link elsewhere is left alone."""

from __future__ import annotations

import shutil

from tests.conftest import Harness
from tests.fakes import anthropic as fa
from tests.test_check_json import check_json, run_check
from tests.test_handoff import revised_spec
from tests.test_interview_flow import prompt_for, spec_for
from tests.test_validate import make


def as_autoforge_leaves_it(project) -> None:
    """AutoForge's first run: `prompts/` moves to `.autoforge/prompts/`, and the
    initializer copies the spec to the project root (only when none is there)."""
    (project / ".autoforge").mkdir(exist_ok=True)
    (project / "prompts").rename(project / ".autoforge" / "prompts")
    if not (project / "app_spec.txt").exists():
        shutil.copy(project / ".autoforge/prompts/app_spec.txt", project / "app_spec.txt")


async def written_then_revised(h: Harness, between) -> list[str]:
    """An interview that writes the spec, then (after `between(project)`) revises it where
    AutoForge moved it; returns its two cards' texts."""
    project = h.project("shop")
    first, live = project / "prompts", project / ".autoforge/prompts"
    h.model.script(str(project), [
        fa.text("Ready?"),
        fa.tool("Write", {"file_path": str(first / "app_spec.txt"), "content": spec_for("shop")}),
        fa.tool("Write", {"file_path": str(first / "initializer_prompt.md"), "content": prompt_for("shop")}),
        fa.text("Written."),
        fa.tool("Write", {"file_path": str(live / "app_spec.txt"), "content": revised_spec()}),
        fa.tool("Write", {"file_path": str(live / "initializer_prompt.md"), "content": prompt_for("shop", 9)}),
        fa.text("Revised."),
    ])
    root = await h.start_interview("shop")
    await h.wait_for_text("C1", root, "Ready?")
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root)

    def cards():
        return [m.visible_text for m in h.slack.thread("C1", root) if m.files]  # the completion messages

    await h.slack.wait_for(cards, what="the first card")
    between(project)
    await h.slack.send_message("C1", "U1", "please add renaming and undo on delete", thread_ts=root)
    await h.slack.wait_for(lambda: len(cards()) == 2, what="the second card")
    return cards()


async def test_a_revision_refreshes_the_root_copy_and_says_so(start_bot):
    h = await start_bot()
    cards = await written_then_revised(h, as_autoforge_leaves_it)
    project = h.project("shop")
    assert (project / "app_spec.txt").read_text() == revised_spec()
    assert "Refreshed" not in cards[0]  # no copy yet at the first delivery
    assert f"Refreshed `{project / 'app_spec.txt'}`" in cards[1]
    assert check_json(project)[0] == 0


async def test_a_root_copy_linking_outside_the_project_is_not_followed(start_bot, tmp_path):
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not the bot's to change")

    def link_out(project):
        (project / "app_spec.txt").symlink_to(outside)
        as_autoforge_leaves_it(project)

    h = await start_bot()
    cards = await written_then_revised(h, link_out)
    project = h.project("shop")
    assert outside.read_text() == "not the bot's to change"
    assert (project / "app_spec.txt").is_symlink() and (project / "app_spec.txt").resolve() == outside
    assert "links outside the project folder" in cards[1] and "Refreshed" not in cards[1]


def test_check_fails_on_a_stale_root_copy(tmp_path):
    project = make(tmp_path, revised_spec(), prompt_for("shop", 9))
    (project / "app_spec.txt").write_text(spec_for("shop"))  # AutoForge's copy of the first spec
    code, out = check_json(project)
    assert code == 1 and out["ok"] is False
    (problem,) = out["problems"]
    assert problem["file"] == "app_spec.txt" and str(project / "app_spec.txt") in problem["message"]
    assert "differs from" in problem["message"]
    plain = run_check(project)
    assert plain.returncode == 1 and "differs from" in plain.stdout
    (project / "app_spec.txt").write_text(revised_spec())
    assert check_json(project)[0] == 0


def test_check_fails_on_a_root_copy_linking_outside(tmp_path):
    project = make(tmp_path, spec_for("shop"), prompt_for("shop"))
    outside = tmp_path / "elsewhere.txt"
    outside.write_text(spec_for("shop"))  # same text, but not a file AutoForge's copy should be
    (project / "app_spec.txt").symlink_to(outside)
    code, out = check_json(project)
    assert code == 1 and "links outside the project folder" in out["problems"][0]["message"]
