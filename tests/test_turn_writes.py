"""A turn's first message becomes its answer (issue 20, item 10): where Slack refuses the
thread's status (issue 22, item 3: thinking and queued show there), the "Thinking…" line a
turn shows instead is never deleted. It takes the answer, the question or the note that
comes next, or says what was done; people never see a deleted message, nor a Thinking line or
a Stop button left once the turn is over. Slack enforces chat.update's budget here as it
does in production (the fake answers 429 past it)."""

from __future__ import annotations

import asyncio

from slack_sdk.web.async_client import AsyncWebClient

from slackbot.slack.rate_limits import MethodBudget
from slackbot.slack.scheduler import Priority, RateLimits, SlackScheduler
from tests.conftest import FAST_LIMITS, held, is_status_line
from tests.fakes import anthropic as fa
from tests.fakes.slack import EnforcedLimits
from tests.test_questions import MODE
from tests.test_stop_button import click_stop, live_status_line

ANSWER = " ".join(f"word{i}" for i in range(60)) + " END"
UPDATES = 20  # chat.update's budget here: a burst of 4, of which 1 is kept for what people wait on
WINDOW = 600.0  # seconds it is counted over: nothing refills while a test runs


def scarce_updates(updates: int = UPDATES, window: float = WINDOW) -> dict:
    """start_bot's options: the bot and the fake Slack both count chat.update at `updates`
    per `window`, and answers are posted and updated (no native streams)."""
    return {
        "streaming": False, "env": {"NEWSPEC_RATE_LIMITS": f"chat.update={updates}"}, "limits_window": window,
        "rate_limits": EnforcedLimits(
            {"chat.update": updates}, window=window, channel_interval=FAST_LIMITS.channel_post_interval
        ),
    }


async def refreshes_take_all_but_the_reserve(h, root_ts: str) -> None:
    """Other threads' refreshes used chat.update's budget down to its reserve: a refresh
    now would wait (so the next answer is written once, whole), a first would not."""
    scheduler = h.bot.interviews.scheduler
    root = h.slack.message("C1", root_ts)
    reserve = MethodBudget(UPDATES, WINDOW).reserve
    assert reserve >= 1
    while scheduler.estimated_wait("chat.update", ahead=reserve) == 0:
        await scheduler.update(Priority.REFRESH, channel="C1", ts=root_ts, text=root.text, blocks=root.blocks)


async def refreshes_take_everything(h, root_ts: str) -> None:
    """Nothing of chat.update's budget is left, not even its reserve."""
    scheduler = h.bot.interviews.scheduler
    root = h.slack.message("C1", root_ts)
    while scheduler.estimated_wait("chat.update") == 0:
        await scheduler.update(channel="C1", ts=root_ts, text=root.text, blocks=root.blocks)


def no_thread_status(h) -> None:
    """Slack refuses assistant.threads.setStatus in C1: the turn shows status lines instead."""
    h.slack.status_refusals["C1"] = "method_not_supported_for_channel_type"


def thinking_shown(h) -> bool:
    return any("Thinking" in m.text and is_status_line(m) for m in h.slack.messages)


def after_thinking(h, then, before=None):
    """A model step that waits until the turn shows "Thinking…", then does `before` (if
    given) and answers with `then`."""

    async def step(request: fa.ModelRequest):
        await h.slack.wait_for(lambda: thinking_shown(h), what="Thinking…")
        if before is not None:
            await before()
        return then

    return step


def turn_writes(h, since: int, method: str) -> list:
    return [c for c in h.slack.calls[since:] if c.ok and c.method == method]


def no_deletes(h, since: int) -> bool:
    return not [c for c in h.slack.calls[since:] if c.method == "chat.delete"]


def thinking_post(h, since: int):
    (post,) = [c for c in turn_writes(h, since, "chat.postMessage") if c.args["text"] == "Thinking…"]
    return post


async def test_with_updates_scarce_the_thinking_line_becomes_the_whole_answer(start_bot):
    h = await start_bot(**scarce_updates())
    no_thread_status(h)
    answer = fa.text(ANSWER, chunk_size=24, delay=0.03)
    h.model.script(str(h.project("shop")), [fa.text("Hello."), after_thinking(h, answer)])
    root_ts = await h.start_interview("shop")
    await h.settled("C1", root_ts, "Hello.")
    await refreshes_take_all_but_the_reserve(h, root_ts)
    since = len(h.slack.calls)

    await h.slack.send_message("C1", "U1", "go on", thread_ts=root_ts)
    *_, message = await h.settled("C1", root_ts, "END")
    assert message.visible_text == ANSWER
    # One post (the Thinking line) and one update (the whole answer, in place): nothing deleted.
    assert message.ts == thinking_post(h, since).response["ts"] and message.edits == 1
    assert len(turn_writes(h, since, "chat.postMessage")) == 1
    assert no_deletes(h, since)
    assert not any(is_status_line(m) or "Thinking" in m.visible_text for m in h.slack.thread("C1", root_ts))
    assert h.slack.rate_limited == []


