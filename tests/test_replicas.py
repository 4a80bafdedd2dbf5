"""Two bot processes (replicas) on one PostgreSQL database, one fake Slack handing
Socket Mode envelopes to their two connections in turn.

A reply that lands on the replica not running the thread is answered by the one that
is (woken through the database), once; when that one is killed (-9), the other takes
the thread over and answers the next reply with the conversation intact; when that one
only stalls past the timeout, it stays out of the thread once it wakes up."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from claude_agent_sdk import project_key_for_directory

from slackbot.app import Bot
from slackbot.config import Settings
from slackbot.interview.recovery import CLAIMING
from slackbot.slack.blocks import CANCEL_ACTION
from slackbot.store import InterviewRecord, PostgresStore, Status
from tests.conftest import bot_env, process_env
from tests.fakes import anthropic as fa
from tests.fakes.slack import ApiCall, FakeSlack
from tests.postgres import PostgresServer
from tests.test_crash import kill_9

THREAD_NAME = "shop"


def own_state(env: dict[str, str], tmp_path: Path, n: int) -> dict[str, str]:
    """Replica n's environment: its own NEWSPEC_STATE_DIR (its machine's disk)."""
    return {**env, "NEWSPEC_STATE_DIR": str(tmp_path / f"state{n}")}


class Replica:
    """A bot process, its Socket Mode connection's number and its replica id."""

    def __init__(self, process: asyncio.subprocess.Process, connection: int, replica_id: str) -> None:
        self.process, self.connection, self.id = process, connection, replica_id


async def launch(slack: FakeSlack, env: dict[str, str], store: PostgresStore, log: Path) -> Replica:
    known = set(await store.live_replicas(60))
    opened = slack.connections_opened
    with log.open("ab") as output:  # the bot's log, read when a test fails
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "slackbot", env=env, start_new_session=True,
            stdout=asyncio.subprocess.DEVNULL, stderr=output,
        )
    await slack.wait_for(lambda: slack.connections_opened > opened, timeout=30, what="bot connected")
    (replica_id,) = set(await store.live_replicas(60)) - known  # it beats before it connects
    return Replica(process, opened + 1, replica_id)


