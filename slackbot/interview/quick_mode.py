"""Quick mode: the skill's first question picks quick or detailed; quick moves the
interview to the quick model (if one is set), from Claude's next model call on, and
after restarts (the interview's record keeps it)."""

from __future__ import annotations

import logging
from typing import Protocol

from ..events import QuestionItem
from .conversing import Conversing

log = logging.getLogger(__name__)


class Modelled(Conversing, Protocol):
    """What quick mode uses of the conversation: the models it can run."""

    default_model: str
    quick_model: str | None


MODE_HEADER = "mode"  # the skill's quick-or-detailed question


def picks_quick(item: QuestionItem, answer: str) -> bool:
    """Whether this answers the skill's Mode question with quick mode: the option
    labelled "Quick…" clicked, or a typed answer whose first word is "quick"."""
    words = answer.strip().lower().split(maxsplit=1)
    return item.header.strip().lower() == MODE_HEADER and bool(words) and words[0].strip("*.,:;!()") == "quick"


async def picked(conversation: Modelled, item: QuestionItem, answer: str) -> None:
    """A part of a question was answered (clicked or typed): quick mode switches the model."""
    quick, record = conversation.quick_model, conversation.record
    if quick is None or record.model == quick or not picks_quick(item, answer):
        return
    log.info("interview %s: quick mode, switching to %s", record.name, quick)
    await conversation.save(model=quick)
    conversation.session.use_model(quick)


def models(conversation: Modelled) -> tuple[str, ...]:
    """The models that ran: the interview began on the default; quick mode moves it on."""
    default, later = conversation.default_model, conversation.record.model
    return (default,) if later in (None, default) else (default, str(later))
