"""The hand-off: the completion message says what the spec holds by category and what
the team's latest answers changed; its How to build button, how to build it with AutoForge."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from slackbot.spec.handoff import build_command, by_category, compare
from tests.fakes import anthropic as fa
from tests.test_completion import build_steps, completed
from tests.test_interview_flow import prompt_for, spec_for

NEW_FEATURE = """      <feature id="9">
        <name>User can rename a task</name>
        <description>Double-clicking a task's title edits it in place; Enter saves, Escape cancels.</description>
        <depends_on>6</depends_on>
        <steps>
          <step>Add a task "Typo"</step>
          <step>Double-click it, type "Fixed" and press Enter</step>
          <step>Reload the page and check it reads "Fixed"</step>
        </steps>
      </feature>
    </category>
  </core_features>"""


def revised_spec() -> str:
    """The example spec after the team's changes: one feature reworded, one added."""
    spec = spec_for("shop").replace("User can delete a task after confirming", "User can delete a task, with undo")
    spec = spec.replace("    </category>\n  </core_features>", NEW_FEATURE, 1)
    return spec.replace("<feature_count>8</feature_count>", "<feature_count>9</feature_count>")


def test_changes_name_what_was_added_removed_and_renamed():
    before = ["Login", "Add task", "Delete task", "Export"]
    after = ["Login", "Add task", "Delete task with undo", "Share list", "Tags"]
    changes = compare(before, after)
    assert changes.renamed == [("Delete task", "Delete task with undo")]
    assert changes.removed == ["Export"] and changes.added == ["Share list", "Tags"]
    assert (changes.before, changes.after) == (4, 5) and changes.any
    assert not compare(before, before).any


def test_categories_are_counted_in_document_order(tmp_path):
    features = [{"category": "Infrastructure"}] * 5 + [{"category": "Tasks"}] * 3 + [{"category": "Infrastructure"}]
    assert by_category(features) == [("Infrastructure", 6), ("Tasks", 3)]
    assert build_command(tmp_path) == f"python autonomous_agent_demo.py --project-dir {tmp_path}"


async def test_the_card_says_how_to_build_and_a_revision_says_what_changed(start_bot):
    h = await start_bot()
    project = h.project("shop")
    spec, prompt = project / "prompts/app_spec.txt", project / "prompts/initializer_prompt.md"
    h.model.script(str(project), [
        fa.text("Ready?"),
        fa.tool("Write", {"file_path": str(spec), "content": spec_for("shop")}),
        fa.tool("Write", {"file_path": str(prompt), "content": prompt_for("shop")}),
        fa.text("Written."),
        fa.tool("Write", {"file_path": str(spec), "content": revised_spec()}),
        fa.tool("Write", {"file_path": str(prompt), "content": prompt_for("shop", 9)}),
        fa.text("Revised."),
    ])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Ready?")
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)

    def cards():
        return [m for m in h.slack.thread("C1", root_ts) if m.files]  # the completion messages

    done = (await h.slack.wait_for(cards, what="the first card"))[0]
    first, steps = done.visible_text, await build_steps(h, done)
    assert f"--project-dir {project}" in steps and "--project-dir" not in first  # behind How to build
    assert "Infrastructure 5 · Tasks 3" in first
    assert "Since the last upload" not in first
    assert "Edit Templates Manually" in steps and "Create with Claude" in steps  # AutoForge's web UI route
    assert "  - name: sqlite3" in steps  # the example's SQLite: AutoForge's hook refuses sqlite3 by default

    await h.slack.send_message("C1", "U1", "please add renaming and undo on delete", thread_ts=root_ts)
    await h.slack.wait_for(lambda: len(cards()) == 2, what="the second card")
    second = cards()[1].visible_text
    assert "8 → 9 features" in second
    assert "added User can rename a task" in second
    assert "renamed User can delete a task after confirming → User can delete a task, with undo" in second


async def test_a_forward_dependency_goes_back_to_claude_with_the_feature_named(start_bot):
    h = await start_bot()
    project = h.project("shop")
    spec, prompt = project / "prompts/app_spec.txt", project / "prompts/initializer_prompt.md"
    forward = spec_for("shop").replace("<depends_on>6</depends_on>", "<depends_on>8</depends_on>", 1)
    told: list[str] = []

    def told_what_to_fix(request: fa.ModelRequest) -> fa.Turn:
        told.append(request.last_user_text)
        return fa.tool("Write", {"file_path": str(spec), "content": spec_for("shop")})

    h.model.script(str(project), [
        fa.text("Ready?"),
        fa.tool("Write", {"file_path": str(spec), "content": forward}),
        fa.tool("Write", {"file_path": str(prompt), "content": prompt_for("shop")}),
        fa.text("Written."),
        told_what_to_fix,
        fa.text("Fixed the dependency."),
    ])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Ready?")
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)
    await h.slack.wait_for(lambda: len(h.slack.uploads) == 2, timeout=30, what="the fixed spec uploaded")
    assert "feature 7" in told[0] and "feature 8" in told[0] and "comes after it" in told[0]
    assert {u.filename: u.content.decode() for u in h.slack.uploads}["app_spec.txt"] == spec_for("shop")


async def test_a_long_stack_still_shows_the_card_within_slacks_field_limits(start_bot):
    """A section field holds at most 2,000 characters: a stack described at length is
    shortened on the card, never a card Slack refuses."""
    framework = "React with " + ", ".join(f"library{n}" for n in range(400))  # about 4,000 characters
    _, card = await card_for(start_bot, lambda spec: spec.replace("<framework>", f"<framework>{framework} ", 1))
    assert "React with library0, library1" in card and "library399" not in card


async def test_the_card_says_which_commands_to_allow_and_how_to_open_the_project_in_the_web_ui(start_bot):
    """A Python and PostgreSQL stack: AutoForge's agent can't run psql, python or pip
    until its allowlist names them, so the card gives the lines for that file (the bot
    never writes it), and both ways to run AutoForge."""
    project, card = await card_for(start_bot, lambda spec: spec.replace(
        "Node.js 20 with Express and TypeScript", "Python 3.12 with FastAPI", 1
    ).replace("SQLite via better-sqlite3, file at ./data/todo.db", "PostgreSQL 16", 1), steps=True)
    allowlist = "version: 1\ncommands:\n  - name: psql\n    description: PostgreSQL client\n  - name: python\n"
    assert allowlist in card and "  - name: pip\n" in card and "sqlite3" not in card
    assert f"{project}/.autoforge/allowed_commands.yaml" in card
    assert "never" in card  # the bot leaves that file to people
    assert "New Project" in card and "Edit Templates Manually" in card
    assert "Create with Claude" in card and "deletes" in card
    assert f"python autonomous_agent_demo.py --project-dir {project}" in card
    assert not (project / ".autoforge/allowed_commands.yaml").exists()


async def card_for(start_bot, edit: Callable[[str], str], steps: bool = False) -> tuple[Path, str]:
    """Claude writes the sample spec changed by `edit` once the team says yes: the
    project folder, and the completion message as people see it (with `steps`, what
    How to build shows instead)."""
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [
        fa.text("Ready?"),
        fa.tool("Write", {"file_path": str(project / "prompts/app_spec.txt"), "content": edit(spec_for("shop"))}),
        fa.tool("Write", {"file_path": str(project / "prompts/initializer_prompt.md"), "content": prompt_for("shop")}),
        fa.text("Written."),
    ])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Ready?")
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)
    card = await completed(h, root_ts)
    return project, await build_steps(h, card) if steps else card.visible_text