async def test_a_reply_on_either_replica_is_answered_once_and_a_killed_owners_thread_goes_on(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer
):
    cakes_asked, cakes_answer = asyncio.Event(), asyncio.Event()

    async def cakes(request: fa.ModelRequest) -> fa.Turn:
        assert "And pies" not in json.dumps(request.messages)
        cakes_asked.set()
        await cakes_answer.wait()  # meanwhile a reply lands on the replica not running the thread
        return fa.text("Cakes, noted.")

    def pies(request: fa.ModelRequest) -> fa.Turn:
        assert cakes_answer.is_set(), "a second turn ran while the thread's turn was running"
        assert json.dumps(request.messages).count("And pies") == 1
        return fa.text("Pies, noted.")

    def answers_on_the_survivor(request: fa.ModelRequest) -> fa.Turn:
        history = json.dumps(request.messages)
        for earlier in ("What do you sell?", "We sell bread", "Bread, noted.", "Cakes too", "Pies, noted."):
            assert earlier in history
        assert history.count("Scones as well") == 1
        return fa.text("Bread, cakes, pies and scones, got it.")

    url = postgres_server.fresh_database()
    (tmp_path / "generations").mkdir()
    model.script(
        str(tmp_path / "generations" / THREAD_NAME),
        [fa.text("What do you sell?"), fa.text("Bread, noted."), cakes, pies, answers_on_the_survivor],
    )
    store = PostgresStore(url)
    await store.open()
    async with FakeSlack(several_connections=True) as slack:
        # One generations folder for both (shared storage) but a state folder each, as on
        # two machines: the survivor resumes the killed replica's conversation from the
        # transcript in the database.
        env = process_env(**bot_env(slack, tmp_path, NEWSPEC_DATABASE_URL=url, NEWSPEC_REPLICA_TIMEOUT="2"))
        replicas = [await launch(slack, own_state(env, tmp_path, n), store, tmp_path / f"bot{n}.log") for n in (1, 2)]
        try:
            started = await slack.send_slash_command(THREAD_NAME, user_id="U1", channel_id="C1")
            root = await slack.wait_for(lambda: next((m for m in slack.messages if f"*{THREAD_NAME}*" in m.text), None))
            thread = lambda: slack.thread_text("C1", root.ts)  # noqa: E731
            await slack.wait_for(lambda: "What do you sell?" in thread(), timeout=30)
            (owner,) = [r for r in replicas if r.connection == started.connection]
            (other,) = [r for r in replicas if r is not owner]
            assert await store.owner_of("C1", root.ts) == owner.id

            # Envelopes alternate: this reply lands on the other replica, which wakes the owner.
            bread = await slack.send_message("C1", "U1", "We sell bread", thread_ts=root.ts)
            assert bread.connection == other.connection
            await slack.wait_for(lambda: "Bread, noted." in thread(), timeout=30)

            # The owner is in a turn when a reply lands on the other: it waits for the owner's next turn.
            cakes_too = await slack.send_message("C1", "U1", "Cakes too", thread_ts=root.ts)
            assert cakes_too.connection == owner.connection
            await asyncio.wait_for(cakes_asked.wait(), 30)
            and_pies = await slack.send_message("C1", "U1", "And pies", thread_ts=root.ts)
            assert and_pies.connection == other.connection
            await slack.wait_for(lambda: stored(store, root.ts, waiting=1), what="the reply stored")
            cakes_answer.set()
            await slack.wait_for(lambda: "Pies, noted." in thread(), timeout=30)
            await slack.wait_for(lambda: stored(store, root.ts), what="the turn to be recorded")
            assert await store.owner_of("C1", root.ts) == owner.id  # the owner ran every turn

            await kill_9(owner.process)
            scones = await slack.send_message("C1", "U1", "Scones as well", thread_ts=root.ts)
            assert scones.connection == other.connection
            await slack.wait_for(lambda: "Bread, cakes, pies and scones, got it." in thread(), timeout=60)
            assert await store.owner_of("C1", root.ts) == other.id
            for said in ("What do you sell?", "Bread, noted.", "Cakes, noted.", "Pies, noted.", "scones, got it."):
                assert thread().count(said) == 1, thread()
            await slack.wait_for(lambda: stored(store, root.ts), what="the last turn to be recorded")
            model.verify()  # five turns, each asked once: no reply lost, none answered twice
        finally:
            for replica in replicas:
                if replica.process.returncode is None:
                    await kill_9(replica.process)
            await store.close()


async def stored(store: PostgresStore, thread_ts: str, *, waiting: int = 0) -> bool:
    """The thread has `waiting` replies no turn carried yet (0: none at all, none in flight either)."""
    replies = await store.pending_replies("C1", thread_ts)
    return len([r for r in replies if r.sent is None]) == waiting and (waiting or not replies)


