"""The end of an interview as the thread shows it: the spec is checked (and repaired) inside
one answer, as task cards; "ready" is said once, after the check; and one completion
message carries the files, the summary, the starter's mention and what to do next."""

from __future__ import annotations

from slackbot.slack.relay.completion import headline
from tests.conftest import Harness, people_said
from tests.fakes import anthropic as fa
from tests.fakes.slack import Message
from tests.test_interview_flow import prompt_for, spec_for

WRITTEN = "Both files are written."


def write_spec(h: Harness, spec: str) -> list[fa.Step]:
    project = h.project("shop")
    return [
        fa.tool("Write", {"file_path": str(project / "prompts/app_spec.txt"), "content": spec}),
        fa.tool("Write", {"file_path": str(project / "prompts/initializer_prompt.md"), "content": prompt_for("shop")}),
        fa.text(WRITTEN),
    ]


def buttons(message: Message) -> dict[str, str]:
    """The message's buttons: their label and action id."""
    return {
        element["text"]["text"]: element["action_id"]
        for block in message.blocks or [] if block.get("type") == "actions"
        for element in block.get("elements", [])
    }


def usage_of(message: Message) -> str:
    """The completion message's small print: where the spec is, then the model usage."""
    (context,) = [b for b in message.blocks or [] if b["type"] == "context"]
    return context["elements"][0]["text"]


async def build_steps(h: Harness, message: Message, user: str = "U1") -> str:
    """What How to build shows `user` (to them alone)."""
    shown = len(h.slack.ephemerals(user=user))
    await h.slack.send_action(buttons(message)["How to build"], user_id=user, message_ts=message.ts)
    steps = await h.slack.wait_for(lambda: h.slack.ephemerals(user=user)[shown:], what="the steps")
    return steps[0].text


async def completed(h: Harness, root_ts: str) -> Message:
    """The thread's last message once it carries the spec's files and its buttons."""
    def done() -> Message | None:
        thread = h.slack.thread("C1", root_ts)
        last = thread[-1] if thread else None
        return last if last is not None and last.files and buttons(last) else None

    return await h.slack.wait_for(done, what="the completion message")


async def finished_interview(h: Harness, spec: str, *after: fa.Step, user: str = "U2") -> tuple[str, Message]:
    h.model.script(str(h.project("shop")), [fa.text("Shall I write it?"), *write_spec(h, spec), *after])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Shall I write it?")
    await h.slack.send_message("C1", user, "Yes, write it.", thread_ts=root_ts)
    await h.slack.wait_for(lambda: len(h.slack.uploads) == 2, what="both files uploaded")
    return root_ts, await completed(h, root_ts)


async def test_a_plain_interview_ends_with_one_completion_message(start_bot):
    h = await start_bot()
    root_ts, done = await finished_interview(h, spec_for("shop"))

    thread = h.slack.thread("C1", root_ts)
    answer = next(m for m in thread if WRITTEN in m.visible_text)
    after = thread[thread.index(answer) + 1 :]
    assert after == [done], [m.visible_text for m in after]  # nothing but the completion message
    assert sorted(f["name"] for f in done.files) == ["app_spec.txt", "initializer_prompt.md"]
    assert "<@U1>" in done.visible_text  # the starter is notified (U2 answered)
    assert set(buttons(done)) == {"Request changes", "How to build"}
    assert done.visible_text.startswith("*shop* — 8 features, ready to build")
    assert "`shop/prompts/`" in done.visible_text and str(h.generations) not in done.visible_text
    assert "autonomous_agent_demo" not in done.visible_text  # the hand-off steps are behind a button
    usage = usage_of(done)  # small print
    assert " model turns · " in usage and " tokens in · " in usage and "$" in usage
    text = h.slack.thread_text("C1", root_ts)
    assert text.count("ready") == 1 and text.index("ready") > text.index(WRITTEN)
    upload = h.slack.calls_to("files.completeUploadExternal")[0].args
    assert not upload.get("initial_comment")  # it would make Slack drop the blocks


async def test_a_spec_with_a_problem_is_repaired_inside_one_answer(start_bot):
    h = await start_bot(streaming=True)
    project = h.project("shop")
    thin = spec_for("shop").replace("<overview>", "<overview>\n    YOUR_PROJECT_NAME is", 1)
    fix = fa.tool("Write", {"file_path": str(project / "prompts/app_spec.txt"), "content": spec_for("shop")})
    # Only the starter in the thread: the answer streams, with task cards (Slack shows a
    # stream growing to its recipient alone, so with others it is posted and updated).
    root_ts, done = await finished_interview(h, thin, fix, fa.text("Filled in the spec."), user="U1")

    thread = h.slack.thread("C1", root_ts)
    text = h.slack.thread_text("C1", root_ts)
    assert "Checking the spec…" not in text  # no note of its own
    (repair,) = [m for m in thread if "Filled in the spec." in m.visible_text]
    cards = [task["title"] for task in repair.tasks.values()]
    assert cards[:2] == ["Checking the spec", "Fixing 1 problem"], cards
    assert cards[-1] == "Checking the spec"  # again, after the fix: passed
    statuses = [task["status"] for task in repair.tasks.values()]
    assert statuses[0] == "error" and statuses[-1] == "complete", statuses
    after = thread[thread.index(repair) + 1 :]
    assert after == [done], [m.visible_text for m in after]
    assert text.count("ready") == 1 and text.index("ready") > text.index("Filled in the spec.")


async def test_request_changes_reaches_claude_and_how_to_build_shows_the_steps(start_bot):
    h = await start_bot()
    root_ts, done = await finished_interview(h, spec_for("shop"), fa.text("What would you like to change?"))
    ids = buttons(done)

    steps = await build_steps(h, done, "U2")
    assert f"autonomous_agent_demo.py --project-dir {h.project('shop')}" in steps
    assert h.slack.thread("C1", root_ts)[-1] == done  # to the clicker alone

    await h.slack.send_action(ids["Request changes"], user_id="U2", message_ts=done.ts)
    await h.wait_for_text("C1", root_ts, "What would you like to change?")
    assert "change the spec" in people_said(h.model.requests[-1])
    assert h.model.requests[-1].last_user_text.count("change the spec") == 1


async def test_in_an_owner_only_thread_others_cannot_request_changes(start_bot):
    h = await start_bot(env={"NEWSPEC_THREAD_OWNER_ONLY": "1"})
    root_ts, done = await finished_interview(h, spec_for("shop"), user="U1")
    asked = len(h.model.requests)
    await h.slack.send_action(buttons(done)["Request changes"], user_id="U2", message_ts=done.ts)
    (note,) = await h.slack.wait_for(lambda: h.slack.ephemerals(user="U2"), what="the refusal")
    assert "Only <@U1>" in note.text
    record = await h.bot.store.get_interview("C1", root_ts)
    assert len(h.model.requests) == asked and record.status.value == "complete"  # nothing passed on


def test_the_headline_counts_features_and_problems():
    assert headline("shop", 8, 0) == "shop — 8 features, ready to build"
    assert headline("shop", 1, 2) == "shop — 1 feature, delivered with 2 problems"
    assert headline("shop", None, 1) == "shop — features not stated, delivered with 1 problem"
