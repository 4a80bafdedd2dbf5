"""The registry of interviews: which thread is which session, in what order replies go.

It joins a session (SDK side) to a relay (Slack side) without knowing either
world's types: it hands the session's events to the relay.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from .config import Settings
from .relay import StreamingSupport, ThreadRelay
from .session import SessionSettings, SpecSession
from .spec import project_dir

log = logging.getLogger(__name__)

ThreadKey = tuple[str, str]  # (channel, thread_ts)


def opening_message(name: str, starter: str) -> str:
    return (
        f"{starter} has just started a spec interview for the project `{name}` in a Slack "
        "thread. Greet them briefly and ask your first question."
    )


@dataclass(frozen=True)
class Reply:
    """A person's message in an interview thread."""

    channel: str
    thread_ts: str
    user_id: str
    text: str
    ts: str
    event_id: str | None = None


@dataclass
class Interview:
    name: str
    channel: str
    thread_ts: str
    started_by: str
    project_dir: Path
    session: SpecSession
    relay: ThreadRelay
    inbox: asyncio.Queue[tuple[str, str]] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None


class Interviews:
    def __init__(self, settings: Settings, client: AsyncWebClient, *, min_interval: float = 1.0) -> None:
        self.settings = settings
        self.client = client
        self.min_interval = min_interval
        self.streaming = StreamingSupport()
        self._by_thread: dict[ThreadKey, Interview] = {}
        self._seen_events: set[str] = set()
        self._seen_messages: set[ThreadKey] = set()
        self._session_settings = SessionSettings(
            model=settings.claude_model,
            skill_file=settings.skill_file,
            templates_dir=settings.templates_dir,
            max_turns=settings.max_turns,
        )

    def find(self, channel: str, thread_ts: str) -> Interview | None:
        return self._by_thread.get((channel, thread_ts))

    def find_by_name(self, name: str) -> Interview | None:
        return next((i for i in self._by_thread.values() if i.name == name), None)

    async def start(
        self, *, name: str, channel: str, thread_ts: str, user_id: str, team_id: str | None
    ) -> Interview:
        """Begin the interview in the given thread (its session creates the folder)."""
        folder = project_dir(self.settings.generations_dir, name)
        interview = Interview(
            name=name,
            channel=channel,
            thread_ts=thread_ts,
            started_by=user_id,
            project_dir=folder,
            session=SpecSession(folder, self._session_settings),
            relay=ThreadRelay(
                self.client, channel, thread_ts,
                team_id=team_id, streaming=self.streaming, min_interval=self.min_interval,
            ),
        )
        self._by_thread[(channel, thread_ts)] = interview
        self._enqueue(interview, opening_message(name, f"<@{user_id}>"), user_id)
        log.info("interview %s started in %s/%s by %s", name, channel, thread_ts, user_id)
        return interview

    def accept(self, reply: Reply) -> bool:
        """Queue a reply for its interview; False when it is not one, or already seen."""
        interview = self.find(reply.channel, reply.thread_ts)
        if interview is None:
            return False
        # Slack retries events and may deliver one message under two event ids.
        if reply.event_id is not None and reply.event_id in self._seen_events:
            return False
        if (reply.channel, reply.ts) in self._seen_messages:
            return False
        if reply.event_id is not None:
            self._seen_events.add(reply.event_id)
        self._seen_messages.add((reply.channel, reply.ts))
        self._enqueue(interview, reply.text, reply.user_id)
        return True

    def _enqueue(self, interview: Interview, text: str, user_id: str) -> None:
        interview.inbox.put_nowait((text, user_id))
        if interview.worker is None or interview.worker.done():
            interview.worker = asyncio.create_task(
                self._serve(interview), name=f"interview:{interview.name}"
            )

    async def _serve(self, interview: Interview) -> None:
        """Answer one reply at a time, in the order they arrived."""
        while not interview.inbox.empty():
            text, user_id = interview.inbox.get_nowait()
            try:
                await interview.relay.render(interview.session.send(text), recipient_user_id=user_id)
            except Exception:  # never let one thread's failure stop the others
                log.exception("turn failed in interview %s", interview.name)
                await interview.relay.say(
                    ":warning: Something went wrong on my side. Reply here to try again."
                )

    async def close(self) -> None:
        """Stop every worker and CLI process."""
        for interview in list(self._by_thread.values()):
            if interview.worker is not None:
                interview.worker.cancel()
        for interview in list(self._by_thread.values()):
            if interview.worker is not None:
                await asyncio.gather(interview.worker, return_exceptions=True)
            await interview.session.close()
