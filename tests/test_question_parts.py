"""Which part of a question a stored answer is for, and the chooser's answer, at the
level of `Questions` and the store (both engines), without Slack or the CLI: a stand-in
conversation records what Claude would get."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from slackbot.claude.open_questions import OpenQuestions
from slackbot.events import Attachment, Choice, Question, QuestionItem
from slackbot.interview.questions import Questions, question_to_dict
from slackbot.store import InterviewRecord, PostgresStore, SqliteStore
from slackbot.store.postgres_engine import PgWriter
from tests.conftest import reopen

Store = SqliteStore | PostgresStore
KEY = ("C1", "1.0")
OPTIONS = (Choice("Yes"), Choice("No"))
# Stored answers read 'My answer to "<question>": <value>': the second part's question
# starts with the first's, so its stored answer starts with the first part's prefix too.
NAME = QuestionItem("Name", "name", OPTIONS)
NICKNAME = QuestionItem('Name": or a nickname?', "nick", OPTIONS)
SIZE = QuestionItem("Size?", "size", OPTIONS)


class Relay:
    async def show_answer(self, ts: str, item: QuestionItem, who: str, value: str) -> None:
        pass


@dataclass
class Asked:
    """The conversation as `Questions` sees it; `given`: what Claude got, live."""

    store: Store
    asking: Question | None = None
    record: InterviewRecord = field(default_factory=lambda: InterviewRecord(*KEY, "shop", "U1"))
    session: Any = field(default_factory=lambda: SimpleNamespace(questions=OpenQuestions()))
    relay: Relay = field(default_factory=Relay)
    quick_model: str | None = None
    default_model: str = "sonnet"
    given: list[dict[str, str]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return KEY

    def wait_on(self, question: Question) -> None:
        self.asking = question
        self.session.questions.open(question)

    async def answer_live(self, question: Question, answers: dict[str, str]) -> bool:
        if self.asking is None or self.asking.id != question.id:
            return False
        self.given.append(answers)
        return bool(self.session.questions.answer(question.id, answers))

    def wake_up(self) -> None:
        pass

    async def save(self, **changes: object) -> None:
        pass


async def asked(store: Store, *items: QuestionItem) -> Question:
    """A question stored and shown (each part's card posted before any reply)."""
    question = Question("q1", items)
    await store.add_question(question.id, *KEY, question_to_dict(question))
    for index in range(len(items)):
        await store.question_posted(question.id, index, f"1.{index + 1}")
    return question


async def test_an_answer_another_replica_took_reaches_the_part_it_answers_not_one_whose_wording_it_starts_with(
    store: Store,
):
    """The owner picked stored answers up by their text's prefix: the second part's
    answer starts with the first part's prefix too, so Claude also got it as the answer
    to the first part ('or a nickname?": Bo'), which nobody had answered."""
    question = await asked(store, NAME, NICKNAME)
    owner = Asked(store)
    owner.wait_on(question)
    other = Questions(store)  # the replica Slack handed the "Other…" form to
    click = await other.take_written(Asked(store), question.id, 1, "Bo", "U2", None)
    assert click is not None
    other.taking.discard(click.reply_id)  # it has shown it and woken the owner
    assert await Questions(store).answer_recorded(owner, question)
    assert owner.given == [{NICKNAME.question: "Bo"}]
    assert owner.session.questions.lacking(question.id) == {NAME.question}


async def test_a_typed_answer_worded_like_another_parts_stored_answer_answers_only_its_own_part(store: Store):
    """A reply typed as the answer to the part its author chose "Other…" on goes to Claude
    at once, and stays stored as the question's answer (no part of its own: it may answer
    several) until Claude has it. Its words happen to start like another part's stored
    answer: the owner took it for that part's answer too, and Claude got it twice."""
    question = await asked(store, NAME, SIZE)
    owner = Asked(store)
    owner.wait_on(question)
    await store.choose_other(question.id, 0, "U1")  # "Other…" on the first part, then typed
    reply = await store.accept_reply(*KEY, "U1", 'My answer to "Size?": Bo', "2.0", "Ev1")
    assert reply is not None
    questions = Questions(store)
    assert await questions.answer_typed(owner, question, reply, live=True)
    assert owner.given == [{NAME.question: 'My answer to "Size?": Bo'}]
    assert not await questions.answer_recorded(owner, question)  # nothing another replica took
    assert owner.given == [{NAME.question: 'My answer to "Size?": Bo'}]
    assert owner.session.questions.lacking(question.id) == {SIZE.question}


class Killed(Exception):
    """The process is killed at this statement: nothing after it runs."""


@contextmanager
def killed_at(store: Store, monkeypatch: pytest.MonkeyPatch, marker: str) -> Iterator[None]:
    """Every write statement containing `marker` kills the process (raises `Killed`)."""

    def wrap(real: Any) -> Any:
        async def statement(*args: Any) -> Any:
            sql = next(a for a in args if isinstance(a, str))
            if marker in sql:
                raise Killed(sql)
            return await real(*args)

        return statement

    if isinstance(store, SqliteStore):
        for name in ("execute", "executemany"):
            monkeypatch.setattr(store.db, name, wrap(getattr(store.db, name)))
    else:
        for name in ("execute", "executemany"):
            monkeypatch.setattr(PgWriter, name, wrap(getattr(PgWriter, name)))
    yield
    monkeypatch.undo()


def words_waiting(replies: list[Any], words: str) -> int:
    """How many stored rows would bring `words` to Claude."""
    return sum(words in r.text for r in replies if r.sent is None)


async def test_a_kill_as_the_chosen_part_is_answered_leaves_the_words_to_go_to_claude_once(
    store: Store, monkeypatch: pytest.MonkeyPatch,
):
    """Claude does not wait here (parked, or on another replica): the person picks which
    part their typed reply answers, its words are stored as that part's answer and the
    reply goes. Killed between those two writes, the words waited twice after the
    restart: as the part's answer and as the plain reply."""
    question = await asked(store, NAME, SIZE)
    reply = await store.accept_reply(*KEY, "U1", "Robin", "2.0", "Ev1")
    assert reply is not None
    with killed_at(store, monkeypatch, "DELETE FROM pending_replies"), pytest.raises(Killed):
        await Questions(store).answer_chosen(Asked(store), question.id, 0, reply.id, "U1")
    store = await reopen(store)  # the restart
    try:
        replies = await store.pending_replies(*KEY)
        assert words_waiting(replies, "Robin") == 1, [r.text for r in replies]
        # After the restart the choice is made again (or the reply answers as a message): once.
        assert await Questions(store).answer_chosen(Asked(store), question.id, 0, reply.id, "U1")
        replies = await store.pending_replies(*KEY)
        assert words_waiting(replies, "Robin") == 1, [r.text for r in replies]
        assert [r.question_item for r in replies] == [0]
        assert await store.answered_items(question.id) == {0}
    finally:
        await store.close()


async def test_a_kill_as_a_chosen_reply_with_files_answers_claude_waiting_here_leaves_its_words_once(
    store: Store, monkeypatch: pytest.MonkeyPatch,
):
    """Claude waits here: the chosen part's answer goes to it as the tool's result, the
    reply's words stored as an answer of their own and the reply keeping only its files.
    Killed between those two writes, the words waited twice after the restart."""
    question = await asked(store, NAME, SIZE)
    conversation = Asked(store)
    conversation.wait_on(question)
    notes = Attachment("notes.md", "text/plain", b"# notes\n")
    reply = await store.accept_reply(*KEY, "U1", "Robin", "2.0", "Ev1", attachments=(notes,))
    assert reply is not None
    with killed_at(store, monkeypatch, "UPDATE pending_replies SET text"), pytest.raises(Killed):
        await Questions(store).answer_chosen(conversation, question.id, 0, reply.id, "U1")
    store = await reopen(store)  # the restart
    try:
        replies = await store.pending_replies(*KEY)
        assert words_waiting(replies, "Robin") == 1, [r.text for r in replies]
        assert await store.reply_files([reply.id]) == (notes,)
    finally:
        await store.close()


async def test_a_reply_a_turn_took_meanwhile_answers_no_part_when_chosen(store: Store):
    """The choice comes after a turn carried the reply to Claude as a message: storing it
    as the part's answer too would give Claude the words twice."""
    question = await asked(store, NAME, SIZE)
    reply = await store.accept_reply(*KEY, "U1", "Robin", "2.0", "Ev1")
    assert reply is not None
    conversation = Asked(store)
    rows = store.pending_replies

    async def carried_meanwhile(channel: str, thread_ts: str) -> list[Any]:
        found = await rows(channel, thread_ts)  # read as still waiting, then a turn carries it
        await store.carry([reply.id], "turn-1")
        return found

    store.pending_replies = carried_meanwhile  # type: ignore[method-assign]
    try:
        assert not await Questions(store).answer_chosen(conversation, question.id, 0, reply.id, "U1")
    finally:
        del store.pending_replies
    replies = await store.pending_replies(*KEY)
    assert [(r.text, r.sent) for r in replies] == [("Robin", "turn-1")]
    assert await store.answered_items(question.id) == set()


async def test_a_chosen_reply_with_files_answers_its_part_and_keeps_only_its_files(store: Store):
    """Claude does not wait here: the reply's words become the part's stored answer, and
    the reply stays only for its files, saying what they are."""
    question = await asked(store, NAME, SIZE)
    notes = Attachment("notes.md", "text/plain", b"# notes\n")
    reply = await store.accept_reply(*KEY, "U1", "Robin", "2.0", "Ev1", attachments=(notes,))
    assert reply is not None
    assert await Questions(store).answer_chosen(Asked(store), question.id, 1, reply.id, "U1")
    files, answer = await store.pending_replies(*KEY)  # in arrival order
    assert (answer.text, answer.question_id, answer.question_item) == ('My answer to "Size?": Robin', "q1", 1)
    assert (files.id, files.question_id) == (reply.id, None)
    assert files.text == '(The files I attached to my answer to "Size?".)'  # its words are the answer
    assert await store.reply_files([reply.id]) == (notes,)
    assert await store.answered_items(question.id) == {1}