async def test_with_no_update_to_spare_the_answer_is_posted_and_the_thinking_line_says_it_is_done(start_bot):
    # chat.update at 2 in 20 s: the update that would put the answer in the Thinking line
    # waits for seconds, so the answer is posted whole; the Thinking line says it is done
    # once the budget allows, and is never deleted.
    h = await start_bot(**scarce_updates(2, 20.0))
    no_thread_status(h)
    root_ts = ""

    async def spend() -> None:
        await refreshes_take_everything(h, root_ts)

    answer = fa.text(ANSWER, chunk_size=24, delay=0.03)
    h.model.script(str(h.project("shop")), [fa.text("Hello."), after_thinking(h, answer, before=spend)])
    root_ts = await h.start_interview("shop")
    await h.settled("C1", root_ts, "Hello.")
    since = len(h.slack.calls)

    await h.slack.send_message("C1", "U1", "go on", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "END")
    (shown,) = [m for m in h.slack.thread("C1", root_ts) if "END" in m.text]
    assert shown.visible_text == ANSWER and shown.edits == 0  # posted once, whole: not held back
    thinking = h.slack.message("C1", thinking_post(h, since).response["ts"])
    assert thinking is not None, "the Thinking line was deleted"
    await h.slack.wait_for(lambda: not is_status_line(thinking), timeout=30, what="the Thinking line to be done")
    assert thinking.visible_text == ":white_check_mark: _Thinking_ — done"
    assert no_deletes(h, since)
    assert h.slack.rate_limited == []


async def test_a_turn_that_only_asks_shows_its_question_in_the_thinking_line(start_bot):
    h = await start_bot(streaming=False)
    no_thread_status(h)
    step = fa.tool("AskUserQuestion", {"questions": [MODE]})
    h.model.script(str(h.project("shop")), [fa.text("Hello."), after_thinking(h, step)])
    root_ts = await h.start_interview("shop")
    await h.settled("C1", root_ts, "Hello.")
    since = len(h.slack.calls)

    await h.slack.send_message("C1", "U1", "go on", thread_ts=root_ts)
    question = await h.slack.wait_for(
        lambda: next((m for m in h.slack.thread("C1", root_ts) if "Quick or detailed" in m.text), None),
        what="the question",
    )
    assert question.ts == thinking_post(h, since).response["ts"]  # the Thinking line became the question
    assert [e["text"]["text"] for b in question.blocks for e in b.get("elements", []) if e.get("type") == "button"
            ] == ["Submit", "Other…"]  # the options are radio buttons
    assert no_deletes(h, since)
    assert not any(is_status_line(m) for m in h.slack.thread("C1", root_ts))  # no Stop, no Thinking left


