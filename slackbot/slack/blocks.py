"""Every Block Kit layout the bot posts, and every action id, in one place.

Built with `slack_sdk.models.blocks`, and kept within Slack's documented limits
(which the models do not all check): a layout never earns `invalid_blocks`.
What people or Claude wrote is escaped before it is placed in mrkdwn, and
shortened where a field is short; the full text is never lost (an open question's
card offers "Full question", a modal with all of it, and a click is resolved by
option index).
"""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
)

from ..events import QuestionItem
from ..markup import escape

STOP_ACTION = "newspec_stop"
ANSWER_ACTION_PREFIX = "newspec_answer_"  # + option index: action ids must be unique per block
OTHER_ACTION = "newspec_other"
PICK_ACTION = "newspec_pick"
SUBMIT_ACTION = "newspec_submit"
CANCEL_ACTION = "newspec_cancel"
CONTINUE_ACTION = "newspec_continue"
START_OVER_ACTION = "newspec_start_over"
FULL_QUESTION_ACTION = "newspec_full_question"
RETRY_ACTION = "newspec_retry"
TELL_ADMINS_ACTION = "newspec_tell_admins"
WHICH_ACTION_PREFIX = "newspec_which_"  # + part index: which open question a typed message answers
OTHER_VIEW = "newspec_other_answer"  # the "Other…" modal's callback_id
FULL_VIEW = "newspec_full_question"
OTHER_BLOCK, OTHER_INPUT = "answer", "text"  # where the modal's typed answer sits in its state

# Slack's limits (characters) for the fields used here.
SECTION_TEXT = 3_000
CONTEXT_TEXT = 3_000
CONTEXT_ELEMENTS = 10
BUTTON_TEXT = 75
OPTION_TEXT = 75
OPTION_DESCRIPTION = 75
MAX_BLOCKS = 50
RADIO_OPTIONS = 10  # radio_buttons take at most this many options
QUESTION_SHOWN = 700  # an open question's text on its card: about a phone screen; the rest one tap away
VIEW_TITLE = 24
VIEW_BLOCKS = 100
INPUT_TEXT = 3_000  # plain_text_input's max_length
SECTION_FIELDS = 10  # a section's fields: at most this many ...
FIELD_TEXT = 2_000  # ... of at most this many characters each
UPDATE_TEXT = 4_000  # chat.update's text


def shorten(text: str, limit: int) -> str:
    """`text` within `limit` characters, with an ellipsis when cut; never empty."""
    text = text.strip() or "…"
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def fields_section(fields: list[tuple[str, str]]) -> dict[str, Any]:
    """A section of labelled fields (`label` in bold over its value, both bot markup),
    within Slack's limits: the first ten, each value shortened to fit, never cut inside
    an escaped `&amp;`."""
    items = []
    for label, value in fields[:SECTION_FIELDS]:
        head = f"*{label}*\n"
        room = FIELD_TEXT - len(head)
        if len(value) > room:
            cut = value[: room - 1]
            amp = cut.rfind("&")
            if amp != -1 and ";" not in cut[amp:]:  # an entity cut in half
                cut = cut[:amp]
            value = cut.rstrip() + "…"
        items.append({"type": "mrkdwn", "text": head + value})
    return {"type": "section", "fields": items}


def _pieces(text: str, limit: int) -> list[str]:
    """`text` in consecutive pieces of at most `limit` characters, cut at line breaks
    or spaces where possible (a long question continues in the next block)."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        cut = cut if cut > limit // 2 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip()
    return [*pieces, text] if text or not pieces else pieces


def _dicts(blocks: list[Block]) -> list[dict[str, Any]]:
    return [block.to_dict() for block in blocks][:MAX_BLOCKS]


def markdown_blocks(text: str) -> list[dict[str, Any]]:
    return [{"type": "markdown", "text": text}]  # not in slack_sdk.models yet


def _title_sections(item: QuestionItem, limit: int | None = None) -> list[Block]:
    """The question's title: `*header* · question` (with `limit`: shortened to it, in one section)."""
    question = escape(shorten(item.question, limit) if limit else item.question)
    title = f"*{escape(item.header)}* · {question}" if item.header else f"*{question}*"
    return [SectionBlock(text=MarkdownTextObject(text=piece)) for piece in _pieces(title, SECTION_TEXT)]


def shortened(item: QuestionItem) -> bool:
    """Whether the card cuts anything of the question (its text, a label, a description)."""
    return len(item.question.strip()) > QUESTION_SHOWN or any(
        len(o.label.strip()) > OPTION_TEXT or len(o.description.strip()) > OPTION_DESCRIPTION for o in item.options
    )


def _options(item: QuestionItem) -> list[Option]:
    """The choices as radio or checkbox options: each label with its description under it
    (both shortened to Slack's 75 characters; the value is the option's index)."""
    return [
        Option(value=str(n), text=PlainTextObject(text=shorten(o.label, OPTION_TEXT)),
               description=PlainTextObject(text=shorten(o.description, OPTION_DESCRIPTION))
               if o.description.strip() else None)
        for n, o in enumerate(item.options)
    ]


