"""Replicas share one database: a thread's turns run on one replica at a time, which
holds its lease while its heartbeat is fresh; a replica that stops beating loses its
threads to the others, which find them among the orphaned ones."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any

from slackbot.store import PostgresStore, SqliteStore
from slackbot.store.records import Claim, InterviewRecord, claimed_by, claiming

Store = SqliteStore | PostgresStore
TIMEOUT = 5.0


async def beat_long_ago(store: Store, replica: str) -> None:
    """As if `replica` last beat longer ago than the timeout (it died)."""
    async with store.transaction() as db:
        await db.execute("UPDATE replicas SET seen_at = ? WHERE id = ?", (time.time() - 2 * TIMEOUT, replica))


async def test_a_thread_has_one_live_owner(store: Store):
    assert await store.heartbeat("a") and await store.heartbeat("b")
    assert await store.claim_thread("C1", "1.0", "a", TIMEOUT)
    assert await store.claim_thread("C1", "1.0", "a", TIMEOUT)  # renewing your own
    assert not await store.claim_thread("C1", "1.0", "b", TIMEOUT)
    assert await store.owner_of("C1", "1.0") == "a"
    assert sorted(await store.live_replicas(TIMEOUT)) == ["a", "b"]


async def test_a_dead_replicas_threads_go_to_the_first_live_one_that_claims_them(store: Store):
    await store.heartbeat("a")
    await store.heartbeat("b")
    await store.claim_thread("C1", "1.0", "a", TIMEOUT)
    await beat_long_ago(store, "a")
    assert await store.live_replicas(TIMEOUT) == ["b"]
    assert await store.claim_thread("C1", "1.0", "b", TIMEOUT) is Claim.TAKEN_OVER  # counted as a takeover
    assert await store.claim_thread("C1", "1.0", "b", TIMEOUT) is Claim.HELD  # ... once
    assert not await store.claim_thread("C1", "1.0", "c", TIMEOUT)
    assert await store.owner_of("C1", "1.0") == "b"


async def test_a_thread_handed_over_cleanly_or_new_is_no_takeover(store: Store):
    await store.heartbeat("a")
    await store.heartbeat("b")
    assert await store.claim_thread("C1", "1.0", "a", TIMEOUT) is Claim.HELD  # new
    await store.leave("a")  # stopped cleanly: its threads are anyone's
    assert await store.claim_thread("C1", "1.0", "b", TIMEOUT) is Claim.HELD


async def test_a_replica_back_from_a_stall_hears_it_lost_its_threads(store: Store):
    await store.heartbeat("a")
    await store.claim_thread("C1", "1.0", "a", TIMEOUT)
    await beat_long_ago(store, "a")
    await store.heartbeat("b")
    await store.claim_thread("C1", "1.0", "b", TIMEOUT)
    assert not await store.heartbeat("a", TIMEOUT)  # it was taken for dead
    assert await store.heartbeat("a", TIMEOUT)  # and is live again from now on
    assert await store.owner_of("C1", "1.0") == "b"


async def test_orphans_are_threads_with_work_whose_owner_is_gone(store: Store):
    await store.heartbeat("a")
    await store.heartbeat("b")
    for ts in ("1.0", "2.0", "3.0"):
        await store.accept_reply("C1", ts, "U1", "hello", f"{ts}1", None)
    await store.claim_thread("C1", "1.0", "a", TIMEOUT)
    await store.claim_thread("C1", "2.0", "b", TIMEOUT)
    # 3.0 has no owner at all (the replica that stored its reply handed it on and died).
    await store.accept_reply("C1", "4.0", "U1", "no work left", "4.01", None)
    (reply,) = await store.pending_replies("C1", "4.0")
    await store.remove_replies([reply.id])
    await store.claim_thread("C1", "4.0", "a", TIMEOUT)
    assert await store.orphaned_threads(TIMEOUT) == [("C1", "3.0")]
    await beat_long_ago(store, "a")
    assert await store.orphaned_threads(TIMEOUT) == [("C1", "1.0"), ("C1", "3.0")]


async def test_a_replica_stopping_cleanly_leaves_its_threads_to_the_others_at_once(store: Store):
    await store.heartbeat("a")
    await store.heartbeat("b")
    await store.accept_reply("C1", "1.0", "U1", "hello", "1.01", None)
    await store.claim_thread("C1", "1.0", "a", TIMEOUT)
    await store.leave("a")
    assert await store.live_replicas(TIMEOUT) == ["b"]
    assert await store.owner_of("C1", "1.0") is None
    assert await store.orphaned_threads(TIMEOUT) == [("C1", "1.0")]
    assert await store.claim_thread("C1", "1.0", "b", TIMEOUT)


async def test_a_released_thread_is_anyones(store: Store):
    await store.heartbeat("a")
    await store.heartbeat("b")
    await store.claim_thread("C1", "1.0", "a", TIMEOUT)
    await store.release_thread("C1", "1.0", "b")  # not b's: nothing happens
    assert await store.owner_of("C1", "1.0") == "a"
    await store.release_thread("C1", "1.0", "a")
    assert await store.claim_thread("C1", "1.0", "b", TIMEOUT)


async def test_a_replica_wakes_a_threads_owner_in_another_process(postgres_server):
    import asyncio

    url = postgres_server.fresh_database()
    owner, other = PostgresStore(url), PostgresStore(url)
    await owner.open()
    await other.open()
    try:
        woken: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
        await owner.listen_for_wakes(lambda channel, ts, note: woken.put_nowait((channel, ts, note)))
        await other.wake_owner("C1", "1700000000.000100")
        assert await asyncio.wait_for(woken.get(), 10) == ("C1", "1700000000.000100", "")
        await other.wake_owner("C1", "1700000000.000100", "stop:turn 1")
        assert await asyncio.wait_for(woken.get(), 10) == ("C1", "1700000000.000100", "stop:turn 1")
    finally:
        await other.close()
        await owner.close()


async def test_a_cancelled_interview_stays_cancelled_whoever_writes_later(store: Store):
    """A replica whose turn ends after another cancelled the interview writes its status
    too: the interview stays cancelled, and its name free."""
    from slackbot.store import InterviewRecord, Status

    await store.add_interview(InterviewRecord("C1", "1.0", "shop", "U1"))
    await store.update_interview("C1", "1.0", status=Status.CANCELLED)
    await store.update_interview("C1", "1.0", status=Status.WAITING, model_turns=3)
    (record,) = await store.list_interviews()
    assert (record.status, record.model_turns) == (Status.CANCELLED, 3)
    assert await store.find_by_name("shop") is None


async def test_a_spec_upload_a_dead_replica_left_under_way_is_an_orphan(store: Store):
    """No reply waits in a thread whose spec was being uploaded, so the upload itself
    marks the thread as work another replica must finish once its owner is gone."""
    from slackbot.store import InterviewRecord

    await store.add_interview(InterviewRecord("C1", "1.0", "shop", "U1"))
    await store.update_interview("C1", "1.0", upload_pending=True)
    await store.heartbeat("a")
    await store.claim_thread("C1", "1.0", "a", TIMEOUT)
    assert await store.orphaned_uploads(TIMEOUT) == []  # its live owner is uploading it
    await beat_long_ago(store, "a")
    assert await store.orphaned_uploads(TIMEOUT) == [("C1", "1.0")]
    await store.update_interview("C1", "1.0", upload_pending=False)
    assert await store.orphaned_uploads(TIMEOUT) == []


async def test_held_replies_are_adopted_only_once_their_replica_is_gone(store: Store):
    """A reply held while its author and files are fetched is its replica's: once that
    replica stops beating, one without files goes to Claude as it is, and one with files
    becomes the first live replica's to fetch again (once: the second finds nothing)."""
    files = [{"id": "F1", "name": "a.txt"}]
    await store.heartbeat("a")
    await store.heartbeat("b")
    words = await store.accept_reply("C1", "1.0", "U1", "words", "1.1", None, ready=False, held_by="a")
    with_files = await store.accept_reply(
        "C1", "1.0", "U1", "see a", "1.2", None, ready=False, held_by="a", slack_files=files
    )
    assert words is not None and with_files is not None
    assert await store.adopt_holds("b", TIMEOUT) == []  # a is live: they are its own
    await beat_long_ago(store, "a")
    adopted = await store.adopt_holds("b", TIMEOUT)
    assert [(reply.id, reply.ready, listed) for reply, listed in adopted] == [
        (words.id, True, []), (with_files.id, False, files)
    ]
    assert await store.adopt_holds("c", TIMEOUT) == []  # b, live, fetches it
    assert {r.id: r.ready for r in await store.pending_replies("C1", "1.0")} == {words.id: True, with_files.id: False}
    # a, back from its stall, finishes late: the reply is b's now, and b's completion counts.
    assert not await store.complete_reply(with_files.id, "see a", "Ann", (), "a")
    assert await store.complete_reply(with_files.id, "see a", "Ann", (), "b")


