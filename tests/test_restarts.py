"""Real restarts of the bot process (issue 19): a stop (SIGTERM, short grace) or a kill
(SIGKILL of the bot and its CLI children) at any point of a reply's way to Claude and
back loses, doubles or strands nothing a person said or clicked.

What the model was given is read from its last request (json.dumps of its messages):
after a restart Claude resumes its transcript, and the bot sends again only what the
transcript lacks, so each thing a person said must show there exactly once.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.conftest import bot_env, process_env
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack, Gate, Message
from tests.postgres import query_bot_database
from tests.test_crash import nothing_pending
from tests.test_questions import FEATURES, MODE, ask, click, elements

pytestmark = pytest.mark.both_engines

OPENING = "has just started a spec interview"
MODE_Q, FEATURES_Q = str(MODE["question"]), str(FEATURES["question"])
RESTARTING = "I'm restarting and had to stop mid-answer"


def escaped(text: str) -> str:
    """`text` as it shows inside json.dumps of a request's messages."""
    return json.dumps(text)[1:-1]


def said(request: fa.ModelRequest) -> str:
    return json.dumps(request.messages)


def answer_count(request: fa.ModelRequest, question: str, label: str) -> int:
    """How often the model was given `label` as the answer to `question`: as the question
    tool's result, or as a message (an answer Claude got after a restart)."""
    dumped = said(request)
    as_result, as_message = f'"{question}"="{label}"', f'My answer to "{question}": {label}'
    return dumped.count(escaped(as_result)) + dumped.count(escaped(as_message))


