"""What the bot hands the `claude` CLI as a person's message.

The CLI reads `@path` in a prompt (in content blocks too) into the model's
context before any tool permission runs, so every word-initial `@` in people's
text is neutralized here, and messages go as content blocks.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from .events import Attachment


@dataclass(frozen=True)
class Message:
    """A user message for Claude: text plus attached images or text files."""

    text: str
    attachments: tuple[Attachment, ...] = ()


# An `@` that starts a word: the CLI reads `@path` in a prompt (content blocks
# too) into the model's context before any tool permission runs.
_FILE_REFERENCE = re.compile(r"(?<![A-Za-z0-9_.+\-])@")
WORD_JOINER = "\u2060"  # invisible; the CLI's `(^|\s)@` no longer matches


def neutralize(text: str) -> str:
    """People's text as the CLI must see it: every word-initial `@` is preceded by
    an invisible word joiner, so no `@path` is expanded (e-mail addresses stay as
    they are)."""
    return _FILE_REFERENCE.sub(WORD_JOINER + "@", text)


def compose(messages: list[Message]) -> AsyncIterator[dict[str, Any]]:
    """One user message for the CLI, as content blocks, with every `@` neutralized."""
    parts = [neutralize(m.text) for m in messages if m.text]
    images: list[dict[str, Any]] = []
    for attachment in (a for m in messages for a in m.attachments):
        if attachment.is_image:
            data = base64.b64encode(attachment.data).decode()
            images.append({"type": "image", "source": {"type": "base64", "media_type": attachment.mime, "data": data}})
            parts.append(f"(Attached image: {neutralize(attachment.name)})")
        else:
            body = neutralize(attachment.data.decode("utf-8"))
            parts.append(f"Attached file `{neutralize(attachment.name)}`:\n```\n{body}\n```")
    content = [{"type": "text", "text": "\n\n".join(parts) or "(no text)"}, *images]

    async def one_message() -> AsyncIterator[dict[str, Any]]:
        yield {"type": "user", "message": {"role": "user", "content": content}, "parent_tool_use_id": None}

    return one_message()
