"""The session layer alone: the real claude CLI against the scripted model, no Slack."""

from __future__ import annotations

from slackbot.claude.session import SpecSession
from slackbot.events import Failed, FileWritten, Notice, SpecComplete, TextDelta, TextDone, TurnDone
from tests.fakes import anthropic as fa

SPEC = "<project_specification><project_name>shop</project_name></project_specification>\n"
PROMPT = "# Build shop\nCreate 12 features.\n"


async def _turn(session: SpecSession, text: str) -> list:
    return [event async for event in session.send(text)]


def _streamed(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_system_prompt_is_our_skill_for_this_project(model, session_settings, tmp_path):
    project = tmp_path / "generations" / "shop"
    model.script(str(project), [fa.text("Hi! What are we building?")])
    session = SpecSession(project, session_settings)
    try:
        await _turn(session, "start")
    finally:
        await session.close()
    (request,) = model.requests
    assert f"Project directory (your working directory): `{project}`" in request.system_text
    assert "$ARGUMENTS" not in request.system_text and "$TEMPLATES" not in request.system_text
    # Only the file tools and questions exist: no shell (the CLI adds a placeholder for deferred tools).
    assert set(request.tool_names) - {"DeferredToolPlaceholder"} == {
        "Read", "Write", "Edit", "Glob", "AskUserQuestion"
    }


async def test_greeting_streams_then_both_files_complete_the_spec_once(model, session_settings, tmp_path):
    project = tmp_path / "generations" / "shop"
    spec, prompt = project / "prompts/app_spec.txt", project / "prompts/initializer_prompt.md"
    model.script(
        str(project),
        [
            fa.text("Hello **team**! What should *shop* do?", chunk_size=6, delay=0.01),
            fa.tool("Write", {"file_path": str(spec), "content": SPEC}, text_before="Writing the spec."),
            fa.tool("Write", {"file_path": str(prompt), "content": PROMPT}),
            fa.text("Both files are written."),
            fa.text("Anything else?"),
        ],
    )
    session = SpecSession(project, session_settings)
    try:
        first = await _turn(session, "start")
        second = await _turn(session, "A web shop. Write it.")
        third = await _turn(session, "thanks")
    finally:
        await session.close()

    assert _streamed(first) == "Hello **team**! What should *shop* do?"
    assert sum(isinstance(e, TextDelta) for e in first) > 1  # really streamed in pieces
    assert isinstance(first[-1], TurnDone) and first[-1].session_id
    assert not any(isinstance(e, SpecComplete) for e in first)

    assert [e.path.name for e in second if isinstance(e, FileWritten)] == [
        "app_spec.txt",
        "initializer_prompt.md",
    ]
    (complete,) = [e for e in second if isinstance(e, SpecComplete)]
    assert [f.read_text() for f in complete.files] == [SPEC, PROMPT]
    assert [type(e) for e in second[-2:]] == [SpecComplete, TurnDone]
    texts = [e.text for e in second if isinstance(e, TextDone)]
    assert texts == ["Writing the spec.", "Both files are written."]

    assert not any(isinstance(e, SpecComplete) for e in third)  # once per completion


async def test_failed_write_does_not_complete_the_spec(model, session_settings, tmp_path):
    project = tmp_path / "generations" / "shop"
    spec, prompt = project / "prompts/app_spec.txt", project / "prompts/initializer_prompt.md"
    prompt.mkdir(parents=True)  # a directory where the file should go: the Write fails

    def check_failure(request: fa.ModelRequest) -> fa.Turn:
        assert request.tool_results[0].is_error
        return fa.text("That write failed.")

    model.script(
        str(project),
        [
            fa.tool("Write", {"file_path": str(spec), "content": SPEC}),
            fa.tool("Write", {"file_path": str(prompt), "content": PROMPT}),
            check_failure,
        ],
    )
    session = SpecSession(project, session_settings)
    try:
        events = await _turn(session, "write it")
    finally:
        await session.close()
    model.verify()
    assert [e.path.name for e in events if isinstance(e, FileWritten)] == ["app_spec.txt"]
    assert not any(isinstance(e, SpecComplete) for e in events)


async def test_writes_outside_the_project_are_refused(model, session_settings, tmp_path):
    project = tmp_path / "generations" / "shop"
    outside = tmp_path / "generations" / "other" / "prompts" / "app_spec.txt"

    def check_denied(request: fa.ModelRequest) -> fa.Turn:
        (result,) = request.tool_results
        assert result.is_error and "outside" in result.content_text
        return fa.text("I can only write inside the project.")

    model.script(
        str(project),
        [fa.tool("Write", {"file_path": str(outside), "content": "x"}), check_denied],
    )
    session = SpecSession(project, session_settings)
    try:
        events = await _turn(session, "write elsewhere")
    finally:
        await session.close()
    model.verify()
    assert not outside.exists()
    assert "only write inside" in _streamed(events)


async def test_model_error_is_one_sentence_and_the_next_message_works(model, session_settings, tmp_path):
    project = tmp_path / "generations" / "shop"
    model.script(str(project), [fa.error(status=500, message="boom"), fa.text("Back again.")])
    session = SpecSession(project, session_settings)
    try:
        failed_turn = await _turn(session, "hello")
        next_turn = await _turn(session, "hello again")
    finally:
        await session.close()
    failures = [e for e in failed_turn if isinstance(e, Failed)]
    assert len(failures) == 1 and "try again" in failures[0].message
    assert isinstance(failed_turn[-1], TurnDone)
    assert _streamed(next_turn) == "Back again."


async def test_a_missing_transcript_starts_afresh_and_says_so(model, session_settings, tmp_path):
    project = tmp_path / "generations" / "shop"
    model.script(str(project), [fa.text("Hello again, from the top.")])
    session = SpecSession(project, session_settings, session_id="3f1c2a7e-0000-4000-8000-000000000000")
    try:
        events = await _turn(session, "hi")
    finally:
        await session.close()
    notices = [e for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "starts afresh" in notices[0].message
    assert _streamed(events) == "Hello again, from the top."
    assert session.session_id != "3f1c2a7e-0000-4000-8000-000000000000"
