"""Every question's life, read from and written to the store: asked (stored when
Claude asks), posted (each part's message ts), answered part by part (typed or
clicked, by whom, how; while Claude waits or after its process has ended), and
closed: every part answered, or withdrawn when the turn that asked it ends.

Each part is answered at most once: the right to answer it is claimed in the store
(atomic), so a click racing a typed reply, a double click, or a click after a
restart can never answer twice. Every answer is stored as a reply of its own before
Claude gets it, and goes when Claude has it, so a park, a restart or a kill loses none.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Protocol

from ..events import Choice, Question, QuestionItem
from ..markup import escape
from ..slack.blocks import which_blocks
from ..slack.relay.errors import SLACK_ERRORS
from ..store import PendingReply, StateStore, Status, StoredQuestion
from . import quick_mode
from .quick_mode import Modelled

log = logging.getLogger(__name__)


class Asking(Modelled, Protocol):
    """What a question's life uses of the conversation: what Claude waits on."""

    asking: Question | None

    async def answer_live(self, question: Question, answers: dict[str, str]) -> bool: ...



class Accepted(Enum):
    """What became of a reply or a click, so the Slack side can tell the person."""

    QUEUED = "queued"
    ANSWERED = "answered a question"
    STALE = "stale"
    NOT_AN_INTERVIEW = "not an interview"
    DUPLICATE = "duplicate"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Click:
    """A click on a question's part, stored: what `finish_click` shows and hands on."""

    question: Question
    index: int
    who: str  # bot markup naming the person
    value: str  # the options' labels
    reply_id: int  # the answer, stored as a reply


def answer_text(item: QuestionItem, value: str) -> str:
    """An answer as Claude reads it when it comes as a message, not as the tool's result."""
    return f'My answer to "{item.question}": {value}'


def files_note(item: QuestionItem) -> str:
    """What a reply's files are, once its words answered a part: they follow as a message."""
    return f'(The files I attached to my answer to "{item.question}".)'


def written_after(reply_ts: str, question_ts: str) -> bool:
    """Whether a reply was written after the question showed (Slack ts order)."""
    try:
        return Decimal(reply_ts) > Decimal(question_ts)
    except InvalidOperation:
        return False