async def test_an_owner_killed_mid_turn_has_its_turn_finished_once_by_the_other(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer
):
    asked, never = asyncio.Event(), asyncio.Event()

    async def cut_off(request: fa.ModelRequest) -> fa.Turn:
        asked.set()
        await never.wait()  # the owner is killed while Claude answers
        return fa.text("never delivered")

    def finished_on_the_survivor(request: fa.ModelRequest) -> fa.Turn:
        history = json.dumps(request.messages)
        assert "What do you sell?" in history
        # The reply the kill caught, once: sent again, or (if the killed CLI had written it
        # to its transcript) already there, and Claude told to carry on.
        assert history.count("We sell bread") == 1
        return fa.text("Bread, noted.")

    url = postgres_server.fresh_database()
    (tmp_path / "generations").mkdir()
    model.script(
        str(tmp_path / "generations" / THREAD_NAME),
        [fa.text("What do you sell?"), cut_off, finished_on_the_survivor],
    )
    store = PostgresStore(url)
    await store.open()
    async with FakeSlack(several_connections=True) as slack:
        env = process_env(**bot_env(slack, tmp_path, NEWSPEC_DATABASE_URL=url, NEWSPEC_REPLICA_TIMEOUT="2"))
        replicas = [await launch(slack, own_state(env, tmp_path, n), store, tmp_path / f"bot{n}.log") for n in (1, 2)]
        try:
            started = await slack.send_slash_command(THREAD_NAME, user_id="U1", channel_id="C1")
            root = await slack.wait_for(lambda: next((m for m in slack.messages if f"*{THREAD_NAME}*" in m.text), None))
            thread = lambda: slack.thread_text("C1", root.ts)  # noqa: E731
            await slack.wait_for(lambda: "What do you sell?" in thread(), timeout=30)
            (owner,) = [r for r in replicas if r.connection == started.connection]
            (other,) = [r for r in replicas if r is not owner]

            await slack.send_message("C1", "U1", "We sell bread", thread_ts=root.ts)  # on the other: wakes the owner
            await asyncio.wait_for(asked.wait(), 30)
            await kill_9(owner.process)
            never.set()
            # Nobody writes in the thread: the survivor finds the thread orphaned on its own.
            await slack.wait_for(lambda: "Bread, noted." in thread(), timeout=60)
            assert await store.owner_of("C1", root.ts) == other.id
            assert "never delivered" not in thread()
            assert thread().count("Bread, noted.") == 1
            await slack.wait_for(lambda: stored(store, root.ts), what="the turn to be recorded")
            model.verify()
        finally:
            for replica in replicas:
                if replica.process.returncode is None:
                    await kill_9(replica.process)
            await store.close()