class Bot:
    """The bot as a real process, over one fake Slack and one state folder."""

    def __init__(self, slack: FakeSlack, tmp_path: Path, **env: str) -> None:
        self.slack, self.tmp_path = slack, tmp_path
        self.env = process_env(**bot_env(slack, tmp_path, **env))
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the bot; its log goes to bot.log in the test's folder (for diagnosis)."""
        connections = self.slack.connections_opened
        with open(self.tmp_path / "bot.log", "ab") as log:
            # A session of its own, so killing the group also kills the claude CLI children.
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "slackbot", env=self.env, start_new_session=True,
                stdout=asyncio.subprocess.DEVNULL, stderr=log,
            )
        await self.slack.wait_for(
            lambda: self.slack.connections_opened > connections, timeout=30, what="bot connected"
        )

    async def kill(self) -> None:
        """SIGKILL of the bot and its claude CLI children, all at once."""
        assert self.process is not None
        self.cleanup()
        await self.process.wait()

    async def terminate(self, group: bool = False) -> None:
        """SIGTERM to the bot alone (it closes its CLIs), or to the bot and its CLIs at
        once (`group`, as systemd stops a service), then wait for the bot to exit."""
        assert self.process is not None
        if group:
            os.killpg(self.process.pid, signal.SIGTERM)
        else:
            self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), 30)
        self.cleanup()  # anything it left behind

    def cleanup(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@asynccontextmanager
async def running(tmp_path: Path, **env: str) -> AsyncIterator[Bot]:
    async with FakeSlack() as slack:
        bot = Bot(slack, tmp_path, **env)
        try:
            await bot.start()
            yield bot
        finally:
            bot.cleanup()


class _Clicker:
    """What `click` needs of a harness."""

    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack


async def start_interview(slack: FakeSlack, name: str = "shop") -> str:
    await slack.send_slash_command(name, user_id="U1", channel_id="C1")
    root = await slack.wait_for(lambda: next((m for m in slack.messages if f"*{name}*" in m.text), None))
    assert root is not None
    return root.ts


async def question_message(slack: FakeSlack, root_ts: str, text: str) -> Message:
    """The question as first posted (a copy: the fake updates its own in place)."""
    message = await slack.wait_for(
        lambda: next((m for m in slack.thread("C1", root_ts) if text in m.text and elements(m)), None),
        timeout=30, what=f"question {text!r}",
    )
    assert message is not None
    return copy.deepcopy(message)


def shows(slack: FakeSlack, root_ts: str, text: str) -> bool:
    return text in slack.thread_text("C1", root_ts)


def held(reached: asyncio.Event, release: asyncio.Event):
    """A model step that keeps Claude's turn running until the test lets it go."""

    async def step(request: fa.ModelRequest) -> fa.Turn:
        reached.set()
        await release.wait()
        return fa.text("never delivered")

    return step


def recorded(seen: list[fa.ModelRequest], then: str):
    def step(request: fa.ModelRequest) -> fa.Turn:
        seen.append(request)
        return fa.text(then)

    return step


def transcript_messages(tmp_path: Path) -> list[list[dict]]:
    """The content of every message in the Claude transcripts in the bot's state folder
    (the CLI writes them lazily: a kill may come before it wrote the last ones)."""
    found = []
    for folder, _, files in os.walk(tmp_path / "state"):  # (the CLI adds and removes lock files meanwhile)
        for name in (f for f in files if f.endswith(".jsonl")):
            found += _contents(Path(folder) / name)
    return found


def _contents(path: Path) -> list[list[dict]]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        try:
            content = json.loads(line).get("message", {}).get("content")
        except (ValueError, AttributeError):  # a line cut short by a kill
            continue
        if isinstance(content, list):
            found.append([b for b in content if isinstance(b, dict)])
    return found


def transcript_answered(tmp_path: Path, tool_id: str) -> bool:
    """Whether Claude's transcript holds the answer to that question (its tool call's result)."""
    return any(
        b.get("type") == "tool_result" and b.get("tool_use_id") == tool_id and not b.get("is_error")
        for content in transcript_messages(tmp_path) for b in content
    )


def transcript_says(tmp_path: Path, text: str) -> bool:
    """Whether Claude's transcript holds a message with `text` in it."""
    return any(text in str(b.get("text")) for content in transcript_messages(tmp_path) for b in content)


# -- a stop or a kill while Claude goes on with an answer -------------------------------


@pytest.mark.parametrize("group", [False, True], ids=["bot_alone", "with_its_clis"])
async def test_an_answer_is_not_lost_when_the_bot_stops_before_the_turn_ends(model, tmp_path: Path, group: bool):
    reached, release = asyncio.Event(), asyncio.Event()
    seen: list[fa.ModelRequest] = []
    project = str(tmp_path / "generations" / "shop")
    model.script(project, [ask(MODE), held(reached, release), recorded(seen, "Detailed, after the restart.")])
    async with running(tmp_path, NEWSPEC_SHUTDOWN_GRACE="1") as bot:
        slack = bot.slack
        root_ts = await start_interview(slack)
        question = await question_message(slack, root_ts, MODE_Q)
        await click(_Clicker(slack), question, "Detailed")
        await asyncio.wait_for(reached.wait(), 30)  # Claude has the answer and is still answering
        await bot.terminate(group)
        # Signalled too, the CLI exits at once; the thread still hears of the restart, not of a failure.
        assert shows(slack, root_ts, RESTARTING) and not shows(slack, root_ts, ":warning:")
        release.set()

        await bot.start()
        await slack.wait_for(lambda: shows(slack, root_ts, "Detailed, after the restart."), timeout=30)
        assert not shows(slack, root_ts, "never delivered")
        (last,) = seen
        assert answer_count(last, MODE_Q, "Detailed") == 1, said(last)
        assert said(last).count(OPENING) == 1, said(last)
        model.verify()


@pytest.mark.parametrize("transcript", ["at_once", "once_written"])
async def test_an_answer_is_not_lost_when_the_bot_is_killed_before_the_turn_ends(model, tmp_path: Path, transcript):
    """Killed at once, the CLI has not yet written the answer to its transcript (it
    writes lazily): the bot must send it again. Killed once it has, the bot must not."""
    reached, release = asyncio.Event(), asyncio.Event()
    seen: list[fa.ModelRequest] = []
    project = str(tmp_path / "generations" / "shop")
    asked = ask(MODE)
    model.script(project, [asked, held(reached, release), recorded(seen, "Detailed, after the kill.")])
    async with running(tmp_path) as bot:
        slack = bot.slack
        root_ts = await start_interview(slack)
        question = await question_message(slack, root_ts, MODE_Q)
        await click(_Clicker(slack), question, "Detailed")
        await asyncio.wait_for(reached.wait(), 30)
        if transcript == "once_written":
            await slack.wait_for(lambda: transcript_answered(tmp_path, asked.tool_ids[0]), timeout=15,
                                 what="the answer in Claude's transcript")
        await bot.kill()
        release.set()

        await bot.start()
        await slack.wait_for(lambda: shows(slack, root_ts, "Detailed, after the kill."), timeout=30)
        (last,) = seen
        assert answer_count(last, MODE_Q, "Detailed") == 1, said(last)
        assert said(last).count(OPENING) == 1, said(last)
        model.verify()


async def test_each_part_of_a_question_answered_across_a_kill_reaches_claude_once(model, tmp_path: Path):
    seen: list[fa.ModelRequest] = []
    project = str(tmp_path / "generations" / "shop")
    model.script(project, [ask(MODE, FEATURES), recorded(seen, "Both noted.")])
    async with running(tmp_path) as bot:
        slack = bot.slack
        root_ts = await start_interview(slack)
        mode = await question_message(slack, root_ts, MODE_Q)
        features = await question_message(slack, root_ts, FEATURES_Q)
        await click(_Clicker(slack), mode, "Detailed")
        await slack.wait_for(lambda: not elements(slack.message("C1", mode.ts) or mode), what="part one shown answered")
        await bot.kill()

        await bot.start()
        block = next(b for b in features.blocks or [] if b.get("block_id", "").startswith("pick:"))
        state = {block["block_id"]: {"newspec_pick": {"type": "checkboxes", "selected_options": [
            {"text": {"type": "plain_text", "text": "Orders"}, "value": "0"}]}}}
        await click(_Clicker(slack), features, "Submit", state=state)  # a copy from before the kill
        await slack.wait_for(lambda: shows(slack, root_ts, "Both noted."), timeout=30)
        (last,) = seen
        assert answer_count(last, MODE_Q, "Detailed") == 1, said(last)
        assert answer_count(last, FEATURES_Q, "Orders") == 1, said(last)
        assert not [e for e in slack.ephemerals(user="U1") if "already been answered" in e.text]
        model.verify()


# -- a kill at each step of the reply path ----------------------------------------------

BREAD, HOW = "We sell bread", "Ask me how to run it"
FINAL = "Detailed it is."


def stage(request: fa.ModelRequest) -> str:
    """How far the interview got, by what the model was given so far."""
    if answer_count(request, MODE_Q, "Detailed"):
        return "answered"
    history = said(request)
    return "asked" if HOW in history else "bread" if BREAD in history else "opening"


def reply_to(now: str) -> fa.Turn:
    """Claude's answer at each stage, made afresh (a question asked again is a new tool call)."""
    if now == "answered":
        return fa.text(FINAL)
    if now == "asked":
        return ask(MODE)
    if now == "bread":
        return fa.text("Bread, noted. " * 12, chunk_size=40, delay=0.02)
    return fa.text("What do you sell?")


async def waiting_on_a_click(tmp_path: Path) -> str | None:
    """The message ts of the question the bot waits on people for, once nothing a person
    typed waits for Claude (the bot has settled after a restart)."""
    state = tmp_path / "state"
    typed = "SELECT COUNT(*) FROM pending_replies WHERE sent IS NULL AND question_id IS NULL"
    if (await query_bot_database(state, typed))[0][0]:
        return None
    rows = await query_bot_database(
        state,
        "SELECT p.ts FROM questions q JOIN question_posts p ON p.question_id = q.id "
        "WHERE q.answered = 0 AND p.item = 0 ORDER BY q.created_at DESC, q.rowid DESC LIMIT 1",
    )
    return rows[0][0] if rows else None


def finished(slack: FakeSlack, root_ts: str, text: str) -> bool:
    """`text` shows in a message of the thread whose stream has stopped."""
    return any(text in m.text and m.stream_state == "stopped" for m in slack.thread("C1", root_ts))


POINTS = [
    "reply_acked",  # the person's message event was acked (killed as Slack gets the ack)
    "model_has_reply",  # the model request carrying it arrived
    "model_has_reply_written",  # ... and the CLI wrote the reply to its transcript
    "answer_streaming",  # Claude's answer is streaming into Slack (its stream's start held)
    "answer_finished",  # the answer's stream stopped, before the next reply
    "question_being_posted",  # the question's card held (Slack shows it after the kill)
    "question_posted",  # the question shows in Slack
    "click_acked",  # the click on it was acked (killed as Slack gets the ack)
    "click_being_shown",  # the question's update showing the answer held
    "model_has_answer",  # the model request carrying the answer arrived
]

# The points where the model's call is held until the kill, and the stage of that call.
HELD_MODEL_CALLS = {"model_has_reply": "bread", "model_has_reply_written": "bread", "model_has_answer": "answered"}


class KillPoint:
    """Kills the bot (SIGKILL, with its CLIs) at one named point of the sequence, once
    that point is reached, and starts it again."""

    def __init__(self, point: str, bot: Bot) -> None:
        self.point, self.bot = point, bot
        self.reached, self.release = asyncio.Event(), asyncio.Event()  # the model call held

    def claude(self, seen: list[fa.ModelRequest]) -> fa.Step:
        """The model: answers each stage; at this point's stage, holds the call until the kill."""
        hold = HELD_MODEL_CALLS.get(self.point)

        async def step(request: fa.ModelRequest) -> fa.Turn:
            seen.append(request)
            now = stage(request)
            if now == hold and not self.reached.is_set():
                self.reached.set()
                await self.release.wait()
                return fa.text("never delivered")
            return reply_to(now)

        return step

    def kill_on_ack(self, at: str) -> None:
        """At this point: SIGKILL the bot the moment Slack has its ack of the next envelope."""
        if self.point != at:
            return

        def kill(ack: dict) -> None:
            self.bot.slack.on_ack = None
            self.bot.cleanup()

        self.bot.slack.on_ack = kill

    def gate(self, at: str, method: str, matches: Callable[[dict], bool] = lambda args: True) -> Gate | None:
        """At this point, hold the Slack call until the kill."""
        return self.bot.slack.hold_next(method, matches) if self.point == at else None

    async def at(
        self, at: str, *, held: Gate | None = None, model: bool = False, until: Callable[[], bool] | None = None
    ) -> None:
        """If this is the point: wait for the held Slack call or model call (and `until`),
        kill the bot, let Slack finish the call it held, and start the bot again."""
        if self.point != at:
            return
        waited = held.reached if held is not None else self.reached if model else None
        if waited is not None:
            await asyncio.wait_for(waited.wait(), 30)
        if until is not None:
            await self.bot.slack.wait_for(until, timeout=30, interval=0.001, what=f"the point {at}")
        await self.bot.kill()
        self.release.set()
        if held is not None:
            held.release.set()  # Slack had the call: it still does what was asked
        await self.bot.start()


async def reply_and_answer(kill: KillPoint, root_ts: str, tmp_path: Path) -> None:
    """The person replies; Claude's answer streams into the thread."""
    slack = kill.bot.slack
    # The start, not an append: a start paced behind the channel's last message may carry
    # the whole (short) answer.
    stream = kill.gate("answer_streaming", "chat.startStream", lambda args: "Bread" in str(args.get("chunks")))
    kill.kill_on_ack("reply_acked")
    await slack.send_message("C1", "U1", BREAD, thread_ts=root_ts)
    await kill.at("reply_acked")
    await kill.at("model_has_reply", model=True)
    await kill.at("model_has_reply_written", model=True, until=lambda: transcript_says(tmp_path, BREAD))
    await kill.at("answer_streaming", held=stream)
    await kill.at("answer_finished", until=lambda: finished(slack, root_ts, "Bread, noted."))

    async def recorded() -> bool:
        return bool(finished(slack, root_ts, "Bread, noted.")) and await nothing_pending(tmp_path)

    await slack.wait_for(  # (an answer cut off by the kill may stay as it was; another one follows)
        recorded, timeout=30,
        what=f"Claude's answer to {BREAD!r}",
    )


async def question_and_click(kill: KillPoint, root_ts: str, tmp_path: Path) -> None:
    """The person asks for a question, Claude asks it, the person clicks an answer."""
    slack = kill.bot.slack
    # Its lead-in ("One choice first.") is already in the thread: that message becomes the card.
    post = kill.gate("question_being_posted", "chat.update", lambda args: MODE_Q in str(args.get("text")))
    await slack.send_message("C1", "U1", HOW, thread_ts=root_ts)
    await kill.at("question_being_posted", held=post)
    await kill.at("question_posted", until=lambda: shows(slack, root_ts, MODE_Q))

    question_ts = await slack.wait_for(lambda: waiting_on_a_click(tmp_path), timeout=30, what="the question")
    assert question_ts is not None
    question = copy.deepcopy(slack.message("C1", question_ts))
    assert question is not None
    shown = kill.gate("click_being_shown", "chat.update", lambda args: args.get("ts") == question_ts)
    kill.kill_on_ack("click_acked")
    await click(_Clicker(slack), question, "Detailed")
    await kill.at("click_acked")
    await kill.at("click_being_shown", held=shown)
    await kill.at("model_has_answer", model=True)


@pytest.mark.parametrize("point", POINTS)
async def test_a_kill_on_the_reply_path_loses_and_doubles_nothing(model, tmp_path: Path, point: str):
    """A reply answered, a question asked and clicked, with a SIGKILL at one point on the
    way; after the restart the person does what is left, and the thread ends answered
    with everything they said in Claude's conversation exactly once."""
    seen: list[fa.ModelRequest] = []
    async with running(tmp_path) as bot:
        slack, kill = bot.slack, KillPoint(point, bot)
        model.script(str(tmp_path / "generations" / "shop"), [kill.claude(seen)] * 12)
        root_ts = await start_interview(slack)
        await slack.wait_for(lambda: finished(slack, root_ts, "What do you sell?"), timeout=30)
        await reply_and_answer(kill, root_ts, tmp_path)
        await question_and_click(kill, root_ts, tmp_path)

        await slack.wait_for(lambda: shows(slack, root_ts, FINAL), timeout=20, what="the last answer")
        last = seen[-1]
        for text in (OPENING, BREAD, HOW):
            assert said(last).count(text) == 1, f"{text!r} in {said(last)}"
        assert answer_count(last, MODE_Q, "Detailed") == 1, said(last)
        assert not model.step_errors and not model.unscripted


async def waiting_text(tmp_path: Path) -> list[str]:
    """What people said that waits for Claude, ready, as the bot stored it."""
    sql = "SELECT text FROM pending_replies WHERE sent IS NULL AND ready = 1"
    return [row[0] for row in await query_bot_database(tmp_path / "state", sql)]


async def test_an_edit_acked_just_before_a_kill_is_what_claude_gets(model, tmp_path: Path):
    """An edit to a reply still waiting is applied before Slack gets its ack: killed the
    moment the ack lands, the restarted bot sends Claude the edited words."""
    reached, release = asyncio.Event(), asyncio.Event()
    seen: list[fa.ModelRequest] = []
    project = str(tmp_path / "generations" / "shop")
    model.script(project, [held(reached, release), recorded(seen, "Postgres it is.")])
    async with running(tmp_path) as bot:
        slack = bot.slack
        root_ts = await start_interview(slack)
        await asyncio.wait_for(reached.wait(), 30)  # Claude is busy with its greeting: replies wait
        typed = await slack.send_message("C1", "U1", "use MySQL", thread_ts=root_ts)
        async def stored() -> bool:
            return "use MySQL" in " ".join(await waiting_text(tmp_path))

        await slack.wait_for(stored, timeout=30, what="stored")

        def kill(ack: dict) -> None:
            slack.on_ack = None
            bot.cleanup()

        slack.on_ack = kill
        await slack.edit_message("C1", typed.ts, "use Postgres")
        await asyncio.wait_for(bot.process.wait(), 30)  # type: ignore[union-attr]
        release.set()
        await bot.start()
        await slack.wait_for(lambda: shows(slack, root_ts, "Postgres it is."), timeout=30, what="the answer")
        assert "use Postgres" in said(seen[-1]) and "MySQL" not in said(seen[-1])
