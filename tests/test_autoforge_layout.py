"""A project AutoForge has already run: its spec lives in `.autoforge/prompts/`
(AutoForge moves `prompts/` there) and its features exist. The bot finds the spec
where AutoForge does, edits it there, and tells the team what edits can't change."""

from __future__ import annotations

from slackbot.slack.blocks import CONTINUE_ACTION, START_OVER_ACTION
from slackbot.spec.files import back_up_spec, prompts_dir, spec_paths
from tests.fakes import anthropic as fa
from tests.test_features_exist import features_db
from tests.test_interview_flow import prompt_for, spec_for


def migrated(project, features: bool = True):
    """The project as AutoForge leaves it after its first run."""
    live = project / ".autoforge" / "prompts"
    live.mkdir(parents=True)
    (live / "app_spec.txt").write_text(spec_for(project.name))
    (live / "initializer_prompt.md").write_text(prompt_for(project.name))
    if features:
        features_db(project, 8)
    return live


def test_the_spec_is_found_where_autoforge_looks(tmp_path):
    project = tmp_path / "shop"
    assert prompts_dir(project) == project / "prompts"  # a new project
    live = migrated(project)
    (project / "prompts").mkdir()  # a stale folder AutoForge no longer reads
    assert spec_paths(project) == (live / "app_spec.txt", live / "initializer_prompt.md")
    backup = back_up_spec(project)
    assert backup.parent == project / ".autoforge" and (backup / "app_spec.txt").is_file()


async def test_continuing_a_migrated_project_edits_the_live_spec_even_without_bot_state(start_bot):
    h = await start_bot()  # a fresh state folder: the bot has never seen this project
    project = h.project("shop")
    live = migrated(project)

    def edits_live(request: fa.ModelRequest) -> fa.Turn:
        assert str(live / "app_spec.txt") in request.last_user_text
        return fa.tool("Write", {"file_path": str(live / "app_spec.txt"), "content": spec_for("shop") + "\n"},
                       text_before="Updating the live spec.")

    h.model.script(str(project), [
        edits_live,
        fa.tool("Write", {"file_path": str(live / "initializer_prompt.md"), "content": prompt_for("shop")}),
        fa.text("Done: both files updated where AutoForge reads them."),
    ])
    await h.slack.send_slash_command("shop", user_id="U1", channel_id="C1")
    offer = await h.slack.wait_for(lambda: next(iter(h.slack.ephemerals(user="U1")), None))
    assert "already has a finished spec" in offer.text
    button = next(e for b in offer.blocks if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == CONTINUE_ACTION)
    await h.slack.send_action(CONTINUE_ACTION, button["value"], user_id="U1", channel_id="C1")
    root = await h.slack.wait_for(lambda: next((m for m in h.slack.messages if "*shop*" in m.text), None))
    await h.wait_for_text("C1", root.ts, "won't add, remove or rename features")
    await h.slack.wait_for(lambda: len(h.slack.uploads) == 2, timeout=30, what="the revised spec uploaded")
    assert not (project / "prompts").exists()  # nothing AutoForge would ignore
    assert {u.filename for u in h.slack.uploads} == {"app_spec.txt", "initializer_prompt.md"}
    assert "`shop/.autoforge/prompts/`" in h.slack.thread_text("C1", root.ts)  # where the files are


async def test_starting_over_backs_up_the_live_spec(start_bot):
    h = await start_bot()
    project = h.project("shop")
    migrated(project, features=False)
    h.model.script(str(project), [fa.text("Fresh start!")])
    await h.slack.send_slash_command("shop", user_id="U1", channel_id="C1")
    offer = await h.slack.wait_for(lambda: next(iter(h.slack.ephemerals(user="U1")), None))
    button = next(e for b in offer.blocks if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == START_OVER_ACTION)
    await h.slack.send_action(START_OVER_ACTION, button["value"], user_id="U1", channel_id="C1")
    await h.slack.wait_for(
        lambda: any("Fresh start!" in m.text for m in h.slack.messages), timeout=30, what="new thread"
    )
    (backup,) = (project / ".autoforge").glob("prompts.backup-*")
    assert (backup / "app_spec.txt").read_text() == spec_for("shop")
