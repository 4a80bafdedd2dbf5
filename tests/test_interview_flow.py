"""/newspec end to end: real Bolt + slack_sdk against the fake Slack, real claude CLI
against the scripted model. Assertions are on what people see in Slack."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, people_said
from tests.fakes import anthropic as fa

EXAMPLE_SPEC = (REPO / ".claude/templates/app_spec_example.txt").read_text()
TEMPLATE = (REPO / ".claude/templates/initializer_prompt.md").read_text()


def spec_for(name: str) -> str:
    start = EXAMPLE_SPEC.index("<project_name>") + len("<project_name>")
    end = EXAMPLE_SPEC.index("</project_name>")
    return EXAMPLE_SPEC[:start] + name + EXAMPLE_SPEC[end:]


def prompt_for(name: str, count: int = 8) -> str:
    return TEMPLATE.replace("{{PROJECT_NAME}}", name).replace("{{FEATURE_COUNT}}", str(count))


def finished_spec(project: Path) -> None:
    """The project folder as an earlier interview left it: both spec files written."""
    (project / "prompts").mkdir(parents=True, exist_ok=True)
    (project / "prompts/app_spec.txt").write_text(spec_for(project.name))
    (project / "prompts/initializer_prompt.md").write_text(prompt_for(project.name))


def write_both(project: Path) -> list[fa.Step]:
    """The model's turn after the team confirms: write the spec, then the prompt."""
    return [
        fa.tool(
            "Write",
            {"file_path": str(project / "prompts/app_spec.txt"), "content": spec_for(project.name)},
            text_before="Great, writing the spec now.",
        ),
        fa.tool(
            "Write",
            {
                "file_path": str(project / "prompts/initializer_prompt.md"),
                "content": prompt_for(project.name),
            },
        ),
        fa.text("The spec is ready: **8 features** in 3 categories."),
    ]


async def test_happy_path_greeting_reply_spec_uploaded_once(start_bot):
    h = await start_bot()
    project = h.project("shop")
    greeting = "Hi team! Let's spec **shop**.\n\nWhat are you building, and who will use it?"
    h.model.script(
        str(project),
        [
            fa.text(greeting, chunk_size=8, delay=0.02),
            *write_both(project),
            fa.text("Happy building!"),
        ],
    )

    delivery = await h.slack.send_slash_command("shop", user_id="U1", channel_id="C1")
    assert delivery.ack == {}  # a valid name is acked silently; the thread does the talking
    root = await h.slack.wait_for(lambda: next((m for m in h.slack.messages if "*shop*" in m.text), None))
    assert root.text.startswith("Spec interview for *shop*, started by <@U1>: ")  # and where it stands
    assert root.thread_ts is None  # a new message in the channel, the thread's root

    # The greeting arrives without anyone typing, streamed natively as Markdown.
    await h.wait_for_text("C1", root.ts, "What are you building, and who will use it?")
    (greeting_message,) = h.answers("C1", root.ts)
    assert greeting_message.text == greeting
    assert greeting_message.streamed and h.slack.calls_to("chat.startStream")
    assert h.slack.calls_to("chat.startStream")[0].args["recipient_user_id"] == "U1"

    await h.slack.send_message("C1", "U2", "A web shop for our bakery. Yes, write it.", thread_ts=root.ts)
    await h.slack.wait_for(lambda: len(h.slack.uploads) == 2, what="both spec files uploaded")
    await h.wait_for_text("C1", root.ts, "The spec is ready: **8 features** in 3 categories.")

    uploads = {u.filename: u for u in h.slack.uploads}
    assert uploads["app_spec.txt"].content == spec_for("shop").encode()
    assert uploads["initializer_prompt.md"].content == prompt_for("shop").encode()
    assert all(u.channel == "C1" and u.thread_ts == root.ts for u in uploads.values())
    assert (project / "prompts/app_spec.txt").read_text() == spec_for("shop")
    (done,) = [m for m in h.slack.thread("C1", root.ts) if m.files]  # the completion message
    assert "*shop* — 8 features, ready to build" in done.visible_text and "`shop/prompts/`" in done.visible_text

    # The model got the reply exactly once, and later turns don't upload again.
    assert sum("A web shop for our bakery" in r.last_user_text for r in h.model.requests) == 1
    await h.slack.send_message("C1", "U1", "Thanks!", thread_ts=root.ts)
    await h.wait_for_text("C1", root.ts, "Happy building!")
    assert len(h.slack.uploads) == 2
    h.model.verify()


