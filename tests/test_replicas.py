"""Two bot processes (replicas) on one PostgreSQL database, one fake Slack handing
Socket Mode envelopes to their two connections in turn (or, in HTTP mode, its requests
to their two request URLs, as a load balancer would).

A reply that lands on the replica not running the thread is answered by the one that
is (woken through the database), once; when that one is killed (-9), the other takes
the thread over and answers the next reply with the conversation intact; when that one
only stalls past the timeout, it stays out of the thread once it wakes up."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
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
SECRET = "replica-signing-secret"
GREETING = "What do you sell?"


def own_state(env: dict[str, str], tmp_path: Path, n: int) -> dict[str, str]:
    """Replica n's environment: its own NEWSPEC_STATE_DIR (its machine's disk)."""
    return {**env, "NEWSPEC_STATE_DIR": str(tmp_path / f"state{n}")}


class Replica:
    """A bot process, its Socket Mode connection's (HTTP: request URL's) number, its replica
    id and its bot token (the fake Slack records which token made each call)."""

    def __init__(self, process: asyncio.subprocess.Process, connection: int, replica_id: str, token: str) -> None:
        self.process, self.connection, self.id, self.token = process, connection, replica_id, token


async def launch(
    slack: FakeSlack, env: dict[str, str], store: PostgresStore, log: Path, *, http: bool = False
) -> Replica:
    """A replica connected over Socket Mode, or (`http`) serving HTTP on a port of its own
    that the fake Slack then sends requests to, in turn with the others'."""
    known = set(await store.live_replicas(60))
    opened = len(slack.request_urls) if http else slack.connections_opened
    serve = ["--http", "--host", "127.0.0.1", "--port", "0"] if http else []
    with log.open("ab") as output:  # the bot's log, read when a test fails
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "slackbot", *serve, env=env, start_new_session=True,
            stdout=asyncio.subprocess.DEVNULL, stderr=output,
        )
    if http:
        port = await slack.wait_for(lambda: serving_port(log), timeout=30, what="bot serving")
        slack.request_urls.append(f"http://127.0.0.1:{port}/slack/events")
    else:
        await slack.wait_for(lambda: slack.connections_opened > opened, timeout=30, what="bot connected")
    (replica_id,) = set(await store.live_replicas(60)) - known  # it beats before it connects (or serves)
    return Replica(process, opened + 1, replica_id, env["SLACK_BOT_TOKEN"])


def serving_port(log: Path) -> int | None:
    found = re.search(r"serving Slack requests on http://127\.0\.0\.1:(\d+)/", log.read_text())
    return int(found.group(1)) if found else None


@dataclass
class Interview:
    """Two replicas on one database, and an interview its owner (the one the command reached) greeted in."""

    slack: FakeSlack
    store: PostgresStore
    root_ts: str
    owner: Replica
    other: Replica

    def thread(self) -> str:
        return self.slack.thread_text("C1", self.root_ts)


@asynccontextmanager
async def interview_on_two_replicas(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer, steps: list[fa.Step | fa.Turn],
    *, http: bool = False,
) -> AsyncIterator[Interview]:
    """Two replica processes (Socket Mode, or `http`) on a fresh database; Claude answers
    `steps`, the first being the greeting (GREETING), shown before this yields."""
    url = postgres_server.fresh_database()
    (tmp_path / "generations").mkdir()
    model.script(str(tmp_path / "generations" / THREAD_NAME), steps)
    store = PostgresStore(url)
    await store.open()
    async with FakeSlack(several_connections=True, signing_secret=SECRET) as slack:
        # One generations folder for both (shared storage) but a state folder each, as on
        # two machines: a survivor resumes a killed replica's conversation from the
        # transcript in the database.
        env = process_env(**bot_env(
            slack, tmp_path, NEWSPEC_DATABASE_URL=url, NEWSPEC_REPLICA_TIMEOUT="2",
            **({"SLACK_SIGNING_SECRET": SECRET} if http else {}),
        ))
        replicas: list[Replica] = []
        try:
            for n in (1, 2):
                # A token each: the fake Slack's calls say which replica made them.
                own = {**own_state(env, tmp_path, n), "SLACK_BOT_TOKEN": token(n)}
                replicas.append(await launch(slack, own, store, tmp_path / f"bot{n}.log", http=http))
            started = await slack.send_slash_command(THREAD_NAME, user_id="U1", channel_id="C1")
            root = await slack.wait_for(lambda: next((m for m in slack.messages if f"*{THREAD_NAME}*" in m.text), None))
            (owner,) = [r for r in replicas if r.connection == started.connection]
            (other,) = [r for r in replicas if r is not owner]
            interview = Interview(slack, store, root.ts, owner, other)
            await slack.wait_for(lambda: GREETING in interview.thread(), timeout=30)
            yield interview
        finally:
            for replica in replicas:
                if replica.process.returncode is None:
                    os.killpg(replica.process.pid, signal.SIGCONT)  # a test may have stopped it
                    await kill_9(replica.process)
            await store.close()