async def test_an_owner_stalled_mid_turn_stays_out_of_the_thread_the_other_took_over(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer
):
    """A VM pause, SIGSTOP or long GC: the owner is taken for dead, the other replica
    answers its reply; once awake, the stalled one posts nothing and answers nothing more."""
    asked, release = asyncio.Event(), asyncio.Event()
    stalled_answer = "Bread, noted (by the stalled replica)."

    async def stalled(request: fa.ModelRequest) -> fa.Turn:
        asked.set()
        await release.wait()  # the owner stalls while Claude answers; the answer reaches it once awake
        return fa.text(stalled_answer)

    def taken_over(request: fa.ModelRequest) -> fa.Turn:
        assert json.dumps(request.messages).count("We sell bread") == 1
        return fa.text("Bread, noted.")

    def cakes(request: fa.ModelRequest) -> fa.Turn:
        history = json.dumps(request.messages)
        # The answer's own words: the test's folder name ("..._stalled_mid_turn0") is in
        # the CLI's system prompt (its working directory), so "stalled" alone always is.
        assert "Bread, noted." in history and stalled_answer not in history
        return fa.text("Cakes, noted.")

    url = postgres_server.fresh_database()
    (tmp_path / "generations").mkdir()
    model.script(
        str(tmp_path / "generations" / THREAD_NAME), [fa.text("What do you sell?"), stalled, taken_over, cakes]
    )
    store = PostgresStore(url)
    await store.open()
    async with FakeSlack(several_connections=True) as slack:
        env = process_env(**bot_env(slack, tmp_path, NEWSPEC_DATABASE_URL=url, NEWSPEC_REPLICA_TIMEOUT="2"))
        # A token each: the fake Slack's calls say which replica made them.
        replicas = [
            await launch(slack, {**own_state(env, tmp_path, n), "SLACK_BOT_TOKEN": token(n)}, store,
                         tmp_path / f"bot{n}.log")
            for n in (1, 2)
        ]
        try:
            started = await slack.send_slash_command(THREAD_NAME, user_id="U1", channel_id="C1")
            root = await slack.wait_for(lambda: next((m for m in slack.messages if f"*{THREAD_NAME}*" in m.text), None))
            thread = lambda: slack.thread_text("C1", root.ts)  # noqa: E731
            await slack.wait_for(lambda: "What do you sell?" in thread(), timeout=30)
            (owner,) = [r for r in replicas if r.connection == started.connection]
            (other,) = [r for r in replicas if r is not owner]
            owner_token = token(replicas.index(owner) + 1)

            await slack.send_message("C1", "U1", "We sell bread", thread_ts=root.ts)
            await asyncio.wait_for(asked.wait(), 30)
            os.killpg(owner.process.pid, signal.SIGSTOP)  # the bot and its Claude CLI, as a VM pause
            await slack.wait_for(lambda: "Bread, noted." in thread(), timeout=60)
            assert await store.owner_of("C1", root.ts) == other.id
            await slack.wait_for(lambda: stored(store, root.ts), what="the taken-over turn to be recorded")
            resumed = len(slack.calls)
            release.set()
            os.killpg(owner.process.pid, signal.SIGCONT)
            await slack.wait_for(lambda: live(store, owner.id), what="the stalled replica to beat again")

            cakes_too = await slack.send_message("C1", "U1", "Cakes too", thread_ts=root.ts)
            assert cakes_too.connection == owner.connection  # it wakes the thread's owner now
            await slack.wait_for(lambda: "Cakes, noted." in thread(), timeout=30)
            await slack.wait_for(lambda: stored(store, root.ts), what="the turn to be recorded")
            assert await store.owner_of("C1", root.ts) == other.id
            said = [m.text for m in slack.thread("C1", root.ts) if m.user != "U1"]
            assert said == ["What do you sell?", "Bread, noted.", "Cakes, noted."], thread()
            # Nor did it write anything else there once awake: its turn's "is thinking…"
            # status (due while it stalled), nor that status taken down at the turn's end.
            assert [str(c) for c in slack.calls[resumed:] if c.token == owner_token and writes_in(c, "C1")] == []
            # The stored transcript (what any replica resumes from) holds none of the stalled turn.
            project = tmp_path / "generations" / THREAD_NAME
            await slack.wait_for(lambda: mirrored(store, project, "Cakes, noted."), what="the transcript mirrored")
            assert not await mirrored(store, project, stalled_answer)
            model.verify()  # four turns, each asked once
        finally:
            release.set()
            for replica in replicas:
                if replica.process.returncode is None:
                    os.killpg(replica.process.pid, signal.SIGCONT)
                    await kill_9(replica.process)
            await store.close()


def token(n: int) -> str:
    """Replica n's bot token."""
    return f"xoxb-replica{n}"


def writes_in(call: ApiCall, channel: str) -> bool:
    """Whether `call` writes something people could see in the channel (a message of a
    thread is updated by its own ts, not the thread's: any write there counts)."""
    reads = ("auth.", "users.", "conversations.", "team.", "apps.", "bots.", "chat.getPermalink", "files.info")
    return not call.method.startswith(reads) and channel in (call.args.get("channel"), call.args.get("channel_id"))


async def live(store: PostgresStore, replica_id: str) -> bool:
    return replica_id in await store.live_replicas(2)


async def mirrored(store: PostgresStore, project: Path, text: str) -> bool:
    """Whether the stored transcript of the project's conversation holds `text`."""
    key = project_key_for_directory(project)
    kept = [await store.load_transcript(key, session, "") for session, _, _ in await store.transcript_sessions(key)]
    return text in json.dumps(kept)


async def test_a_replica_starting_leaves_a_live_replicas_claim_alone(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer
):
    """A name claimed by a live replica while it opens the thread is not taken for one
    a stopped run left (a start alone on the database releases those)."""
    url = postgres_server.fresh_database()
    store = PostgresStore(url)
    await store.open()
    await store.heartbeat("live-replica")
    claim = InterviewRecord("C1", f"{CLAIMING}opening", THREAD_NAME, "U1")
    assert await store.claim_name(claim) is None
    async with FakeSlack() as slack:
        bot = Bot(Settings.from_env(bot_env(slack, tmp_path, NEWSPEC_DATABASE_URL=url)))
        await bot.start_socket_mode()
        try:
            assert [r.thread_ts for r in await store.list_interviews()] == [claim.thread_ts]
        finally:
            await bot.stop(grace=0)
            await store.close()