class Questions:
    def __init__(self, store: StateStore) -> None:
        self.store = store
        # Replies whose author was asked which open question they answer (kept in memory:
        # after a restart Claude no longer waits live, and the reply answers as before).
        self.held: set[int] = set()
        # Clicks (their stored answers' ids) this process took and is still handing on:
        # `answer_recorded` leaves them to the click's own path.
        self.taking: set[int] = set()

    async def record(self, conversation: Asking, question: Question) -> None:
        record = conversation.record
        await self.store.add_question(question.id, record.channel, record.thread_ts, question_to_dict(question))

    async def posted(self, question: Question, index: int, ts: str) -> None:
        await self.store.question_posted(question.id, index, ts)

    async def _open_part(self, conversation: Asking, question_id: str, index: int) -> Question | None:
        """The question, if part `index` of it may still be answered in this thread."""
        stored = await self.store.get_question(question_id)
        record = conversation.record
        # The id comes from a button's value: it must name a question of the thread the
        # click happened in, never one of another thread.
        elsewhere = stored is not None and (stored.channel, stored.thread_ts) != (record.channel, record.thread_ts)
        if stored is None or stored.answered or elsewhere or record.status == Status.CANCELLED:
            return None
        question = question_from_dict(stored.payload)
        return question if 0 <= index < len(question.items) else None

    async def take_click(
        self, conversation: Asking, question_id: str, index: int, picked: list[int], user_id: str,
        author: str | None, user_team: str | None = None,
    ) -> Click | None:
        """Options `picked` (by index) for part `index`, stored (the part claimed, the
        answer kept until Claude has it: one transaction); None if the click is stale."""
        question = await self._open_part(conversation, question_id, index)
        if question is None:
            return None
        item = question.items[index]
        labels = [item.options[n].label for n in picked if 0 <= n < len(item.options)]
        if not labels:  # Claude gets the options' full labels, never the buttons' text
            return None
        return await self._take(conversation, question, index, ", ".join(labels), user_id, author, user_team)

    async def take_written(
        self, conversation: Asking, question_id: str, index: int, words: str, user_id: str,
        author: str | None, user_team: str | None = None,
    ) -> Click | None:
        """An answer typed in the "Other…" modal for part `index`, stored as a click is (the
        part claimed and the answer kept as a reply of its own, in one transaction: a
        restart loses nothing); None if the part is no longer open."""
        question = await self._open_part(conversation, question_id, index)
        if question is None or not words.strip():
            return None
        return await self._take(conversation, question, index, words.strip(), user_id, author, user_team)

    async def _take(
        self, conversation: Asking, question: Question, index: int, value: str, user_id: str,
        author: str | None, user_team: str | None, replaces: PendingReply | None = None,
    ) -> Click | None:
        """Part `index` claimed and `value` stored as its answer; `replaces`: the typed reply
        whose words it is, which goes (its files follow) in the same transaction."""
        item, who = question.items[index], f"<@{user_id}>"
        reply = PendingReply(0, *conversation.key, user_id, answer_text(item, value), "", author, user_team=user_team)
        reply_id = await self.store.record_answer(
            question.id, index, len(question.items), who, value, reply,
            replaces=None if replaces is None else replaces.id, files_note=files_note(item),
        )
        if reply_id is None:
            return None
        self.taking.add(reply_id)
        return Click(question, index, who, value, reply_id)

    async def finish_click(self, conversation: Asking, click: Click) -> Accepted:
        """Show a stored click, and give it to Claude if Claude waits on its question;
        otherwise (asked by a process that has ended: parked, restarted) the answer
        resumes the conversation once the question has no part open."""
        item = click.question.items[click.index]
        try:
            await quick_mode.picked(conversation, item, click.value)  # before Claude goes on: it may change the model
            await self._show(conversation, click.question.id, {click.index: (click.who, click.value)}, click.question)
            if await conversation.answer_live(click.question, {item.question: click.value}):
                return Accepted.ANSWERED
        finally:
            self.taking.discard(click.reply_id)
        conversation.wake_up()  # on another replica, Claude's (if it waits) is woken: `answer_recorded`
        return Accepted.QUEUED

    async def answer_recorded(self, conversation: Asking, question: Question) -> bool:
        """Answers to the question Claude waits on here that another replica took (Slack
        handed it the click or the "Other…" form: it stored them, showed them on the card and
        woke this one) go to Claude as a click taken here does; each once, as Claude lacks
        it. False if there were none."""
        lacking = conversation.session.questions.lacking(question.id)
        answers: dict[int, str] = {}
        for reply in await self.store.pending_replies(*conversation.key):
            index = reply.question_item  # the part it was stored for: never guessed from its words
            if reply.question_id != question.id or index is None or reply.sent is not None or reply.id in self.taking:
                continue  # not a part's stored answer, Claude has it, or its click here hands it on
            if 0 <= index < len(question.items) and question.items[index].question in lacking:
                answers.setdefault(index, reply.text.removeprefix(answer_text(question.items[index], "")))
        if not answers:
            return False
        for index, value in answers.items():
            await quick_mode.picked(conversation, question.items[index], value)  # its model, here too
        return await conversation.answer_live(question, {question.items[i].question: v for i, v in answers.items()})

    async def answer_waiting(self, conversation: Asking, question: Question) -> bool:
        """Give the question Claude waits on what answers it now: answers another replica
        took, else the first reply typed since it showed. False if nothing did."""
        return await self.answer_recorded(conversation, question) or await self.answer_from_replies(
            conversation, question
        )

    async def answer_typed(
        self, conversation: Asking, question: Question, reply: PendingReply, live: bool,
        part: int | None = None,
    ) -> bool:
        """A reply typed after the question showed answers its open parts (only the part
        its author chose "Other…" on, if they did). Live, Claude gets it as the tool's
        result (a reply's files follow as a message); otherwise the reply goes as a message
        and the question closes. False if a click answered every part first (the reply is
        then just a message). `part`: its author said which part it answers."""
        open_parts = await self.open_parts(question)
        other = part if part is not None else await self.store.other_choice(question.id, reply.user_id)
        if other is not None and (other in open_parts or part is not None):
            open_parts = [other] if other in open_parts else []
        who = escape(reply.author) if reply.author else f"<@{reply.user_id}>"
        words = reply.text.strip() or f"(sent {reply.file_count} file(s) instead of typing an answer)"
        value = f"{reply.author}: {words}" if reply.author else words
        claimed = {
            index: (who, words) for index in open_parts
            if await self.store.claim_answer(question.id, index, who, words)
        }
        if not claimed:
            return False
        if live and reply.file_count:
            # The tool's result carries words only: the files follow as a message of their own.
            await self.store.split_answer(reply, question.id, value, files_note(question.items[min(claimed)]))
        elif live:
            await self.store.assign_answer(reply.id, question.id)
        for index in claimed:
            await quick_mode.picked(conversation, question.items[index], words)
        await self._show(conversation, question.id, claimed, question)
        if live:
            await conversation.answer_live(question, {question.items[i].question: value for i in claimed})
        else:
            await self.close(conversation, question)
        return True

    async def close(self, conversation: Asking, question: Question) -> None:
        """Answered as a whole by a message: the question closes, and its stored answers go
        to Claude with that message."""
        await self.store.mark_question_answered(question.id)
        conversation.wake_up()

    async def withdraw(self, conversation: Asking, question: Question) -> None:
        """The turn that asked it is over (Stop, a timeout, an error, a newer turn): its open
        parts can no longer be answered, and their buttons go. Answers already given go
        with the thread's next message."""
        open_parts = await self.open_parts(question)
        await self.store.mark_question_answered(question.id)
        await self.store.ride_along(question.id)
        posts = await self.store.question_posts(question.id)
        for index in open_parts:
            if index in posts:
                await conversation.relay.show_withdrawn(posts[index], question.items[index])

    async def answer_from_replies(self, conversation: Asking, question: Question) -> bool:
        """The first reply typed since the question Claude waits on showed answers it (one
        still fetching its author or files holds those behind it), or, with several parts
        open, its author is asked which one it answers (`answer_chosen`). False if none."""
        posts = await self.store.question_posts(question.id)
        reply = typed_after(await self.store.pending_replies(*conversation.key), posts.get(0, ""), self.held)
        if reply is None:
            return False
        return await self._ask_which(conversation, question, reply) or await self.answer_typed(
            conversation, question, reply, live=True
        )

    async def _ask_which(self, conversation: Asking, question: Question, reply: PendingReply) -> bool:
        """Several parts open and no "Other…" chosen: rather than answering them all with one
        message, ask its author (privately) which it answers; the reply waits meanwhile.
        False if there is nothing to ask, or the asking failed (then it answers them all)."""
        open_parts = await self.open_parts(question)
        if len(open_parts) < 2 or await self.store.other_choice(question.id, reply.user_id) in open_parts:
            return False
        record = conversation.record
        blocks = which_blocks([(i, question.items[i]) for i in open_parts],
                              {"q": question.id, "r": reply.id, "t": record.thread_ts})
        try:
            await conversation.relay.scheduler.ephemeral(
                channel=record.channel, user=reply.user_id, thread_ts=record.thread_ts, blocks=blocks,
                text="Several questions are open. Which one does your message answer?",
            )
        except SLACK_ERRORS as exc:
            log.warning("could not ask which question a reply in %s answers: %s", record.thread_ts, exc)
            return False
        self.held.add(reply.id)
        return True

    async def answer_chosen(
        self, conversation: Asking, question_id: str, index: int, reply_id: int, user_id: str,
    ) -> bool:
        """`user_id` says their waiting reply `reply_id` answers part `index`: it does, alone.
        False if that part or that reply is no longer open."""
        question = await self._open_part(conversation, question_id, index)
        rows = await self.store.pending_replies(*conversation.key)
        reply = next((
            r for r in rows if r.id == reply_id and r.user_id == user_id and r.waiting and not r.question_id
        ), None)
        if question is None or reply is None:
            return False
        if conversation.asking is None or conversation.asking.id != question.id:
            return await self._answer_as_click(conversation, question, index, reply)
        if not await self.answer_typed(conversation, question, reply, True, part=index):
            return False  # still held: it answers no other part by itself, and goes as a message later
        self.held.discard(reply.id)
        return True

    async def _answer_as_click(self, conversation: Asking, question: Question, index: int, reply: PendingReply) -> bool:
        """Claude does not wait on the question here, but may on another replica (Slack handed
        this one the choice), or nowhere (parked): the reply's words answer that part as a
        click would (stored as its answer as the reply itself goes, in one transaction: a
        kill can't leave the words to go twice; its files follow as a message), and reach
        Claude the same way. Its other parts stay open."""
        words = reply.text.strip() or f"(sent {reply.file_count} file(s) instead of typing an answer)"
        click = await self._take(
            conversation, question, index, words, reply.user_id, reply.author, reply.user_team, replaces=reply
        )
        if click is None:
            return False
        self.held.discard(reply.id)
        await self.finish_click(conversation, click)
        return True

    async def settle(self, conversation: Asking, live: Question | None) -> None:
        """Between turns: a stored question Claude no longer waits on (parked, restarted)
        is closed by a reply typed after it showed; if a turn is about to start without
        one, it is withdrawn (Claude gets a newer message)."""
        rows = await self.store.pending_replies(*conversation.key)
        for question, posts in await self.open_in(conversation):
            if live is not None and question.id == live.id:
                continue
            if not await self.open_parts(question):  # every part claimed (a kill came before the close)
                await self.store.mark_question_answered(question.id)
                continue
            reply = typed_after(rows, posts.get(0, "")) if posts else None
            if reply is not None:
                await self.answer_typed(conversation, question, reply, live=False)
            elif any(r.waiting and r.ready and not r.question_id for r in rows):
                await self.withdraw(conversation, question)

    async def open_in(self, conversation: Asking) -> list[tuple[Question, dict[int, str]]]:
        """The thread's open questions, oldest first, each with its parts' message ts."""
        stored: list[StoredQuestion] = await self.store.open_questions(*conversation.key)
        return [(question_from_dict(s.payload), await self.store.question_posts(s.id)) for s in stored]

    async def open_parts(self, question: Question) -> list[int]:
        """The parts nobody has answered yet."""
        answered = await self.store.answered_items(question.id)
        return [index for index in range(len(question.items)) if index not in answered]

    async def _show(
        self, conversation: Asking, question_id: str, answers: dict[int, tuple[str, str]], question: Question,
    ) -> None:
        posts = await self.store.question_posts(question_id)
        for index, (who, value) in answers.items():
            if index in posts:
                await conversation.relay.show_answer(posts[index], question.items[index], who, value)


def typed_after(rows: list[PendingReply], shown_ts: str, held: Collection[int] = ()) -> PendingReply | None:
    """The first reply typed after a question showed, if the replies before it are ready
    (`held`: replies waiting for their author to say which question they answer)."""
    for row in rows:
        if not row.waiting or row.question_id or row.id in held:
            continue
        if not row.ready:
            return None
        if shown_ts and written_after(row.ts, shown_ts):
            return row
    return None


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
