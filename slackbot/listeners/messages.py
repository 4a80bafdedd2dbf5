"""Thread replies: relay a person's message in an interview thread to its session."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from ..events import Attachment
from ..interview.conversation import Conversation
from ..interview.questions import Accepted
from ..interview.registry import Interviews, Reply
from ..slack.attachments import FileInfo, fetch_attachments, file_refs, not_fetched, origin
from ..slack.people import DisplayNames
from ..slack.relay import SLACK_ERRORS, recipient_team, slack_error
from ..slack.scheduler import SchedulerClosed, SlackScheduler
from ..slack.typed_text import mentioned, typed_text
from ..store import PendingReply, Status, StoreUnavailable
from ..store.records import ReplyChange

log = logging.getLogger(__name__)

# Subtypes that are still a person talking; edits and deletes change what they said
# (see `edited`, `deleted`); joins etc. are not.
RELAYED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})
STOP_WORDS = frozenset({"stop"})
MAX_REPLY_CHARS = 20_000  # plenty for an answer; beyond is a paste gone wrong
EDIT_TOO_LATE = (
    "Claude already has the earlier version of that message, so your edit wasn't passed on: "
    "reply here with the correction."
)
DELETE_TOO_LATE = (
    "Claude had already read that message before you deleted it; reply here if it should set it aside."
)
LONG_REPLY = "That message is very long; I passed on its first {:,} characters."


@dataclass(frozen=True)
class Note:
    """A private note for a person, sent after the ack."""

    channel: str
    user: str
    thread_ts: str
    text: str


@dataclass
class Arrival:
    """A person's reply as taken in before the ack: what is left to do after it."""

    conversation: Conversation
    tell: str | None = None  # a private note for the author, and nothing else
    stop: bool = False  # they typed "stop"
    held: PendingReply | Accepted | None = None  # stored (to enrich), or why not
    files: list[dict] = field(default_factory=list)
    too_long: bool = False
    slack_text: str = ""  # as Slack sent it: decoded again once the people it mentions are looked up


@dataclass(frozen=True)
class Renaming:
    """An edit applied before the ack, with people it mentions whose names weren't
    remembered (named by id): looked up after the ack, the words get their names."""

    conversation: Conversation
    ts: str
    stored: str  # the words as the edit stored them
    slack_text: str


def register(app: AsyncApp, interviews: Interviews, names: DisplayNames) -> None:
    told: set[str] = set()  # events whose author heard theirs wasn't saved (Slack retries them)

    async def take_in(event: dict, body: dict, context: AsyncBoltContext, next: Callable[[], Awaitable[None]]) -> None:
        """Listener middleware: it runs before Bolt acks the event, so a reply (or an edit
        or delete of one) is stored before Slack hears it arrived (Slack never sends an
        acked event again); what is said about it is said after. With the database
        unreachable nothing is stored and nothing acked: Slack sends the event again."""
        unavailable = False
        try:
            subtype, event_id = event.get("subtype"), body.get("event_id")
            if subtype == "message_changed":
                context["note"], context["renaming"] = await edited(
                    interviews, names, event, event_id, context.bot_user_id
                )
            elif subtype == "message_deleted":
                context["note"] = await deleted(interviews, event, event_id, context.bot_user_id)
            else:
                team = recipient_team(event.get("user_team"), context.team_id, context.enterprise_id)
                context["arrival"] = await arrive(interviews, names, event, body, context.bot_user_id, team)
        except StoreUnavailable:
            unavailable = True
            await unsaved(interviews, event, body.get("event_id"), told)
            raise
        finally:
            if not unavailable:
                await next()

    # A catch-all, so every message event (including subtypes we ignore) is
    # acked quietly instead of Bolt warning about unhandled events.
    async def on_message(event: dict, body: dict, context: AsyncBoltContext, client: AsyncWebClient) -> None:
        note: Note | None = context.get("note")
        if note is not None:  # about an edit or a delete, applied before the ack
            await privately(interviews, note)
        renaming: Renaming | None = context.get("renaming")
        if renaming is not None:
            await rename(interviews, names, renaming)
        arrival: Arrival | None = context.get("arrival")
        if arrival is None:
            return
        conversation, user = arrival.conversation, str(event.get("user"))

        async def tell(note: str) -> None:
            record = conversation.record
            await privately(interviews, Note(record.channel, user, record.thread_ts, note))

        if arrival.stop:
            if not await interviews.stop(conversation):
                await tell("Claude isn't answering right now, so there is nothing to stop.")
            return
        if arrival.tell is not None:
            await tell(arrival.tell)
            return
        held = arrival.held
        # Stored already, so its place in the thread is kept while its author's name and
        # its files are fetched; then it answers the question Claude waits on, if it was
        # written after the question showed, or waits for the next turn.
        outcome = held if isinstance(held, Accepted) or held is None else await enrich(
            interviews, names, client, conversation, held, arrival.files, arrival.slack_text
        )
        if outcome is Accepted.CANCELLED:
            await tell(
                "This interview was cancelled, so I'm not passing that on. Start again with "
                f"`/newspec {conversation.record.name}` (the project's files are kept)."
            )
        elif outcome is Accepted.QUEUED and arrival.too_long:
            await tell(LONG_REPLY.format(MAX_REPLY_CHARS))

    app.event("message", middleware=[take_in])(on_message)


