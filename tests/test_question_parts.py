"""Which part of a question a stored answer is for, and the chooser's answer, at the
level of `Questions` and the store (both engines), without Slack or the CLI: a stand-in
conversation records what Claude would get."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from slackbot.claude.open_questions import OpenQuestions
from slackbot.events import Choice, Question, QuestionItem
from slackbot.interview.questions import Questions, question_to_dict
from slackbot.store import InterviewRecord, PostgresStore, SqliteStore

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
