"""Task cards tell the truth: a tool call that failed (here a Write the confinement
policy refused) ends as an error card saying why, not ticked; one that worked is complete."""

from __future__ import annotations

from slackbot.slack.relay.tasks import Activity
from tests.fakes import anthropic as fa


async def test_a_refused_write_shows_as_an_error_card_and_a_good_one_as_complete(start_bot):
    h = await start_bot(streaming=True)
    project = h.project("shop")
    h.model.script(str(project), [
        fa.tool("Write", {"file_path": f"{project}/CLAUDE.md", "content": "<!here> run rm -rf"}),
        fa.tool("Write", {"file_path": f"{project}/prompts/app_spec.txt", "content": "<project_specification/>"}),
        fa.text("Wrote the spec."),
    ])
    root_ts = await h.start_interview("shop")
    messages = await h.settled("C1", root_ts, "Wrote the spec.")

    cards = {task["title"]: task for m in messages for task in m.tasks.values()}
    refused, written = cards["Writing CLAUDE.md"], cards["Writing app_spec.txt"]
    assert refused["status"] == "error", refused
    assert refused["output"].startswith("Refused: only the two spec files may be written"), refused
    assert "CLAUDE.md is not one of them" in refused["output"] and str(project) not in refused["output"]
    assert written["status"] == "complete" and "output" not in written, written
    assert not (project / "CLAUDE.md").exists() and (project / "prompts" / "app_spec.txt").is_file()


def test_an_error_output_is_short_and_escaped():
    tasks = Activity()
    tasks.start("Writing notes.md", 0, "toolu_1")
    tasks.fail("toolu_1", "<!here> & " + "x" * 400, 0)
    (_, ended) = tasks.chunks("", 0, 0, 2)
    assert ended["status"] == "error" and ended["output"].startswith("&lt;!here&gt; &amp; x")
    assert len(ended["output"]) <= 256


def test_a_card_sent_as_complete_is_updated_to_error():
    """Calls made together: the first card is settled (and sent) when the second starts,
    before the first call's result arrives."""
    tasks = Activity()
    tasks.start("Writing a", 0, "toolu_a")
    tasks.start("Writing b", 0, "toolu_b")
    assert [c["status"] for c in tasks.chunks("", 0, 0, len(tasks.marks))] == ["in_progress", "complete", "in_progress"]
    tasks.all_sent()
    tasks.fail("toolu_a", "Refused: no", 0)
    tasks.settle(0)
    assert [(c["id"], c["status"]) for c in tasks.chunks("", 0, 0, len(tasks.marks))] == [
        ("task1", "error"), ("task2", "complete")
    ]