async def test_a_name_claimed_by_a_replica_that_died_before_opening_its_thread_goes_to_a_live_one(store: Store):
    """/newspec acked by a replica that died before it posted the thread (its root post still
    queued, say): a live replica takes the claim over, with whom and where, to open it."""
    await store.heartbeat("a")
    await store.heartbeat("b")
    dead = InterviewRecord("C1", claiming("a"), "shop", "U1", team_id="T1")
    live = InterviewRecord("C2", claiming("b"), "cafe", "U1")
    assert await store.claim_name(dead) is None and await store.claim_name(live) is None
    await beat_long_ago(store, "a")
    ((channel, placeholder),) = await store.adopt_orphaned_claims("b", TIMEOUT)
    assert channel == "C1" and claimed_by(placeholder) == "b"
    adopted = await store.get_interview(channel, placeholder)
    assert adopted is not None and (adopted.name, adopted.started_by, adopted.team_id) == ("shop", "U1", "T1")
    assert await store.adopt_orphaned_claims("c", TIMEOUT) == []  # b, live, opens it
    assert await store.claim_name(InterviewRecord("C3", claiming("c"), "shop", "U2")) is not None  # still taken
    assert await store.claim_name(InterviewRecord("C3", claiming("c"), "cafe", "U2")) is not None