UNSAVED = (
    "I couldn't save your message just now: my database isn't reachable. Slack will send it to me "
    "again within a few minutes and I'll answer it then; if I haven't in 10 minutes, send it again."
)


async def unsaved(interviews: Interviews, event: dict, event_id: str | None, told: set[str]) -> None:
    """Tell a person in an interview thread (one this process knows without its database)
    that their message wasn't saved, once per event."""
    channel, thread_ts, user = event.get("channel"), event.get("thread_ts"), event.get("user")
    if not (channel and thread_ts and user) or event.get("bot_id") or not interviews.known(channel, thread_ts):
        return
    if event_id is not None:
        if event_id in told:
            return
        if len(told) > 1000:
            told.clear()
        told.add(event_id)
    log.warning("could not store a message in %s/%s: the database is unreachable", channel, thread_ts)
    await privately(interviews, Note(channel, user, thread_ts, UNSAVED))


async def privately(interviews: Interviews, note: Note) -> None:
    """A note only its person sees. Slack shows an ephemeral only to a member of the
    channel (`user_not_in_channel` otherwise: someone answering in a thread of a channel
    they aren't in, or who left it); it is logged then, not posted where others read it
    (notes say things like "you deleted that message")."""
    try:
        await interviews.scheduler.ephemeral(channel=note.channel, user=note.user, thread_ts=note.thread_ts,
                                             text=note.text)
    except SLACK_ERRORS as exc:
        log.warning("could not tell %s privately in %s/%s (%s): %s",
                    note.user, note.channel, note.thread_ts, slack_error(exc), note.text)