@pytest.mark.parametrize(
    "text",
    ["", "my app", "../etc", "a/b", "x" * 51, "café", "two words here"],
    ids=["empty", "space", "dotdot", "slash", "too-long", "non-ascii", "words"],
)
async def test_bad_name_gets_a_clear_ephemeral_and_changes_nothing(start_bot, text):
    h = await start_bot()
    delivery = await h.slack.send_slash_command(text, user_id="U1", channel_id="C1")
    (note,) = h.slack.ephemerals(user="U1")
    assert "letters" in note.text and "`-`" in note.text and "1–50" in note.text
    assert delivery.ack.get("text") == note.text
    assert h.slack.messages == []  # no thread
    assert not h.generations.exists() or not any(h.generations.iterdir())  # no folder
    assert h.model.requests == []  # no model call


async def test_bot_not_in_channel_tells_the_user_how_to_fix_it(start_bot):
    h = await start_bot(channels_with_bot={"C2"})
    await h.slack.send_slash_command("shop", user_id="U1", channel_id="C1")
    note = await h.slack.wait_for(lambda: next(iter(h.slack.ephemerals(user="U1")), None))
    assert "not a member of this channel" in note.text and "/invite @newspec" in note.text
    assert h.slack.messages == [] and h.model.requests == []
    assert not h.project("shop").exists()