def question_blocks(question_id: str, index: int, item: QuestionItem) -> list[dict[str, Any]]:
    """One question as Block Kit. Up to ten options: radio buttons (checkboxes when several
    may be picked) and Submit, which show each option's description under its label, read
    well on a phone; more: a button per option. Then "Other…", and "Full question" when the
    card had to shorten something."""
    blocks = _title_sections(item, QUESTION_SHOWN)
    ref = {"q": question_id, "i": index}
    other = ButtonElement(text="Other…", action_id=OTHER_ACTION, value=json.dumps(ref))
    full = [ButtonElement(text="Full question", action_id=FULL_QUESTION_ACTION, value=json.dumps(ref))]
    full = full if shortened(item) else []
    if item.multi_select or len(item.options) <= RADIO_OPTIONS:
        pick = (CheckboxesElement if item.multi_select else RadioButtonsElement)(
            action_id=PICK_ACTION, options=_options(item)[:RADIO_OPTIONS]
        )
        blocks.append(ActionsBlock(block_id=f"pick:{question_id}:{index}"[:255], elements=[pick]))
        submit = ButtonElement(text="Submit", action_id=SUBMIT_ACTION, style="primary", value=json.dumps(ref))
        blocks.append(ActionsBlock(elements=[submit, other, *full]))
        return _dicts(blocks)
    described = [
        f"• *{escape(shorten(o.label, 200))}* — {escape(o.description)}" for o in item.options if o.description
    ]
    if described:
        elements = [MarkdownTextObject(text=shorten(line, CONTEXT_TEXT)) for line in described[:CONTEXT_ELEMENTS]]
        blocks.append(ContextBlock(elements=elements))
    buttons = [
        ButtonElement(text=shorten(o.label, BUTTON_TEXT), action_id=f"{ANSWER_ACTION_PREFIX}{n}",
                      value=json.dumps({**ref, "o": n}))
        for n, o in enumerate(item.options)
    ]
    blocks.append(ActionsBlock(elements=[*buttons[:22], other, *full]))
    return _dicts(blocks)


def _view(callback_id: str, title: str, blocks: list[Block], **fields: Any) -> dict[str, Any]:
    """A modal within Slack's limits (title 24 characters, 100 blocks)."""
    view = {
        "type": "modal", "callback_id": callback_id,
        "title": PlainTextObject(text=shorten(title, VIEW_TITLE)).to_dict(),
        "close": PlainTextObject(text="Close").to_dict(), "blocks": [b.to_dict() for b in blocks][:VIEW_BLOCKS],
    }
    return {**view, **fields}


def other_view(item: QuestionItem, metadata: str) -> dict[str, Any]:
    """"Other…": the question and a box for the person's own answer. `metadata` (which
    question, which thread) comes back with the submission; Slack keeps it, not the client."""
    answer = {
        "type": "input", "block_id": OTHER_BLOCK, "label": {"type": "plain_text", "text": "Your answer"},
        "element": {"type": "plain_text_input", "action_id": OTHER_INPUT, "multiline": True,
                    "max_length": INPUT_TEXT},
    }
    view = _view(OTHER_VIEW, "Your answer", _title_sections(item, SECTION_TEXT - 100),
                 submit=PlainTextObject(text="Send").to_dict(), close=PlainTextObject(text="Cancel").to_dict(),
                 private_metadata=metadata)
    view["blocks"].append(answer)
    return view


def full_question_blocks(item: QuestionItem) -> list[Block]:
    """The whole question and every option's full label and description."""
    options = [
        SectionBlock(text=MarkdownTextObject(text=piece))
        for o in item.options for piece in _pieces(f"*{escape(o.label.strip() or '…')}*\n{escape(o.description)}",
                                                    SECTION_TEXT)
    ]
    return [*_title_sections(item), *options]


def full_question_view(item: QuestionItem) -> dict[str, Any]:
    return _view(FULL_VIEW, "Full question", full_question_blocks(item))


def which_blocks(parts: list[tuple[int, QuestionItem]], ref: dict[str, Any]) -> list[dict[str, Any]]:
    """Asks which open question a typed message answers: a button per question, labelled
    with its header (or its start); `ref` names the message and the question."""
    buttons = [
        ButtonElement(text=shorten(item.header or item.question, 40), action_id=f"{WHICH_ACTION_PREFIX}{index}",
                      value=json.dumps({**ref, "i": index}))
        for index, item in parts
    ]
    text = "Several questions are open. Which one does your message answer?"
    return _dicts([SectionBlock(text=MarkdownTextObject(text=text)), ActionsBlock(elements=buttons[:25])])


