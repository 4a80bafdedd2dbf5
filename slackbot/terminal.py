"""`slackbot chat <name>`: the same interview session in a terminal, no Slack at all.

For trying the skill and for debugging: type answers, watch Claude's text stream,
pick options by number. Uses SpecSession unchanged.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from .claude.retention import transcript_dir
from .claude.session import SessionSettings, SpecSession
from .config import Settings
from .events import Failed, Notice, Question, SpecComplete, TextDelta, TextDone, ToolActivity
from .interview.wording import opening_message
from .spec.files import project_dir


class Terminal:
    def __init__(self, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
        self.stdin, self.stdout = stdin, stdout

    def say(self, text: str = "", end: str = "\n") -> None:
        self.stdout.write(text + end)
        self.stdout.flush()

    async def read(self, prompt: str) -> str | None:
        """A line from the user, or None at end of input."""
        self.say(prompt, end="")
        line = await asyncio.get_running_loop().run_in_executor(None, self.stdin.readline)
        return None if line == "" else line.rstrip("\n")


def pick(answer: str, labels: list[str], multi: bool) -> str:
    """Numbers choose options ("2", or "1,3" for several); anything else is a free answer."""
    chosen = [part.strip() for part in answer.replace(" ", ",").split(",") if part.strip()]
    if chosen and all(c.isdigit() and 1 <= int(c) <= len(labels) for c in chosen) and (multi or len(chosen) == 1):
        return ", ".join(labels[int(c) - 1] for c in chosen)
    return answer.strip()


async def ask(term: Terminal, session: SpecSession, question: Question, ended: asyncio.Event) -> None:
    """Show a question and send the chosen answers; Ctrl-D sets `ended` instead."""
    answers: dict[str, str] = {}
    for item in question.items:
        term.say(f"\n[{item.header}] {item.question}" if item.header else f"\n{item.question}")
        for number, option in enumerate(item.options, 1):
            term.say(f"  {number}. {option.label}" + (f" — {option.description}" if option.description else ""))
        hint = "numbers separated by commas" if item.multi_select else "a number"
        line = await term.read(f"Choose ({hint}, or type your own answer): ")
        if line is None:  # Claude would wait for this answer forever: end the chat
            ended.set()
            return
        answers[item.question] = pick(line, [o.label for o in item.options], item.multi_select)
    session.questions.answer(question.id, answers)


async def chat(settings: Settings, name: str, term: Terminal) -> int:
    folder = project_dir(settings.generations_dir, name)
    session = SpecSession(
        folder, SessionSettings.for_bot(settings),
        config_dir=transcript_dir(settings.state_dir, "terminal", name),
    )
    term.say(f"Spec interview for {name} in {folder}. Type your answers; Ctrl-D ends.\n")
    message: str | None = opening_message(name, "The user")
    ended = asyncio.Event()  # Ctrl-D while Claude waits on a question
    try:
        while message is not None and await turn(term, session, message, ended):
            message = await term.read("\n> ")
    finally:
        await session.close(force=True)
    term.say("\nGoodbye.")
    return 0


async def turn(term: Terminal, session: SpecSession, message: str, ended: asyncio.Event) -> bool:
    """Show Claude's turn; False if Ctrl-D ended the chat during it."""
    show = asyncio.create_task(show_turn(term, session, message, ended))
    quitting = asyncio.create_task(ended.wait())
    try:
        await asyncio.wait({show, quitting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (show, quitting):
            task.cancel()
        await asyncio.gather(show, quitting, return_exceptions=True)
    if not ended.is_set():
        show.result()  # a failure of the turn itself is not swallowed
    return not ended.is_set()


async def show_turn(term: Terminal, session: SpecSession, message: str, ended: asyncio.Event) -> None:
    asking: set[asyncio.Task[None]] = set()  # held, so they are not garbage-collected mid-question
    async for event in session.send(message):
        if isinstance(event, TextDelta):
            term.say(event.text, end="")
        elif isinstance(event, TextDone):
            term.say()
        elif isinstance(event, ToolActivity):
            term.say(f"  ({event.summary})")
        elif isinstance(event, Question):
            # Asked alongside the stream: the turn goes on once it is answered.
            task = asyncio.create_task(ask(term, session, event, ended))
            asking.add(task)
            task.add_done_callback(asking.discard)
        elif isinstance(event, SpecComplete):
            term.say("\nThe spec is ready:")
            for path in event.files:
                term.say(f"  {path}")
        elif isinstance(event, (Failed, Notice)):
            term.say(f"\n! {event.message}")
