"""A reply's files are never lost without a word: not when the bot stops while they
download, not when the interview is cancelled meanwhile."""

from __future__ import annotations

from slackbot.events import Attachment
from slackbot.store import SqliteStore

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
    held = await again.held_downloads()
    assert [(reply.id, listed) for reply, listed in held] == [(with_files.id, files)]
    ready = {r.id: r.ready for r in await again.pending_replies("C1", "1.0")}
    assert ready == {with_files.id: False, without.id: True}  # words alone go as they are

    assert await again.complete_reply(with_files.id, "see a", "Ann", (Attachment("a.txt", "text/plain", b"abc"),))
    assert await again.held_downloads() == []
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