def answered_blocks(item: QuestionItem, who: str, answer: str) -> list[dict[str, Any]]:
    """The question after it was answered: who (bot markup) chose what (people's text)."""
    line = f":white_check_mark: {who}: *{escape(shorten(answer, CONTEXT_TEXT - 200))}*"
    return _dicts([*_title_sections(item), ContextBlock(elements=[MarkdownTextObject(text=line)])])


def withdrawn_blocks(item: QuestionItem) -> list[dict[str, Any]]:
    """A question whose turn ended before anyone answered: no more controls."""
    line = "_No longer open: Claude stopped waiting for this answer. Reply in the thread to go on._"
    return _dicts([*_title_sections(item), ContextBlock(elements=[MarkdownTextObject(text=line)])])


def update_text(text: str) -> str:
    """A notification text that chat.update accepts."""
    return shorten(text, UPDATE_TEXT - 100)


def status_blocks(activity: str | None, turn: str) -> list[dict[str, Any]]:
    """Below a message Claude is still writing: what it is doing (if not just writing),
    and a Stop button. The button stops the thread it is clicked in, and there only the
    turn its value names: one left behind (a crash kept it) must not stop a later one."""
    line = [ContextBlock(elements=[MarkdownTextObject(text=f":hourglass_flowing_sand: _{escape(activity)}…_")])]
    stop = ActionsBlock(elements=[ButtonElement(text="Stop", action_id=STOP_ACTION, value=turn)])
    return _dicts([*(line if activity else []), stop])


def without_status(blocks: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """A posted message's blocks without the status line and Stop a turn showed under it
    (`status_blocks`); None if it shows no Stop."""
    stop = next((
        n for n, block in enumerate(blocks) if block.get("type") == "actions"
        and any(element.get("action_id") == STOP_ACTION for element in block.get("elements") or [])
    ), None)
    if stop is None:
        return None
    start = stop - 1 if stop and _is_status_line(blocks[stop - 1]) else stop
    return blocks[:start] + blocks[stop + 1 :]


def _is_status_line(block: dict[str, Any]) -> bool:
    elements = block.get("elements") or [{}]
    text = str(elements[0].get("text") or "") if isinstance(elements[0], dict) else ""
    return block.get("type") == "context" and text.startswith(":hourglass_flowing_sand: _")


def root_blocks(text: str, *, cancel: bool = True) -> list[dict[str, Any]]:
    """The thread's root message: who started what, where it stands, and (`cancel`) a way
    to end it. A plain button: Slack keeps the danger style for rarer moments, and the
    confirm dialog guards it."""
    section = SectionBlock(text=MarkdownTextObject(text=shorten(text, SECTION_TEXT)))
    if not cancel:
        return _dicts([section])
    confirm = ConfirmObject(
        title="Cancel this interview?",
        text=MarkdownTextObject(text="Claude stops and the thread ends. Files already written are kept."),
        confirm="Cancel interview",
        deny="Keep going",
    )
    button = ButtonElement(text="Cancel interview", action_id=CANCEL_ACTION, confirm=confirm)
    return _dicts([section, ActionsBlock(elements=[button])])


def existing_spec_blocks(name: str) -> list[dict[str, Any]]:
    """The offer for a project whose folder already holds a finished spec. The buttons
    carry only the name: a click acts in the channel it came from, and the name is
    checked again as if typed (a value is the clicker's to change)."""
    value = json.dumps({"name": name})
    text = (
        f"*{escape(name)}* already has a finished spec from an earlier interview. Continue editing it "
        "in a new thread, or start over? Starting over keeps the old files in a dated backup folder."
    )
    return _dicts([
        SectionBlock(text=MarkdownTextObject(text=text)),
        ActionsBlock(elements=[
            ButtonElement(text="Continue editing", action_id=CONTINUE_ACTION, style="primary", value=value),
            ButtonElement(text="Start over", action_id=START_OVER_ACTION, value=value),
        ]),
    ])


def retry_buttons(turn: str) -> list[dict[str, Any]]:
    """Under a failed answer's note: Retry, naming the turn that failed."""
    button = {"type": "button", "text": {"type": "plain_text", "text": "Retry"}, "action_id": RETRY_ACTION,
              "value": turn}
    return [{"type": "actions", "elements": [button]}]


def clicked(blocks: list[dict[str, Any]], action: str, line: str) -> list[dict[str, Any]]:
    """A note's blocks with the row holding `action` replaced by `line` (who clicked it)."""
    def holds(block: dict[str, Any]) -> bool:
        return block.get("type") == "actions" and any(
            element.get("action_id") == action for element in block.get("elements") or []
        )
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}
    return [context if holds(block) else block for block in blocks]


def tell_admins_buttons(key: tuple[str, ...]) -> list[dict[str, Any]]:
    """Under a budget pause's note: Tell the admins, naming the budget (`Held.key`)."""
    button = {"type": "button", "text": {"type": "plain_text", "text": "Tell the admins"},
              "action_id": TELL_ADMINS_ACTION, "value": json.dumps(list(key))}
    return [{"type": "actions", "elements": [button]}]
