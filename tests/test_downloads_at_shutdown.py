"""A reply's files are never lost without a word: not when the bot stops while they
download, not when the interview is cancelled meanwhile.

Through the real bot, the fake Slack (which can hold a download part way, see
`FakeSlack.hold_next("files.download")`) and the real `claude` CLI.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from slackbot.events import Attachment
from slackbot.store import SqliteStore
from tests.fakes import anthropic as fa
from tests.fakes.slack import Gate
from tests.postgres import query_bot_database
from tests.test_thread_experience import content_of

CANCELLED_NOTE = "This interview was cancelled, so I'm not passing that on."
# Several of the fake's download pieces, so a held download is really under way.
RECIPE = "".join(f"step {i:04d}: fold the butter into the dough, then rest it\n" for i in range(400))
RECIPE += "THE LAST STEP: bake at 220 degrees\n"


def said_to_claude(request: fa.ModelRequest) -> str:
    return " ".join(b.get("text", "") for b in content_of(request) if b["type"] == "text")


def turns_with(h, words: str) -> list[str]:
    """What Claude was told in each turn that carried `words`."""
    said = [said_to_claude(r) for r in h.model.requests_for(str(h.project("shop")))]
    return [text for text in said if words in text]


async def send_while_downloading(h, root_ts: str, text: str = "see the recipe") -> tuple[dict, Gate]:
    """Answer in the thread with a file whose download is held part way: the file, and
    the gate holding its download."""
    recipe = h.slack.add_file(RECIPE, "recipe.txt", mimetype="text/plain")
    download = h.slack.hold_next("files.download")
    await h.slack.send_message("C1", "U1", text, thread_ts=root_ts, files=[recipe])
    await asyncio.wait_for(download.reached.wait(), 10)
    return recipe, download


async def stored(tmp_path: Path, sql: str) -> list[tuple]:
    return await query_bot_database(tmp_path / "state", sql)


async def test_a_file_downloading_when_the_bot_stops_reaches_claude_after_the_restart(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Go ahead."), fa.text("Noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Go ahead.")
    recipe, download = await send_while_downloading(h, root_ts)

    await h.restart()  # a clean stop while the download is under way
    await h.wait_for_text("C1", root_ts, "Noted.", timeout=30)
    (said,) = turns_with(h, "see the recipe")
    assert "step 0000:" in said and "THE LAST STEP: bake at 220 degrees" in said
    assert "not passed on" not in said
    assert "couldn't pass on" not in h.slack.thread_text("C1", root_ts)
    download.release.set()  # the first run's download ends now: nothing comes of it
    await h.slack.wait_for(lambda: h.slack.downloads_served.count(recipe["id"]) == 2, what="both downloads")


async def test_a_file_fetched_again_at_the_start_survives_another_stop(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Go ahead."), fa.text("Noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Go ahead.")
    _, first = await send_while_downloading(h, root_ts)
    again = h.slack.hold_next("files.download")

    await h.restart()
    await asyncio.wait_for(again.reached.wait(), 10)  # the next start fetches it again...
    await h.restart()  # ...and stops too while it downloads
    await h.wait_for_text("C1", root_ts, "Noted.", timeout=30)
    (said,) = turns_with(h, "see the recipe")
    assert "THE LAST STEP: bake at 220 degrees" in said
    first.release.set()
    again.release.set()


async def test_a_file_deleted_while_the_bot_was_down_is_named_in_the_thread(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Go ahead."), fa.text("Noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Go ahead.")
    recipe, download = await send_while_downloading(h, root_ts)

    await h.stop()
    h.slack.remove_file(recipe["id"])
    download.release.set()
    await h.start()
    await h.wait_for_text("C1", root_ts, "Noted.", timeout=30)
    thread = h.slack.thread_text("C1", root_ts)
    assert "I couldn't pass on every file" in thread and "`recipe.txt`: I couldn't download it" in thread
    (said,) = turns_with(h, "see the recipe")
    assert "(A file was not passed on: `recipe.txt`" in said  # Claude knows it is missing
    assert "step 0000:" not in said


async def test_a_cancel_while_a_file_downloads_stores_no_file(start_bot, tmp_path):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Go ahead.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Go ahead.")
    recipe, download = await send_while_downloading(h, root_ts)

    await h.slack.send_action("newspec_cancel", user_id="U1", channel_id="C1", message_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "cancelled this interview")
    download.release.set()
    # Its author hears it was not passed on, once the download is done with.
    await h.slack.wait_for(
        lambda: any(CANCELLED_NOTE in e.text for e in h.slack.ephemerals(user="U1")), what="the author told"
    )
    assert recipe["id"] in h.slack.downloads_served  # downloaded whole, after the cancel
    assert await stored(tmp_path, "SELECT reply_id, name FROM reply_files") == []
    assert await stored(tmp_path, "SELECT text FROM pending_replies") == []
    assert turns_with(h, "see the recipe") == []
    assert "couldn't pass on" not in h.slack.thread_text("C1", root_ts)


# --------------------------------------------------------------------------- the store


async def test_a_held_reply_keeps_its_file_list_until_it_is_complete(tmp_path):
    path = tmp_path / "newspec.db"
    store = SqliteStore(path)
    await store.open()
    files = [{"id": "F1", "name": "a.txt", "mimetype": "text/plain", "size": 3,
              "url_private_download": "https://files.slack.com/files-pri/T1-F1/download/a.txt"}]
    with_files = await store.accept_reply("C1", "1.0", "U1", "see a", "2.0", "Ev2", ready=False, slack_files=files)
    without = await store.accept_reply("C1", "1.0", "U1", "just words", "3.0", "Ev3", ready=False)
    assert with_files is not None and without is not None
    await store.close()

    again = SqliteStore(path)  # the next start
    await again.open()
    held = await again.adopt_holds("the next run", 15)  # the earlier run's, taken over
    assert [(reply.id, listed) for reply, listed in held] == [(with_files.id, files)]
    ready = {r.id: r.ready for r in await again.pending_replies("C1", "1.0")}
    assert ready == {with_files.id: False, without.id: True}  # words alone go as they are

    assert await again.complete_reply(with_files.id, "see a", "Ann", (Attachment("a.txt", "text/plain", b"abc"),))
    assert await again.adopt_holds("the next run", 15) == []
    assert await again.reply_files([with_files.id]) == (Attachment("a.txt", "text/plain", b"abc"),)
    await again.close()


async def test_completing_a_reply_deleted_meanwhile_stores_none_of_its_files(tmp_path):
    store = SqliteStore(tmp_path / "newspec.db")
    await store.open()
    held = await store.accept_reply("C1", "1.0", "U1", "see a", "2.0", "Ev2", ready=False)
    assert held is not None
    await store.drop_pending("C1", "1.0")  # the interview was cancelled
    assert not await store.complete_reply(held.id, "see a", "Ann", (Attachment("a.txt", "text/plain", b"abc"),))
    assert await store.reply_files([held.id]) == ()
    await store.close()
