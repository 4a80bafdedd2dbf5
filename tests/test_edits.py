"""Edits and deletes in an interview thread: a reply still waiting for Claude's turn is
changed or removed before Claude gets it; one Claude already has is not sent again, and
its author hears why. The bot's own edits (it updates its messages all the time) and
other bots' are not people talking."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from slackbot.events import Attachment
from slackbot.store import SqliteStore
from slackbot.store.records import ReplyChange
from slackbot.store.replies import reword
from tests.conftest import Harness, held, people_said
from tests.fakes import anthropic as fa
from tests.test_at_rest import on_disk

BUSY = "a shop for plants"  # what Claude is answering: stored until its turn is over


async def busy_interview(h: Harness, *later: fa.Step) -> tuple[str, asyncio.Event]:
    """An interview whose Claude is busy answering BUSY until the returned event is set,
    so what people type meanwhile waits in the store; then `later` steps."""
    started, release = asyncio.Event(), asyncio.Event()
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), held(started, release, "Noted."), *later])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    await h.slack.send_message("C1", "U1", BUSY, thread_ts=root_ts)
    await asyncio.wait_for(started.wait(), 15)
    return root_ts, release


async def until_waiting(h: Harness, root_ts: str, texts: list[str], what: str) -> None:
    """Wait until exactly these replies are stored for Claude, each ready (not held for files)."""

    async def waiting() -> bool:
        pending = await h.bot.store.pending_replies("C1", root_ts)
        return [(r.text, r.ready) for r in pending] == [(text, True) for text in texts]

    await h.slack.wait_for(waiting, what=what)


async def held_as(h: Harness, root_ts: str, text: str) -> None:
    """Wait until the reply behind BUSY is `text`, held (not yet ready) for its author and files."""

    async def held() -> bool:
        pending = await h.bot.store.pending_replies("C1", root_ts)
        return [(r.text, r.ready) for r in pending] == [(BUSY, True), (text, False)]

    await h.slack.wait_for(held, what=f"{text!r} held while its author and files are fetched")


def everything_sent(h: Harness) -> str:
    """Every request the model got (main and utility), as sent."""
    return "\n".join(json.dumps(r.body) for r in [*h.model.requests, *h.model.utility_requests])


async def test_an_edit_to_a_waiting_reply_is_what_claude_gets(start_bot):
    h = await start_bot()
    root_ts, release = await busy_interview(h, fa.text("Postgres it is."))
    typed = await h.slack.send_message("C1", "U1", "use MySQL", thread_ts=root_ts)
    await until_waiting(h, root_ts, [BUSY, "use MySQL"], "the reply to wait for Claude")

    await h.slack.edit_message("C1", typed.ts, "use Postgres")
    await until_waiting(h, root_ts, [BUSY, "use Postgres"], "the edited reply to wait instead")
    release.set()
    await h.wait_for_text("C1", root_ts, "Postgres it is.")
    assert people_said(h.model.requests[-1]) == "u1: use Postgres"  # the author's name is kept
    assert "MySQL" not in everything_sent(h)
    assert not h.slack.ephemerals()  # nothing to tell: the edit was applied
    h.model.verify()


async def test_an_edit_while_the_reply_is_held_for_its_files_is_kept(start_bot):
    h = await start_bot()
    root_ts, release = await busy_interview(h, fa.text("Postgres it is."))
    looked_up = h.slack.hold_next("users.info")  # the reply is held until its author is known
    notes = h.slack.add_file("tables: users, orders\n", "schema.txt", user="U2")
    typed = await h.slack.send_message("C1", "U2", "use MySQL", thread_ts=root_ts, files=[notes])
    await held_as(h, root_ts, "use MySQL")

    await h.slack.edit_message("C1", typed.ts, "use Postgres")
    await held_as(h, root_ts, "use Postgres")
    looked_up.release.set()  # completing the reply (its author, its files) keeps the edit
    await until_waiting(h, root_ts, [BUSY, "use Postgres"], "the held reply to be completed with the edit")
    release.set()
    await h.wait_for_text("C1", root_ts, "Postgres it is.")
    said = people_said(h.model.requests[-1])
    assert said.startswith("u2: use Postgres") and "tables: users, orders" in said
    assert "MySQL" not in everything_sent(h)
    h.model.verify()


async def test_a_deleted_waiting_reply_never_reaches_claude_nor_stays_on_disk(start_bot, tmp_path: Path):
    h = await start_bot()
    root_ts, release = await busy_interview(h, fa.text("Staging it is."))
    secret = "my API key is sk-123"
    typed = await h.slack.send_message("C1", "U1", secret, thread_ts=root_ts)
    await h.slack.send_message("C1", "U1", "we test against staging", thread_ts=root_ts)
    await until_waiting(h, root_ts, [BUSY, secret, "we test against staging"], "both replies to wait for Claude")

    deletion = await h.slack.delete_message("C1", typed.ts)
    await until_waiting(h, root_ts, [BUSY, "we test against staging"], "the deleted reply to stop waiting")
    # Slack retries a delivery it thinks was missed: that is not a message Claude read.
    await h.slack.send_envelope("events_api", deletion.payload, retry_attempt=1, retry_reason="timeout")
    # Its row is gone from the database and from the write-ahead log, not just unlisted.
    await h.slack.wait_for(lambda: b"sk-123" not in on_disk(tmp_path / "state"), what="the key off the disk")
    release.set()
    await h.wait_for_text("C1", root_ts, "Staging it is.")
    assert people_said(h.model.requests[-1]) == "u1: we test against staging"
    assert "sk-123" not in everything_sent(h)
    assert not h.slack.ephemerals()
    h.model.verify()


async def test_editing_or_deleting_a_reply_claude_already_has_tells_its_author_and_sends_nothing(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("MySQL, noted."), fa.text("Cats, noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    typed = await h.slack.send_message("C1", "U1", "use MySQL", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "MySQL, noted.")
    await until_waiting(h, root_ts, [], "the answered reply to leave the store")

    await h.slack.edit_message("C1", typed.ts, "use Postgres")
    edited = await h.slack.wait_for(lambda: h.slack.ephemerals(user="U1"), what="the note about the edit")
    await h.slack.delete_message("C1", typed.ts)
    await h.slack.wait_for(lambda: len(h.slack.ephemerals(user="U1")) == 2, what="the note about the delete")
    (about_edit, about_delete) = (e.text for e in h.slack.ephemerals(user="U1"))
    assert edited[0].thread_ts == root_ts
    assert "already has the earlier version" in about_edit and "reply" in about_edit
    assert "already read that message" in about_delete

    # Nothing was queued by either: the next turn carries only the next message.
    await h.slack.send_message("C1", "U1", "it sells cat toys", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Cats, noted.")
    assert people_said(h.model.requests[-1]) == "u1: it sells cat toys"
    assert "Postgres" not in everything_sent(h)
    assert len(h.model.requests) == 3
    h.model.verify()


async def test_the_bots_own_edits_and_deletes_and_other_bots_edits_never_reach_claude(start_bot):
    # Not streamed: answers grow by chat.update, and Slack tells the app of each one, as it
    # tells it of every change in the channel. Only U1 may use the bot: were the bot's own
    # changes taken for a person's, they would be refused, and the refusal shown.
    h = await start_bot(env={"NEWSPEC_ALLOWED_USERS": "U1"}, streaming=False, echo_changes=True)
    h.model.script(
        str(h.project("shop")),
        [fa.text("Hello! " * 40, chunk_size=10, delay=0.02), fa.text("Noted, " * 40, chunk_size=10, delay=0.02)],
    )
    root_ts = await h.start_interview("shop")
    await h.settled("C1", root_ts, "Hello!")
    await all_echoed(h)
    other = await h.slack.send_message("C1", "UOTHERBOT", "build status: green", thread_ts=root_ts, bot_id="B2")
    await h.slack.edit_message("C1", other.ts, "build status: red")

    await h.slack.send_message("C1", "U1", "a shop for plants", thread_ts=root_ts)
    await h.settled("C1", root_ts, "Noted,")
    await until_waiting(h, root_ts, [], "the reply to be answered")
    await all_echoed(h)
    assert [people_said(r) for r in h.model.requests][1:] == ["u1: a shop for plants"]
    assert "build status" not in everything_sent(h)
    assert not h.slack.ephemerals()
    h.model.verify()


async def all_echoed(h: Harness) -> None:
    """Wait until the bot has been told of each of its own updates and deletes so far."""
    own = [c for c in h.slack.calls if c.method in ("chat.update", "chat.delete") and c.ok]
    assert any(c.method == "chat.update" for c in own)
    await h.slack.wait_for(lambda: len(h.slack.echoed) >= len(own), what="Slack to tell the bot of its own changes")


# -- the store's side, on a real SqliteStore ----------------------------------------


def test_rewording_keeps_the_lines_about_files_after_the_words():
    note = "(A file was not passed on: `big.png`: too big)"
    assert reword(f"use MySQL\n{note}", "use MySQL", "use Postgres") == f"use Postgres\n{note}"
    assert reword(note, "", "see the sketch") == f"see the sketch\n{note}"  # a message of files only
    assert reword("use MySQL", "use MySQL", "") == ""
    assert reword("something else", "use MySQL", "use Postgres") == "use Postgres"  # not what it says
    assert reword("use MySQL", None, "use Postgres") == "use Postgres"  # the earlier text unknown


async def test_a_reply_deleted_while_held_leaves_no_files_behind(tmp_path: Path):
    store = SqliteStore(tmp_path / "newspec.db")
    await store.open()
    try:
        held = await store.accept_reply("C1", "1.0", "U1", "the sketch", "2.0", None, ready=False)
        assert held is not None
        assert await store.forget_reply("C1", "2.0") is ReplyChange.APPLIED
        secret = Attachment("keys.txt", "text/plain", b"sk-" + b"9" * 4000)
        await store.complete_reply(held.id, "the sketch", "u1", (secret,))  # its download finishes
        assert await store.pending_replies("C1", "1.0") == []
        assert await store.reply_files([held.id]) == ()
        assert b"9" * 4000 not in on_disk(tmp_path)
        assert await store.forget_reply("C1", "2.0") is ReplyChange.SENT  # seen, and no longer waiting
        # A delivery Slack retries is answered once: the first time.
        await store.accept_reply("C1", "1.0", "U1", "my key is sk-1", "5.0", None)
        assert await store.forget_reply("C1", "5.0", "Ev9") is ReplyChange.APPLIED
        assert await store.forget_reply("C1", "5.0", "Ev9") is ReplyChange.NONE
        assert await store.edit_reply("C1", "5.0", "my key is sk-1", "x", "Ev9") is ReplyChange.NONE
        assert await store.edit_reply("C1", "3.0", "x", "y") is ReplyChange.NONE  # never passed on
    finally:
        await store.close()


async def test_an_edit_while_held_takes_the_place_of_the_words_its_completion_was_made_from(tmp_path: Path):
    store = SqliteStore(tmp_path / "newspec.db")
    await store.open()
    try:
        held = await store.accept_reply("C1", "1.0", "U1", "use MySQL", "2.0", None, ready=False)
        assert held is not None
        assert await store.edit_reply("C1", "2.0", "use MySQL", "use Postgres") is ReplyChange.APPLIED
        assert await store.edit_reply("C1", "2.0", "use Postgres", "use Postgres 16") is ReplyChange.APPLIED
        note = "(A file was not passed on: `big.png`: too big)"
        await store.complete_reply(held.id, f"use MySQL\n{note}", "u1", ())
        (stored,) = await store.pending_replies("C1", "1.0")
        assert (stored.text, stored.author, stored.ready) == (f"use Postgres 16\n{note}", "u1", True)
        # Once complete, an edit rewords the stored reply the same way.
        assert await store.edit_reply("C1", "2.0", "use Postgres 16", "use SQLite") is ReplyChange.APPLIED
        assert [r.text for r in await store.pending_replies("C1", "1.0")] == [f"use SQLite\n{note}"]
    finally:
        await store.close()