@pytest.mark.parametrize("http", [False, True], ids=["socket_mode", "http_mode"])
async def test_a_reply_on_either_replica_is_answered_once_and_a_killed_owners_thread_goes_on(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer, http: bool
):
    """In Socket Mode each replica holds a connection; in HTTP mode each serves its own
    request URL behind a load balancer (which passes a dead one's requests on)."""
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
        for earlier in (GREETING, "We sell bread", "Bread, noted.", "Cakes too", "Pies, noted."):
            assert earlier in history
        assert history.count("Scones as well") == 1
        return fa.text("Bread, cakes, pies and scones, got it.")

    steps = [fa.text(GREETING), fa.text("Bread, noted."), cakes, pies, answers_on_the_survivor]
    async with interview_on_two_replicas(model, tmp_path, postgres_server, steps, http=http) as interview:
        slack, store, root_ts, owner, other = (
            interview.slack, interview.store, interview.root_ts, interview.owner, interview.other
        )
        thread = interview.thread
        assert await store.owner_of("C1", root_ts) == owner.id

        # Envelopes alternate: this reply lands on the other replica, which wakes the owner.
        bread = await slack.send_message("C1", "U1", "We sell bread", thread_ts=root_ts)
        assert bread.connection == other.connection
        await slack.wait_for(lambda: "Bread, noted." in thread(), timeout=30)

        # The owner is in a turn when a reply lands on the other: it waits for the owner's next turn.
        cakes_too = await slack.send_message("C1", "U1", "Cakes too", thread_ts=root_ts)
        assert cakes_too.connection == owner.connection
        await asyncio.wait_for(cakes_asked.wait(), 30)
        and_pies = await slack.send_message("C1", "U1", "And pies", thread_ts=root_ts)
        assert and_pies.connection == other.connection
        await slack.wait_for(lambda: stored(store, root_ts, waiting=1), what="the reply stored")
        cakes_answer.set()
        await slack.wait_for(lambda: "Pies, noted." in thread(), timeout=30)
        await slack.wait_for(lambda: stored(store, root_ts), what="the turn to be recorded")
        assert await store.owner_of("C1", root_ts) == owner.id  # the owner ran every turn

        await kill_9(owner.process)
        scones = await slack.send_message("C1", "U1", "Scones as well", thread_ts=root_ts)
        assert scones.connection == other.connection
        await slack.wait_for(lambda: "Bread, cakes, pies and scones, got it." in thread(), timeout=60)
        assert await store.owner_of("C1", root_ts) == other.id
        for said in (GREETING, "Bread, noted.", "Cakes, noted.", "Pies, noted.", "scones, got it."):
            assert thread().count(said) == 1, thread()
        await slack.wait_for(lambda: stored(store, root_ts), what="the last turn to be recorded")
        model.verify()  # five turns, each asked once: no reply lost, none answered twice


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

    steps = [fa.text(GREETING), cut_off, finished_on_the_survivor]
    async with interview_on_two_replicas(model, tmp_path, postgres_server, steps) as interview:
        slack, store, root_ts, thread = interview.slack, interview.store, interview.root_ts, interview.thread
        await slack.send_message("C1", "U1", "We sell bread", thread_ts=root_ts)  # on the other: wakes the owner
        await asyncio.wait_for(asked.wait(), 30)
        await kill_9(interview.owner.process)
        never.set()
        # Nobody writes in the thread: the survivor finds the thread orphaned on its own.
        await slack.wait_for(lambda: "Bread, noted." in thread(), timeout=60)
        assert await store.owner_of("C1", root_ts) == interview.other.id
        assert "never delivered" not in thread()
        assert thread().count("Bread, noted.") == 1
        await slack.wait_for(lambda: stored(store, root_ts), what="the turn to be recorded")
        model.verify()


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

    steps = [fa.text(GREETING), stalled, taken_over, cakes]
    async with interview_on_two_replicas(model, tmp_path, postgres_server, steps) as interview:
        slack, store, root_ts, owner, thread = (
            interview.slack, interview.store, interview.root_ts, interview.owner, interview.thread
        )
        try:
            await slack.send_message("C1", "U1", "We sell bread", thread_ts=root_ts)
            await asyncio.wait_for(asked.wait(), 30)
            os.killpg(owner.process.pid, signal.SIGSTOP)  # the bot and its Claude CLI, as a VM pause
            await slack.wait_for(lambda: "Bread, noted." in thread(), timeout=60)
            assert await store.owner_of("C1", root_ts) == interview.other.id
            await slack.wait_for(lambda: stored(store, root_ts), what="the taken-over turn to be recorded")
            resumed = len(slack.calls)
            release.set()
            os.killpg(owner.process.pid, signal.SIGCONT)
            await slack.wait_for(lambda: live(store, owner.id), what="the stalled replica to beat again")

            cakes_too = await slack.send_message("C1", "U1", "Cakes too", thread_ts=root_ts)
            assert cakes_too.connection == owner.connection  # it wakes the thread's owner now
            await slack.wait_for(lambda: "Cakes, noted." in thread(), timeout=30)
            await slack.wait_for(lambda: stored(store, root_ts), what="the turn to be recorded")
            assert await store.owner_of("C1", root_ts) == interview.other.id
            said = [m.text for m in slack.thread("C1", root_ts) if m.user != "U1"]
            assert said == [GREETING, "Bread, noted.", "Cakes, noted."], thread()
            # Nor did it write anything else there once awake: its turn's "is thinking…"
            # status (due while it stalled), nor that status taken down at the turn's end.
            assert [str(c) for c in slack.calls[resumed:] if c.token == owner.token and writes_in(c, "C1")] == []
            # The stored transcript (what any replica resumes from) holds none of the stalled turn.
            project = tmp_path / "generations" / THREAD_NAME
            await slack.wait_for(lambda: mirrored(store, project, "Cakes, noted."), what="the transcript mirrored")
            assert not await mirrored(store, project, stalled_answer)
            model.verify()  # four turns, each asked once
        finally:
            release.set()


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
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer, *, http: bool = False
) -> AsyncIterator[MidAnswer]:
    asked, never = asyncio.Event(), asyncio.Event()

    async def long_answer(request: fa.ModelRequest) -> fa.Turn:
        asked.set()
        await never.wait()  # Claude answers until stopped (or the interview is cancelled)
        return fa.text("never delivered")

    steps = [fa.text(GREETING), fa.text("Bread, noted."), long_answer]
    async with interview_on_two_replicas(model, tmp_path, postgres_server, steps, http=http) as interview:
        scene = MidAnswer(interview.slack, interview.store, interview.root_ts, interview.owner, never)
        try:
            await scene.slack.send_message("C1", "U1", "We sell bread", thread_ts=scene.root_ts)
            await scene.slack.wait_for(lambda: "Bread, noted." in scene.thread(), timeout=30)
            await scene.slack.send_message("C1", "U1", "Cakes too", thread_ts=scene.root_ts)  # on the owner
            await asyncio.wait_for(asked.wait(), 30)
            yield scene
        finally:
            never.set()


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


@pytest.mark.parametrize("http", [False, True], ids=["socket_mode", "http_mode"])
async def test_cancel_on_the_other_replica_ends_the_owners_turn(
    model: fa.FakeAnthropic, tmp_path: Path, postgres_server: PostgresServer, http: bool
):
    """(HTTP mode too: a button's interaction reaches the other replica as a signed form.)"""
    async with owner_mid_answer(model, tmp_path, postgres_server, http=http) as scene:
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