async def test_a_turn_that_fails_while_thinking_shows_why_in_the_thinking_line(start_bot):
    h = await start_bot(streaming=False)
    no_thread_status(h)
    h.model.script(str(h.project("shop")), [fa.text("Hello."), after_thinking(h, fa.error(500))])
    root_ts = await h.start_interview("shop")
    await h.settled("C1", root_ts, "Hello.")
    since = len(h.slack.calls)

    await h.slack.send_message("C1", "U1", "go on", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Claude's service had an error")
    (note,) = [m for m in h.slack.thread("C1", root_ts) if "Claude's service had an error" in m.visible_text]
    assert note.ts == thinking_post(h, since).response["ts"]
    assert no_deletes(h, since)
    assert not any(is_status_line(m) for m in h.slack.thread("C1", root_ts))


async def test_stop_while_thinking_turns_the_thinking_line_into_stopped(start_bot):
    h = await start_bot(streaming=False)
    no_thread_status(h)
    started, release = asyncio.Event(), asyncio.Event()
    h.model.script(str(h.project("shop")), [held(started, release, "too late"), fa.text("Carrying on.")])
    root_ts = await h.start_interview("shop")
    await asyncio.wait_for(started.wait(), 15)
    line = await live_status_line(h, root_ts)
    await click_stop(h, line)
    await h.wait_for_text("C1", root_ts, "Stopped. Reply here when you're ready to go on.")
    (stopped,) = [m for m in h.slack.thread("C1", root_ts) if "Stopped." in m.visible_text]
    assert stopped.ts == line.ts  # the line they clicked says so, and has no Stop any more
    await h.slack.wait_for(lambda: not any(is_status_line(m) for m in h.slack.thread("C1", root_ts)),
                           what="no Stop left")
    assert "Thinking" not in h.slack.thread_text("C1", root_ts)
    assert no_deletes(h, 0)
    release.set()


async def test_a_turn_that_writes_no_text_leaves_a_line_saying_what_was_done(start_bot):
    h = await start_bot(streaming=False)
    no_thread_status(h)
    glob = fa.tool("Glob", {"pattern": "*.md"})
    # Nothing after the tool: the CLI asks once more ("no visible output"), and gets nothing again.
    h.model.script(str(h.project("shop")), [fa.text("Hello."), after_thinking(h, glob), fa.turn(), fa.turn()])
    root_ts = await h.start_interview("shop")
    await h.settled("C1", root_ts, "Hello.")
    since = len(h.slack.calls)

    await h.slack.send_message("C1", "U1", "go on", thread_ts=root_ts)
    await h.slack.wait_for(lambda: thinking_shown(h), what="Thinking…")
    ts = thinking_post(h, since).response["ts"]
    await h.slack.wait_for(lambda: not any(is_status_line(m) for m in h.slack.thread("C1", root_ts)),
                           what="the turn to end")
    line = h.slack.message("C1", ts)
    assert line is not None, "the Thinking line was deleted"
    assert line.visible_text.startswith(":white_check_mark: _Thinking, ") and line.visible_text.endswith("_ — done")
    assert no_deletes(h, since)


async def test_a_first_waits_only_for_the_firsts_queued_before_it():
    """What a status line's last update would wait: refreshes queued for the same budget
    don't count (they go after it), other firsts do."""
    scheduler = SlackScheduler(AsyncWebClient(token="xoxb-test"), RateLimits(per_minute={"m": 5}, window=600))
    calls = 0

    async def call() -> None:
        nonlocal calls
        calls += 1

    await scheduler.run("m", call, fair_key="a")  # the budget's burst of one is spent
    queued = [asyncio.create_task(scheduler.run("m", call, fair_key=f"r{n}", priority=Priority.REFRESH))
              for n in range(3)]
    await asyncio.sleep(0)
    first = scheduler.estimated_wait("m", priority=Priority.FIRST)
    assert 0 < first < scheduler.estimated_wait("m")  # the three refreshes count only for a refresh
    queued.append(asyncio.create_task(scheduler.run("m", call, fair_key="f")))
    await asyncio.sleep(0)
    assert scheduler.estimated_wait("m", priority=Priority.FIRST) > first
    # The dispatcher takes in its wake-up before it is closed: cancelled at that very moment,
    # Python 3.11's wait_for can swallow the cancellation (close() then waits for the budget).
    await asyncio.sleep(0.01)
    await scheduler.close()
    await asyncio.gather(*queued, return_exceptions=True)
    assert calls == 1


async def test_a_turn_that_waited_for_claude_answers_in_its_queued_note(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_LIVE_SESSIONS": "1"})
    no_thread_status(h)
    started, release = asyncio.Event(), asyncio.Event()
    h.model.script(str(h.project("shop")), [held(started, release, "Hello shop.")])
    h.model.script(str(h.project("blog")), [fa.text("Hello blog, what is it about?")])
    shop_ts = await h.start_interview("shop")
    await asyncio.wait_for(started.wait(), 15)
    blog_ts = await h.start_interview("blog")
    await h.wait_for_text("C1", blog_ts, "Queued")  # blog waits for shop's process
    (queued,) = [m for m in h.slack.thread("C1", blog_ts) if "Queued" in m.text]
    release.set()
    await h.wait_for_text("C1", shop_ts, "Hello shop.")
    messages = await h.settled("C1", blog_ts, "Hello blog, what is it about?")
    # The note that said it waited became the answer: nothing came and went.
    assert [m.ts for m in messages] == [queued.ts]
    assert "Queued" not in h.slack.thread_text("C1", blog_ts)
    assert [c for c in h.slack.calls_to("chat.delete") if c.args.get("channel") == "C1"] == []
