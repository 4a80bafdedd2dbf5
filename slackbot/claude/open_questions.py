"""The questions Claude waits on in a session (its AskUserQuestion calls, held open
until people answer every part), SDK side: answered part by part, withdrawn with the
turn. Plain asyncio: no Slack, no store."""

from __future__ import annotations

import asyncio

from ..events import Question
from .prompt import neutralize


class OpenQuestions:
    def __init__(self) -> None:
        # question id -> (question, answers so far by question text, what Claude waits on)
        self._asking: dict[str, tuple[Question, dict[str, str], asyncio.Future[dict[str, str] | None]]] = {}

    def __len__(self) -> int:
        return len(self._asking)

    def waits_on(self, question_id: str) -> bool:
        """Whether Claude is still waiting for parts of that question."""
        entry = self._asking.get(question_id)
        return entry is not None and not entry[2].done()

    def lacking(self, question_id: str) -> set[str]:
        """The parts (by question text) of a question Claude waits on that have no answer yet."""
        entry = self._asking.get(question_id)
        if entry is None or entry[2].done():
            return set()
        question, collected, _ = entry
        return {item.question for item in question.items if item.question not in collected}

    def answer(self, question_id: str, answers: dict[str, str]) -> bool:
        """Answer parts of a question Claude waits on (keyed by question text); Claude
        goes on once every part has an answer. False if nothing new was answered: the
        part already was, or the question is not open (answered, or asked by a process
        that has ended)."""
        entry = self._asking.get(question_id)
        if entry is None or entry[2].done():
            return False
        question, collected, future = entry
        filled = False
        for item in question.items:
            if item.question in answers and item.question not in collected:  # first answer wins
                collected[item.question] = neutralize(answers[item.question])
                filled = True
        if all(item.question in collected for item in question.items):
            future.set_result(dict(collected))
        return filled

    def withdraw_all(self) -> None:
        """The turn is stopped: every open question goes with it (its call gets None)."""
        for _, _, future in self._asking.values():
            if not future.done():
                future.set_result(None)

    def open(self, question: Question) -> asyncio.Future[dict[str, str] | None]:
        """Hold the question open: the future gets the answers once every part has one,
        or None if it is withdrawn. `close` it when done waiting."""
        future: asyncio.Future[dict[str, str] | None] = asyncio.get_running_loop().create_future()
        self._asking[question.id] = (question, {}, future)
        return future

    def close(self, question_id: str) -> None:
        self._asking.pop(question_id, None)