async def test_falls_back_to_post_and_update_when_streaming_is_refused(start_bot):
    h = await start_bot(streaming=False)
    project = h.project("shop")
    answer = "Hello! " + " ".join(f"word{i}" for i in range(60)) + "\n\n**Done.**"
    h.model.script(str(project), [fa.text(answer, chunk_size=10, delay=0.03), fa.text("Second answer.")])

    root_ts = await h.start_interview("shop")
    (message,) = await h.settled("C1", root_ts, "**Done.**")
    assert message.text == answer and not message.streamed
    assert message.blocks == [{"type": "markdown", "text": answer}]  # Markdown, not escaped
    assert message.edits >= 1  # it grew by chat.update
    assert message.edits < len(answer) // 10  # throttled, not one update per delta

    # Streaming is not retried once the workspace refused it.
    starts = len(h.slack.calls_to("chat.startStream"))
    await h.slack.send_message("C1", "U1", "go on", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Second answer.")
    assert len(h.slack.calls_to("chat.startStream")) == starts


async def test_a_stream_that_dies_is_finished_with_chat_update(start_bot):
    h = await start_bot(stream_max_appends=1)
    project = h.project("shop")
    answer = " ".join(f"token{i}" for i in range(80)) + " END"
    h.model.script(str(project), [fa.text(answer, chunk_size=12, delay=0.01)])
    root_ts = await h.start_interview("shop")
    messages = await h.settled("C1", root_ts, "END")
    assert "".join(m.text for m in messages).replace(" ", "") == answer.replace(" ", "")
    assert [c for c in h.slack.calls_to("chat.update") if c.args["ts"] != root_ts]  # the answer, not the root


async def test_long_answers_continue_in_a_new_message(start_bot):
    h = await start_bot()
    project = h.project("shop")
    paragraphs = [f"Paragraph {i}: " + "lorem ipsum " * 40 for i in range(12)]  # ~6,000 chars
    answer = "\n\n".join(paragraphs)
    h.model.script(str(project), [fa.text(answer, chunk_size=400)])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Paragraph 11:")
    await h.slack.wait_for(lambda: all(m.stream_state == "stopped" for m in h.answers("C1", root_ts)))
    messages = h.answers("C1", root_ts)
    assert len(messages) == 2
    assert all(len(m.text) <= 4000 for m in messages)
    assert "".join(m.text for m in messages) == answer  # split at a paragraph, nothing lost


async def test_failed_write_is_not_a_complete_spec(start_bot):
    h = await start_bot()
    project = h.project("shop")
    (project / "prompts/initializer_prompt.md").mkdir(parents=True)  # makes that Write fail
    h.model.script(
        str(project),
        [fa.text("Shall I write it?"), *write_both(project)[:2], fa.text("Hmm, one file failed.")],
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Shall I write it?")
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "one file failed")
    assert h.slack.uploads == []
    assert "is ready" not in h.slack.thread_text("C1", root_ts)


async def test_model_error_is_reported_in_the_thread_and_the_next_reply_works(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [fa.text("Hi! What is it?"), fa.error(500), fa.text("Got it, a shop.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What is it?")
    await h.slack.send_message("C1", "U1", "A shop", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Claude's service had an error. Reply here to try again.")
    thread = h.slack.thread_text("C1", root_ts)
    assert "Traceback" not in thread and "API Error" not in thread
    await h.slack.send_message("C1", "U1", "A shop, again", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Got it, a shop.")


async def test_two_threads_at_once_do_not_mix(start_bot):
    h = await start_bot()
    alpha, beta = h.project("alpha"), h.project("beta")
    h.model.script(str(alpha), [fa.text("ALPHA greeting " * 10, chunk_size=7, delay=0.01), fa.text("ALPHA two")])
    h.model.script(str(beta), [fa.text("BETA greeting " * 10, chunk_size=7, delay=0.01), fa.text("BETA two")])
    await h.slack.send_slash_command("alpha", user_id="U1", channel_id="C1")
    await h.slack.send_slash_command("beta", user_id="U2", channel_id="C1")
    roots = {}
    for name in ("alpha", "beta"):
        roots[name] = await h.slack.wait_for(
            lambda name=name: next((m.ts for m in h.slack.messages if f"*{name}*" in m.text), None)
        )
    for name in ("alpha", "beta"):
        await h.wait_for_text("C1", roots[name], f"{name.upper()} greeting")
    await h.slack.send_message("C1", "U1", "alpha answer", thread_ts=roots["alpha"])
    await h.slack.send_message("C1", "U2", "beta answer", thread_ts=roots["beta"])
    for name in ("alpha", "beta"):
        await h.wait_for_text("C1", roots[name], f"{name.upper()} two")
    for name, other in (("alpha", "BETA"), ("beta", "ALPHA")):
        assert other not in h.slack.thread_text("C1", roots[name])
    # Each reply reaches its own session, with its author's display name.
    assert [people_said(r) for r in h.model.requests_for(str(alpha))][-1] == "u1: alpha answer"
    assert [people_said(r) for r in h.model.requests_for(str(beta))][-1] == "u2: beta answer"


async def test_messages_outside_interviews_and_from_bots_are_ignored(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [fa.text("Hi!"), fa.text("Answer to the human.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hi!")
    await h.slack.send_message("C1", "U1", "not in a thread")
    await h.slack.send_message("C1", "U1", "other thread", thread_ts="1699999999.000001")
    await h.slack.send_message("C1", "UOTHERBOT", "from a bot", thread_ts=root_ts, bot_id="B2")
    await h.slack.send_message("C1", "U1", "edited", thread_ts=root_ts, subtype="message_changed")
    await h.slack.send_message("C1", "U1", "the real answer", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Answer to the human.")
    seen = [r.last_user_text for r in h.model.requests]
    assert people_said(h.model.requests[-1]) == "u1: the real answer" and len(seen) == 2
    h.model.verify()


async def test_a_retried_event_reaches_claude_once(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [fa.text("Hi!"), fa.text("Once.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hi!")
    first = await h.slack.send_message("C1", "U1", "only once", thread_ts=root_ts, event_id="Ev1")
    await h.slack.send_message(
        "C1", "U1", "only once", thread_ts=root_ts, event_id="Ev1", ts=first.ts, retry_attempt=1
    )
    await h.slack.send_message("C1", "U1", "only once", thread_ts=root_ts, event_id="Ev2", ts=first.ts)
    await h.wait_for_text("C1", root_ts, "Once.")
    assert sum(people_said(r) == "u1: only once" for r in h.model.requests) == 1
    h.model.verify()


@pytest.mark.parametrize("failures", [[503], [429]], ids=["server error", "rate limited"])
async def test_an_upload_the_upload_host_turns_away_once_is_tried_again(start_bot, failures):
    """The upload URL answering 503 or 429 once is retried, as any Slack call is: the
    spec arrives, once, with no "Slack refused the upload" in the thread."""
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [fa.text("Shall I write it?"), *write_both(project), fa.text("Done.")])
    h.slack.upload_failures = list(failures)
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Shall I write it?")
    await h.slack.send_message("C1", "U1", "Yes, write it.", thread_ts=root_ts)
    await h.slack.wait_for(lambda: len(h.slack.uploads) == 2, what="both spec files uploaded")
    await h.wait_for_text("C1", root_ts, "The spec is ready")
    assert "refused the upload" not in h.slack.thread_text("C1", root_ts)
    assert not h.slack.upload_failures
    assert {u.filename for u in h.slack.uploads} == {"app_spec.txt", "initializer_prompt.md"}
