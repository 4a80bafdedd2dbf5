"""What the bot hands the `claude` CLI as a person's message.

The CLI has features of its own that no tool permission sees, and both are
closed here, for every turn whatever it carries:
- it reads `@path` in a prompt (in content blocks too) into the model's context,
  so every word-initial `@` in people's text is neutralized;
- it runs a turn whose text starts with `/` as one of its commands (`/clear`,
  `/model`, `/heapdump`, skills), so every turn starts with a lead of ours.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ..events import Attachment


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


# The first words of every turn: ours, so nothing a person types, is named or
# attaches is ever the first character the CLI sees (a leading `/` is a command).
TURN_LEAD = "Message from the team:"


def compose(messages: list[Message], message_id: str | None = None) -> AsyncIterator[dict[str, Any]]:
    """One user message for the CLI, as content blocks, led by our own words, with
    every `@` neutralized. The CLI records it in its transcript under `message_id`."""
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
    text = "\n\n".join([TURN_LEAD, *parts]) if parts else f"{TURN_LEAD} (no text)"
    content = [{"type": "text", "text": text}, *images]

    async def one_message() -> AsyncIterator[dict[str, Any]]:
        message: dict[str, Any] = {"type": "user", "message": {"role": "user", "content": content}}
        yield {**message, "parent_tool_use_id": None, **({"uuid": message_id} if message_id else {})}

    return one_message()