@dataclass
class MidAnswer:
    """Two replicas; the thread's owner is answering its third reply, until `never` is set."""

    slack: FakeSlack
    store: PostgresStore
    root_ts: str
    owner: Replica
    never: asyncio.Event

    def thread(self) -> str:
        return self.slack.thread_text("C1", self.root_ts)


@asynccontextmanager
async def owner_mid_answer(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer
) -> AsyncIterator[MidAnswer]:
    asked, never = asyncio.Event(), asyncio.Event()

    async def long_answer(request: fa.ModelRequest) -> fa.Turn:
        asked.set()
        await never.wait()  # Claude answers until stopped (or the interview is cancelled)
        return fa.text("never delivered")

    url = postgres_server.fresh_database()
    (tmp_path / "generations").mkdir()
    model.script(
        str(tmp_path / "generations" / THREAD_NAME),
        [fa.text("What do you sell?"), fa.text("Bread, noted."), long_answer],
    )
    store = PostgresStore(url)
    await store.open()
    async with FakeSlack(several_connections=True) as slack:
        env = process_env(**bot_env(slack, tmp_path, NEWSPEC_DATABASE_URL=url, NEWSPEC_REPLICA_TIMEOUT="2"))
        replicas = [await launch(slack, own_state(env, tmp_path, n), store, tmp_path / f"bot{n}.log") for n in (1, 2)]
        try:
            started = await slack.send_slash_command(THREAD_NAME, user_id="U1", channel_id="C1")
            root = await slack.wait_for(lambda: next((m for m in slack.messages if f"*{THREAD_NAME}*" in m.text), None))
            scene = MidAnswer(
                slack, store, root.ts, next(r for r in replicas if r.connection == started.connection), never
            )
            await slack.wait_for(lambda: "What do you sell?" in scene.thread(), timeout=30)
            await slack.send_message("C1", "U1", "We sell bread", thread_ts=root.ts)
            await slack.wait_for(lambda: "Bread, noted." in scene.thread(), timeout=30)
            await slack.send_message("C1", "U1", "Cakes too", thread_ts=root.ts)  # on the owner
            await asyncio.wait_for(asked.wait(), 30)
            yield scene
        finally:
            never.set()
            for replica in replicas:
                if replica.process.returncode is None:
                    await kill_9(replica.process)
            await store.close()


async def test_stop_typed_on_the_other_replica_stops_the_owners_turn(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer
):
    async with owner_mid_answer(model, tmp_path, postgres_server) as scene:
        stop = await scene.slack.send_message("C1", "U1", "stop", thread_ts=scene.root_ts)
        assert stop.connection != scene.owner.connection
        await scene.slack.wait_for(
            lambda: "Stopped. Reply here when you're ready to go on." in scene.thread(), timeout=30
        )
        assert "never delivered" not in scene.thread()
        assert scene.slack.ephemerals(user="U1") == []  # nobody was told there is nothing to stop


async def test_cancel_on_the_other_replica_ends_the_owners_turn(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer
):
    async with owner_mid_answer(model, tmp_path, postgres_server) as scene:
        cancel = await scene.slack.send_action(
            CANCEL_ACTION, user_id="U1", channel_id="C1", message_ts=scene.root_ts
        )
        assert cancel.connection != scene.owner.connection
        await scene.slack.wait_for(lambda: "cancelled this interview" in scene.thread(), timeout=30)
        await scene.slack.wait_for(lambda: "Stopped." in scene.thread(), timeout=30)  # the owner's turn ended
        scene.never.set()
        (record,) = await scene.store.list_interviews()
        assert record.status == Status.CANCELLED
        assert await scene.store.find_by_name(THREAD_NAME) is None  # the name is free
        assert "never delivered" not in scene.thread()
