"""Every question's life, in one place: recorded when Claude asks, answered item by
item (typed or clicked, while Claude waits or after its process has ended), and
withdrawn when the turn that asked it ends without an answer.

Each item is answered at most once: the right to answer it is claimed in the
store (atomic), so a click racing a typed reply, a double click, or a click
after a restart can never answer twice or be lost.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from enum import Enum
from typing import TYPE_CHECKING, Any

from .events import Choice, Question, QuestionItem
from .slack_text import escape
from .store import StateStore

if TYPE_CHECKING:
    from .conversation import Conversation

log = logging.getLogger(__name__)


class Accepted(Enum):
    """What became of a reply or a click, so the Slack side can tell the person."""

    QUEUED = "queued"
    ANSWERED = "answered a question"
    STALE = "stale"
    NOT_AN_INTERVIEW = "not an interview"
    DUPLICATE = "duplicate"
    CANCELLED = "cancelled"


class Questions:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    async def record(self, conversation: Conversation, question: Question) -> None:
        record = conversation.record
        await self.store.add_question(question.id, record.channel, record.thread_ts, question_to_dict(question))

    async def answer_typed(self, conversation: Conversation, author: str | None, user_id: str, text: str) -> bool:
        """A typed reply while Claude waits on a question answers every item still open.
        False if none was (a click got there first): then the reply is a message."""
        question = conversation.session.pending_question
        if question is None:
            return False
        who = escape(author) if author else f"<@{user_id}>"
        answer = f"{author}: {text}" if author else text
        answered = False
        for index in range(len(question.items)):
            if await self._answer_live(conversation, question, index, answer, who, text):
                answered = True
        return answered

    async def answer_click(
        self, conversation: Conversation, question_id: str, index: int, picked: list[int], user_id: str,
        author: str | None, message_ts: str, user_team: str | None = None,
    ) -> Accepted:
        """Options `picked` (by index) for item `index`: Claude gets their full labels."""
        stored = await self.store.get_question(question_id)
        record = conversation.record
        # The id comes from the button's value: it must name a question of the thread
        # the click happened in, never one of another thread.
        elsewhere = stored is not None and (stored.channel, stored.thread_ts) != (record.channel, record.thread_ts)
        if stored is None or stored.answered or elsewhere:
            return Accepted.STALE
        question = question_from_dict(stored.payload)
        if not 0 <= index < len(question.items):
            return Accepted.STALE
        item = question.items[index]
        labels = [item.options[n].label for n in picked if 0 <= n < len(item.options)]
        if not labels:
            return Accepted.STALE
        value, who = ", ".join(labels), f"<@{user_id}>"
        live = conversation.session.pending_question
        if live is not None and live.id == question_id:
            if not await self._answer_live(conversation, live, index, value, who, value, message_ts):
                return Accepted.STALE
            return Accepted.ANSWERED
        # Asked by a Claude process that has since ended (a restart, or parked while
        # people thought): the choice goes on as a reply, and resumes the conversation.
        if not await self.store.claim_answer(question_id, index):
            return Accepted.STALE
        await conversation.picked(item, value)
        await self.store.queue_claimed_reply(
            record.channel, record.thread_ts, user_id, f'My answer to "{item.question}": {value}',
            f"{question_id}:{index}", author, user_team,
        )
        await conversation.relay.show_answer(question_id, index, item, who, value, message_ts)
        await self._close_if_complete(question)
        conversation.wake_up()
        return Accepted.QUEUED

    async def _answer_live(
        self, conversation: Conversation, question: Question, index: int, answer: str, who: str, shown: str,
        message_ts: str | None = None,
    ) -> bool:
        """Claim item `index`, give Claude the answer and show who chose what."""
        if not await self.store.claim_answer(question.id, index):
            return False
        item = question.items[index]
        await conversation.picked(item, shown)  # before Claude goes on: the choice may change its model
        conversation.session.answer(question.id, {item.question: answer})
        if conversation.session.pending_question is None:
            conversation.waiting_on_people = False  # Claude carries on: not to be parked now
        await conversation.relay.show_answer(question.id, index, item, who, shown, message_ts)
        await self._close_if_complete(question)
        return True

    async def _close_if_complete(self, question: Question) -> None:
        if len(await self.store.answered_items(question.id)) >= len(question.items):
            await self.store.mark_question_answered(question.id)

    async def withdraw(self, conversation: Conversation, question: Question) -> None:
        """The turn that asked it is over (Stop, a timeout, an error): its open items
        can no longer be answered, and their buttons go."""
        answered = await self.store.answered_items(question.id)
        await self.store.mark_question_answered(question.id)
        for index, item in enumerate(question.items):
            if index not in answered:
                await conversation.relay.show_withdrawn(question.id, index, item)


def question_to_dict(question: Question) -> dict[str, Any]:
    return {"id": question.id, "items": [asdict(item) for item in question.items]}


def question_from_dict(data: dict[str, Any]) -> Question:
    return Question(
        data["id"],
        tuple(
            QuestionItem(
                item["question"], item["header"],
                tuple(Choice(**option) for option in item["options"]), item["multi_select"],
            )
            for item in data["items"]
        ),
    )
