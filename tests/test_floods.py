"""Floods: one person can't push unlimited messages at Claude, and one turn carries
a bounded batch; what doesn't fit waits for the next turn instead of being lost."""

from __future__ import annotations

import random

import pytest

from slackbot.events import Attachment
from slackbot.spend import flood
from slackbot.spend.flood import MAX_BATCH_CHARS, MAX_BATCH_FILES, PerPersonLimit, fit_reply, take_batch
from slackbot.store import PendingReply
from tests.fakes import anthropic as fa
from tests.test_thread_experience import content_of

SLOW_GREETING = fa.text("Hello! " + "Let me set things up for us. " * 12, chunk_size=8, delay=0.05)


def reply(n: int, text: str = "x", files: int = 0, image_bytes: int = 0) -> PendingReply:
    return PendingReply(
        n, "C1", "1.0", "U1", text, f"{n}.0", file_count=files, file_text_chars=files, file_image_bytes=image_bytes
    )


def text_file(name: str, chars: int, letter: str = "z") -> Attachment:
    return Attachment(name, "text/plain", (letter * chars).encode())


def image(name: str, size: int) -> Attachment:
    return Attachment(name, "image/png", bytes(size))


def test_a_person_over_the_limit_is_refused_and_told_once_per_window():
    now = [0.0]
    limit = PerPersonLimit(3, 60.0, clock=lambda: now[0])
    assert [limit.allow("U1") for _ in range(4)] == [True, True, True, False]
    assert limit.allow("U2")  # others are not affected
    assert limit.should_tell("U1") and not limit.should_tell("U1")
    now[0] = 61.0
    assert limit.allow("U1")


def test_the_limit_forgets_people_who_went_quiet():
    now = [0.0]
    limit = PerPersonLimit(1, 60.0, clock=lambda: now[0])
    for person in range(1000):
        limit.allow(f"U{person}")
    now[0] = 120.0
    limit.allow("U1")
    assert len(limit._people) == 1


def test_a_batch_stops_at_the_character_and_file_caps_but_always_takes_one():
    third = MAX_BATCH_CHARS // 3
    assert [r.id for r in take_batch([reply(1, "a" * third), reply(2, "b" * third), reply(3, "c" * third),
                                      reply(4, "d")])] == [1, 2, 3]
    assert [r.id for r in take_batch([reply(1, "a" * (MAX_BATCH_CHARS + 5)), reply(2)])] == [1]
    half = MAX_BATCH_FILES // 2 + 1
    assert [r.id for r in take_batch([reply(1, files=half), reply(2, files=half)])] == [1]
    big = flood.MAX_BATCH_IMAGE_BYTES // 2 + 1  # images count by their bytes, against a cap of their own
    assert [r.id for r in take_batch([reply(1, files=1, image_bytes=big), reply(2, files=1, image_bytes=big)])] == [1]


def test_a_reply_keeps_the_files_one_turn_can_take_and_says_which_it_refused():
    fitted = fit_reply("see these", [
        text_file("a.txt", 25_000), text_file("huge.txt", 200_000), text_file("b.txt", 25_000),
        text_file("c.txt", 25_000),  # would pass the cap with a.txt and b.txt
        image("one.png", 5 * 2**20), image("two.png", 5 * 2**20), image("three.png", 1),
    ], ["`x.pdf`: I can only pass on images"])
    assert [f.name for f in fitted.files] == ["a.txt", "b.txt", "one.png", "two.png"]
    assert fitted.notes[0] == "`x.pdf`: I can only pass on images"
    assert [n.split(":")[0] for n in fitted.notes[1:]] == ["`huge.txt`", "`c.txt`", "`three.png`"]
    assert f"at most {MAX_BATCH_CHARS:,} characters" in fitted.notes[1]
    assert "paste the part that matters" in fitted.notes[1]
    # Claude hears of every file it didn't get, and the turn stays within the cap, notes and all.
    assert fitted.text.startswith("see these\n")
    assert all(f"(A file was not passed on: {note})" in fitted.text for note in fitted.notes)
    chars = len(fitted.text) + sum(len(f.data) for f in fitted.files if not f.is_image)
    assert chars <= MAX_BATCH_CHARS
    assert len(take_batch([reply(1, fitted.text), reply(2)])) == 2  # and it leaves room for others


