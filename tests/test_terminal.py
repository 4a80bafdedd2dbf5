"""`slackbot chat <name>`: the same session in a terminal, driven through stdin."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.conftest import people_said, process_env
from tests.fakes import anthropic as fa
from tests.test_interview_flow import write_both
from tests.test_questions import MODE, ask


async def test_terminal_chat_streams_asks_by_number_and_writes_the_spec(model, tmp_path: Path):
    project = tmp_path / "generations" / "demo"
    chosen: list[str] = []

    def after_choice(request: fa.ModelRequest) -> fa.Turn:
        chosen.append(request.tool_results[0].content_text)
        return fa.text("Quick mode. Shall I write it?")

    model.script(
        str(project),
        [fa.text("Hello from the terminal! What are we building?", chunk_size=9), ask(MODE), after_choice,
         *write_both(project)],
    )
    env = process_env(GENERATIONS_DIR=str(tmp_path / "generations"), NEWSPEC_STATE_DIR=str(tmp_path / "state"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "slackbot", "chat", "demo", env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    output = ""

    async def read_until(text: str) -> None:
        nonlocal output
        while text not in output:
            chunk = await asyncio.wait_for(process.stdout.read(4096), 30)
            assert chunk, f"terminal closed before {text!r}:\n{output}"
            output += chunk.decode()

    async def type_line(line: str) -> None:
        process.stdin.write(line.encode() + b"\n")
        await process.stdin.drain()

    try:
        await read_until("What are we building?")
        await read_until("> ")
        await type_line("A bakery shop")
        await read_until("1. Quick — A few questions, sensible defaults")
        await read_until("Choose (")
        await type_line("1")
        await read_until("Shall I write it?")
        await read_until("> ")
        await type_line("yes")
        await read_until("The spec is ready:")
        process.stdin.close()  # Ctrl-D
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert '"Quick or detailed interview?"="Quick"' in chosen[0]
    assert (project / "prompts/app_spec.txt").is_file() and (project / "prompts/initializer_prompt.md").is_file()
    assert "(Writing app_spec.txt)" in output
    assert people_said(model.requests[1]) == "A bakery shop"


async def test_ctrl_d_during_a_question_ends_the_chat(model, tmp_path: Path):
    """Claude waits on a multiple-choice question; Ctrl-D there says goodbye and exits 0
    instead of leaving the terminal hanging on an answer that can never come."""
    project = tmp_path / "generations" / "demo"
    model.script(str(project), [ask(MODE)])
    env = process_env(GENERATIONS_DIR=str(tmp_path / "generations"), NEWSPEC_STATE_DIR=str(tmp_path / "state"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "slackbot", "chat", "demo", env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    output = ""
    try:
        while "Choose (" not in output:
            chunk = await asyncio.wait_for(process.stdout.read(4096), 30)
            assert chunk, f"terminal closed before the question:\n{output}"
            output += chunk.decode()
        process.stdin.close()  # Ctrl-D
        stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert "Goodbye." in stdout.decode()
    assert "Traceback" not in stderr.decode()