async def arrive(
    interviews: Interviews, names: DisplayNames, event: dict, body: dict, bot_user_id: str | None,
    team: str | None = None,
) -> Arrival | None:
    """A person's reply in an interview thread, taken in: checked, decoded to what they
    typed (people by the names remembered: `enrich` looks up the others), and stored at
    once (no Slack call here: the ack waits for it) with `team`, the one answers to it
    stream to (see `recipient_team`). None for anything else."""
    thread_ts, user = event.get("thread_ts"), event.get("user")
    if (
        not thread_ts
        or thread_ts == event.get("ts")
        or event.get("subtype") not in RELAYED_SUBTYPES
        or event.get("bot_id")
        or not user
        or user == bot_user_id
    ):
        return None
    channel, slack_text, ts = event.get("channel"), event.get("text") or "", event.get("ts")
    if not isinstance(channel, str) or not isinstance(ts, str) or not isinstance(slack_text, str):
        return None  # not a message we can place
    text = typed_text(slack_text, names.known)
    conversation = await interviews.find(channel, str(thread_ts))
    if conversation is None:
        return None  # a thread that is not an interview
    refusal = interviews.refusal(conversation, user, channel)
    if refusal is not None:
        return Arrival(conversation, tell=f":no_entry: {refusal}")
    files = [f for f in event.get("files") or [] if isinstance(f, dict)]
    if not text.strip() and not files:
        return None  # nothing to pass on
    if text.strip().lower() in STOP_WORDS:
        return Arrival(conversation, stop=True)
    if not interviews.message_limit.allow(user):
        if not interviews.message_limit.should_tell(user):
            return None
        return Arrival(conversation, tell=(
            ":raised_hand: You're sending messages faster than I can pass them on, so I "
            "skipped the last one. Wait a minute, then send it again."
        ))
    reply = Reply(channel, str(thread_ts), user, text[:MAX_REPLY_CHARS], ts, body.get("event_id"), team)
    held = await interviews.hold(conversation, reply, file_refs(files))
    return Arrival(conversation, held=held, files=files, too_long=len(text) > MAX_REPLY_CHARS, slack_text=slack_text)


def persons_reply(message: object, bot_user_id: str | None) -> tuple[str, str, str] | None:
    """(author, ts, thread_ts) of a person's reply in a thread, as an edit or delete
    carries it (`message`, `previous_message`); None for the bot's own messages (it
    updates them all the time), other bots', thread roots and anything else."""
    if not isinstance(message, dict):
        return None
    user, ts, thread_ts = message.get("user"), message.get("ts"), message.get("thread_ts")
    if (
        not isinstance(user, str) or not isinstance(ts, str) or not isinstance(thread_ts, str)
        or ts == thread_ts
        or message.get("subtype") not in RELAYED_SUBTYPES
        or message.get("bot_id")
        or user == bot_user_id
    ):
        return None
    return user, ts, thread_ts


async def edited(
    interviews: Interviews, names: DisplayNames, event: dict, event_id: str | None, bot_user_id: str | None
) -> tuple[Note | None, Renaming | None]:
    """A person edited a reply: if it waits for Claude, Claude gets the new text (decoded
    as `arrive` does; a Renaming if people in it are to be looked up after the ack); if
    Claude already has it, they are to be told to reply with the correction (the note)."""
    message, before, channel = event.get("message"), event.get("previous_message"), event.get("channel")
    if not isinstance(message, dict) or not isinstance(channel, str) or event.get("bot_id"):
        return None, None
    reply = persons_reply(message, bot_user_id)
    if reply is None:
        return None, None
    user, ts, thread_ts = reply
    slack_text = message.get("text") or ""
    previous = before.get("text") if isinstance(before, dict) else None
    if not isinstance(slack_text, str) or slack_text == previous:
        return None, None  # Slack also says "changed" when it adds a link's preview: the words are the same
    conversation = await interviews.find(channel, thread_ts)
    if conversation is None:
        return None, None  # a thread that is not an interview
    refusal = interviews.refusal(conversation, user, channel)
    if refusal is not None:
        return Note(channel, user, thread_ts, f":no_entry: {refusal}"), None
    text = typed_text(slack_text, names.known)
    # As it was stored (decoded with the names remembered then, which are remembered still).
    capped = typed_text(previous, names.known)[:MAX_REPLY_CHARS] if isinstance(previous, str) else None
    change = await interviews.edit(conversation, ts, capped, text[:MAX_REPLY_CHARS], event_id)
    note, renaming = None, None
    if change is ReplyChange.SENT:
        note = EDIT_TOO_LATE
    elif change is ReplyChange.APPLIED:
        note = LONG_REPLY.format(MAX_REPLY_CHARS) if len(text) > MAX_REPLY_CHARS else None
        if any(names.known(u) is None for u in mentioned(slack_text)):
            renaming = Renaming(conversation, ts, text[:MAX_REPLY_CHARS], slack_text)
    return (None if note is None else Note(channel, user, thread_ts, note)), renaming