def test_what_a_reply_says_counts_against_its_files():
    fitted = fit_reply("q" * 20_000, [text_file("a.txt", 39_000), text_file("b.txt", 39_000)])
    assert [f.name for f in fitted.files] == ["a.txt"]
    assert len(fitted.text) + 39_000 <= MAX_BATCH_CHARS


async def send_text_files(h, text: str, sizes: list[int]) -> tuple[str, str]:
    """One reply carrying text files `partN.txt` of these sizes (each starting "PARTN:"):
    the text Claude got in that turn, and what the thread shows."""
    h.model.script(str(h.project("shop")), [fa.text("Go ahead."), fa.text("Read them.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Go ahead.")
    files = [
        h.slack.add_file(f"PART{n}:" + "z" * (size - 10), f"part{n}.txt", mimetype="text/plain")
        for n, size in enumerate(sizes)
    ]
    await h.slack.send_message("C1", "U1", text, thread_ts=root_ts, files=files)
    await h.wait_for_text("C1", root_ts, "Read them.", timeout=30)
    sent = " ".join(b.get("text", "") for b in content_of(h.model.requests[-1]) if b["type"] == "text")
    return sent, h.slack.thread_text("C1", root_ts)


async def test_a_reply_with_more_file_text_than_one_turn_takes_reaches_claude_within_the_cap(start_bot):
    h = await start_bot()
    sent, posted = await send_text_files(h, "all my notes", [200 * 2**10] * 10)
    assert "all my notes" in sent and not any(f"PART{n}:" in sent for n in range(10))
    assert len(sent) <= MAX_BATCH_CHARS
    for n in range(10):
        assert f"`part{n}.txt`: too long for one turn" in posted
    assert f"at most {MAX_BATCH_CHARS:,} characters" in posted and "paste the part that matters" in posted


async def test_text_files_that_fit_reach_claude_and_the_rest_are_refused(start_bot):
    h = await start_bot()
    sent, posted = await send_text_files(h, "four parts", [24_010] * 4)
    assert [n for n in range(4) if f"PART{n}:" in sent] == [0, 1]
    assert len(sent) <= MAX_BATCH_CHARS + 200  # the bot's labels around each file
    assert "`part2.txt`: too long for one turn" in posted and "`part3.txt`: too long" in posted
    assert "`part0.txt`" not in posted and "`part1.txt`" not in posted


async def test_messages_past_a_persons_limit_are_not_passed_on(start_bot):
    h = await start_bot(env={"NEWSPEC_MESSAGES_PER_MINUTE": "3"})
    seen: list[str] = []

    def record(request: fa.ModelRequest) -> fa.Turn:
        seen.append(request.last_user_text)
        return fa.text("Got those.")

    h.model.script(str(h.project("shop")), [SLOW_GREETING, record])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    for n in range(1, 6):
        await h.slack.send_message("C1", "U1", f"message {n}", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Got those.")
    assert all(f"message {n}" in seen[0] for n in (1, 2, 3))
    assert "message 4" not in seen[0] and "message 5" not in seen[0]
    notes = [e for e in h.slack.ephemerals(user="U1") if "faster than I can pass them on" in e.text]
    assert len(notes) == 1


async def test_a_flood_of_long_replies_reaches_claude_over_several_turns(start_bot):
    h = await start_bot()
    seen: list[str] = []

    def record(request: fa.ModelRequest) -> fa.Turn:
        seen.append(request.last_user_text)
        return fa.text(f"Read part {len(seen)}.")

    h.model.script(str(h.project("shop")), [SLOW_GREETING, record, record])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    for marker in "ABCD":
        await h.slack.send_message("C1", "U1", marker + "z" * 19_000, thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Read part 2.")
    assert len(seen) == 2 and all(len(text) <= MAX_BATCH_CHARS + 100 for text in seen)
    assert [m for m in "ABCD" if m + "zzz" in seen[0]] == ["A", "B", "C"]
    assert "Dzzz" in seen[1]  # nothing lost: the rest came in the next turn


async def test_newspec_past_a_persons_hourly_limit_starts_nothing(start_bot):
    h = await start_bot(env={"NEWSPEC_STARTS_PER_HOUR": "2"})
    for name in ("one", "two"):
        h.model.script(str(h.project(name)), [fa.text(f"Hello {name}!")])
        root_ts = await h.start_interview(name)
        await h.wait_for_text("C1", root_ts, f"Hello {name}!")
    delivery = await h.slack.send_slash_command("three", user_id="U1", channel_id="C1")
    assert "many times in the last hour" in str(delivery.ack.get("text"))
    assert not any("*three*" in m.text for m in h.slack.messages)
    assert not h.project("three").exists()
    # Someone else is not held back by it.
    h.model.script(str(h.project("four")), [fa.text("Hello four!")])
    root_ts = await h.start_interview("four", user="U2")
    await h.wait_for_text("C1", root_ts, "Hello four!")


@pytest.mark.sqlite_only
async def test_files_held_for_a_paused_interview_stop_at_a_ceiling_and_the_database_stays_small(start_bot, tmp_path):
    from tests.test_budgets import paused_bakery

    h = await start_bot(env={"NEWSPEC_MAX_COST_PER_INTERVIEW": "0.001"})
    root_ts = await paused_bakery(h)  # the budget holds every reply from here on
    picture = random.Random(7).randbytes(1_000_000)  # doesn't compress
    state = tmp_path / "state"

    async def send(user: str, n: int) -> None:
        files = [h.slack.add_file(picture, f"{user}-{n}-{k}.png", mimetype="image/png") for k in range(10)]
        await h.slack.send_message("C1", user, f"screens {user} {n}", thread_ts=root_ts, files=files)

        async def stored() -> bool:
            pending = await h.bot.store.pending_replies("C1", root_ts)
            return any(r.text.startswith(f"screens {user} {n}") and r.ready for r in pending)

        await h.slack.wait_for(stored, what=f"{user}'s reply {n} stored")

    for user, n in [("U1", 1), ("U1", 2), ("U2", 1), ("U3", 1), ("U3", 2), ("U1", 3)]:
        await send(user, n)
    # The reply is stored before the thread hears about its files: wait for the last note.
    await h.wait_for_text("C1", root_ts, "`U1-3-9.png`: not kept")
    pending = await h.bot.store.pending_replies("C1", root_ts)
    held = {r.text.split("\n")[0]: r.file_count for r in pending if r.file_count}
    assert held == {"screens U1 1": 10, "screens U2 1": 10}  # 20 MB: the thread is full
    assert len(pending) == 7  # every reply's text is kept, for when the budget allows
    assert len(h.model.requests) == 1  # nothing reached Claude meanwhile

    posted = h.slack.thread_text("C1", root_ts)
    assert "`U1-2-0.png`: not kept: you already have 10 MB of files waiting for Claude (at most 10 MB" in posted
    assert "`U3-1-9.png`: not kept: this interview already has 19 MB of files waiting for Claude" in posted
    assert "(at most 20 MB), so send it again once Claude has answered" in posted
    assert "`U1-3-0.png`: not kept" in posted and "`U1-1-0.png`" not in posted
    # What is on disk is what is held, and the write-ahead log does not pile up beside it.
    assert (state / "newspec.db").stat().st_size < 22 * 2**20
    assert (state / "newspec.db-wal").stat().st_size <= 4 * 2**20


def test_files_past_what_may_wait_are_refused_and_the_tighter_cap_is_named():
    room = flood.held_room(thread=15 * 2**20, person=2**20)
    assert room.bytes == flood.MAX_HELD_BYTES_PER_THREAD - 15 * 2**20
    assert "this interview already has 15 MB" in room.reason
    room = flood.held_room(thread=9 * 2**20, person=9 * 2**20)
    assert room.bytes == 2**20 and "you already have 9 MB" in room.reason
    fitted = fit_reply("screens", [image("a.png", 600_000), image("b.png", 600_000), text_file("c.txt", 10)], (), room)
    assert [f.name for f in fitted.files] == ["a.png", "c.txt"]  # the text is kept, and what still fits
    assert fitted.notes == [f"`b.png`: {room.reason}"]
    assert f"(A file was not passed on: `b.png`: {room.reason})" in fitted.text
