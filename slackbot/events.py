"""What a session tells the outside world: the only types the SDK side and the
Slack side share. Plain data, no Slack and no SDK types."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ASK_TOOL = "AskUserQuestion"  # Claude's tool that asks people: its calls become questions in the thread


@dataclass(frozen=True)
class Attachment:
    """A file a person attached to a reply: an image, or text (decoded as UTF-8)."""

    name: str
    mime: str
    data: bytes

    @property
    def is_image(self) -> bool:
        return self.mime.startswith("image/")

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class TextDelta:
    """A piece of Claude's answer, as it is generated."""

    text: str


@dataclass(frozen=True)
class TextDone:
    """One block of Claude's text is finished; the next text starts a new paragraph."""

    text: str


@dataclass(frozen=True)
class ToolActivity:
    """Claude started using a tool (e.g. writing a file); `summary` is a short phrase."""

    tool: str
    summary: str
    id: str = ""  # the tool call's, so its outcome finds it


@dataclass(frozen=True)
class ToolStarting:
    """Claude began a tool call (its input still coming): e.g. the text just before it
    may be a question's lead-in."""

    tool: str


@dataclass(frozen=True)
class ToolFailed:
    """A tool call's result was an error (e.g. a write the confinement policy refused);
    `output` says why in one short phrase for people."""

    id: str
    output: str


@dataclass(frozen=True)
class FileWritten:
    """A tool result confirmed that a spec file was written."""

    path: Path


@dataclass(frozen=True)
class SpecComplete:
    """Both spec files are confirmed written and on disk."""

    project_dir: Path
    files: tuple[Path, ...]


@dataclass(frozen=True)
class Failed:
    """The turn went wrong; `message` is one short sentence for people, `detail` is for logs."""

    message: str
    detail: str = ""
    overloaded: bool = False  # Claude's service answered 529: worth one more try by itself


@dataclass(frozen=True)
class Choice:
    label: str
    description: str = ""


@dataclass(frozen=True)
class QuestionItem:
    question: str
    header: str
    options: tuple[Choice, ...]
    multi_select: bool = False


@dataclass(frozen=True)
class Question:
    """Claude asks the team to choose (AskUserQuestion); answer with SpecSession.answer()."""

    id: str
    items: tuple[QuestionItem, ...]


@dataclass(frozen=True)
class Notice:
    """Something people should know that is not an error (one short sentence)."""

    message: str


@dataclass(frozen=True)
class OverBudget:
    """The spend limit the session was given stopped Claude's turn (the CLI's own check).
    `reached`: Claude had begun answering the message and was stopped before it finished
    (the message is in its transcript); otherwise the message never reached Claude."""

    reached: bool


@dataclass(frozen=True)
class TurnDone:
    """Claude finished answering this message."""

    session_id: str | None
    cost_usd: float | None = None  # the CLI's running total for the whole conversation
    model_turns: int | None = None  # this turn's
    input_tokens: int = 0  # this turn's, including cache reads and writes
    output_tokens: int = 0


@dataclass(frozen=True)
class ProcessStarted:
    """A CLI process started for the conversation; its running total starts at `total`
    (what the CLI saved before: a turn closed mid-way counts in it, a killed one does not)."""

    total: float


SessionEvent = (
    TextDelta | TextDone | ToolActivity | ToolFailed | Question | FileWritten | SpecComplete | Failed | Notice
    | OverBudget | TurnDone | ProcessStarted | ToolStarting
)