async def rename(interviews: Interviews, names: DisplayNames, renaming: Renaming) -> None:
    """After the ack: an edit's words with the names of the people it mentions, if it
    still waits for Claude and nothing changed it since."""
    text = (await names.typed(renaming.slack_text))[:MAX_REPLY_CHARS]
    if text != renaming.stored:
        await interviews.edit(renaming.conversation, renaming.ts, renaming.stored, text, unchanged_only=True)


async def deleted(
    interviews: Interviews, event: dict, event_id: str | None, bot_user_id: str | None
) -> Note | None:
    """A message was deleted: if it waits for Claude, it goes (files too), whoever deleted
    it; if Claude already read it, its author is to hear so (the note)."""
    channel, ts, before = event.get("channel"), event.get("deleted_ts"), event.get("previous_message")
    if not isinstance(channel, str) or not isinstance(ts, str):
        return None
    if isinstance(before, dict) and (before.get("bot_id") or before.get("user") == bot_user_id):
        return None  # the bot's own (a status line, a note): never a reply
    change = await interviews.forget(channel, ts, event_id)
    reply = persons_reply(before, bot_user_id)
    if change is not ReplyChange.SENT or reply is None:
        return None
    user, _, thread_ts = reply
    conversation = await interviews.find(channel, thread_ts)
    if conversation is None or conversation.record.status == Status.CANCELLED:
        return None
    return Note(channel, user, thread_ts, DELETE_TOO_LATE)


async def enrich(
    interviews: Interviews, names: DisplayNames, client: AsyncWebClient, conversation: Conversation,
    held: PendingReply, files: list[dict], slack_text: str = "",
) -> Accepted:
    """Fetch what the held reply needs (its author's name, the names of the people it
    mentions, its files), then release it to Claude, whatever fails here (the thread
    hears which files were not passed on), so it can't block the thread. Cancelled,
    because the bot is stopping, it stays held with its file list (see `Interviews.hold`),
    and the next start fetches them again (the people it mentions then keep their ids)."""
    try:
        author: str | None = await names.get(held.user_id)
    except Exception as exc:  # Slack unreachable: Claude sees the person's id instead
        log.warning("could not look up the name of %s: %s", held.user_id, exc)
        author = None
    if mentioned(slack_text):  # stored with the names remembered then: now with everyone's
        held = replace(held, text=(await names.typed(slack_text))[:MAX_REPLY_CHARS])
    attachments: list[Attachment] = []
    notes: list[str] = []
    if files:
        try:
            attachments, notes = await fetch_attachments(
                files, client.token or "", api_origin=origin(interviews.settings.slack_api_url),
                file_info=file_lookup(interviews.scheduler, held.thread_ts),
            )
        except SchedulerClosed:  # the bot is stopping: the reply stays held, as if cancelled
            log.info("stopping while the files of %s/%s were looked up; the next start fetches them again",
                     held.channel, held.ts)
            return Accepted.STALE  # nothing to tell anyone now
        except Exception:  # fetch_attachments answers for each file; this is what it couldn't
            log.exception("could not fetch the files of %s/%s", held.channel, held.ts)
            attachments, notes = [], [not_fetched(file) for file in files]
    return await interviews.complete(conversation, held, author, attachments, notes)


def file_lookup(scheduler: SlackScheduler, thread_ts: str) -> FileInfo:
    """`files.info` with the bot token, within its budget, for a file that came as a
    Slack Connect stub (a 429 pauses the method and asks again, as for every call)."""

    async def file_info(file_id: str) -> dict:
        response = await scheduler.run(
            "files.info", lambda: scheduler.client.files_info(file=file_id), fair_key=thread_ts
        )
        found = response.get("file")
        return found if isinstance(found, dict) else {}

    return file_info