@contextmanager
def counting_transactions(store: Store) -> Iterator[list[int]]:
    """Write transactions the store opens meanwhile (one entry each): the global write
    lock, on PostgreSQL BEGIN and an advisory lock, is taken by nothing else."""
    opened: list[int] = []
    real = store.transaction

    def transaction() -> AbstractAsyncContextManager[Any]:
        opened.append(1)
        return real()

    store.transaction = transaction  # type: ignore[method-assign]
    try:
        yield opened
    finally:
        del store.transaction  # the class's own again


async def test_a_heartbeat_with_nothing_to_adopt_or_free_writes_nothing(store: Store):
    """Every replica runs these every beat, and almost always nothing is to be done: a plain
    read says so, without taking the write lock every other writer waits on."""
    await store.heartbeat("a")
    await store.heartbeat("b")
    held = await store.accept_reply("C1", "1.0", "U1", "see a", "1.1", None, ready=False, held_by="b",
                                    slack_files=[{"id": "F1"}])
    assert await store.claim_name(InterviewRecord("C2", claiming("b"), "cafe", "U1")) is None
    with counting_transactions(store) as opened:
        assert await store.adopt_holds("a", TIMEOUT) == []  # b, live, holds its reply
        assert await store.adopt_orphaned_claims("a", TIMEOUT) == []  # and its claim
    assert opened == []
    await beat_long_ago(store, "b")
    with counting_transactions(store) as opened:
        assert [reply.id for reply, _ in await store.adopt_holds("a", TIMEOUT)] == [held and held.id]
        assert [channel for channel, _ in await store.adopt_orphaned_claims("a", TIMEOUT)] == ["C2"]
    assert len(opened) == 2  # each, with work to do, writes it in one transaction
    with counting_transactions(store) as opened:
        assert await store.adopt_holds("c", TIMEOUT) == []  # a, live, holds it now
        assert await store.adopt_orphaned_claims("c", TIMEOUT) == []
    assert opened == []


async def test_a_replicas_own_threads_are_one_query(store: Store):
    """Back from a stall, a replica finds which of its threads another took meanwhile."""
    await store.heartbeat("a")
    await store.heartbeat("b")
    for thread_ts in ("1.0", "2.0", "3.0"):
        await store.claim_thread("C1", thread_ts, "a", TIMEOUT)
    await store.claim_thread("C2", "1.0", "b", TIMEOUT)
    assert await store.threads_of("a") == {("C1", "1.0"), ("C1", "2.0"), ("C1", "3.0")}
    await beat_long_ago(store, "a")
    await store.claim_thread("C1", "2.0", "b", TIMEOUT)  # taken over
    await store.release_thread("C1", "3.0", "a")
    assert await store.threads_of("a") == {("C1", "1.0")}
    assert await store.threads_of("b") == {("C1", "2.0"), ("C2", "1.0")}
    assert await store.threads_of("c") == set()
