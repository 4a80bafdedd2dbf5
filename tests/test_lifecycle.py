"""Sessions that survive time: restarts, idle eviction, the live-session cap,
ordering, duplicates after restart, timeouts, shutdown, existing projects."""

from __future__ import annotations

import asyncio
import json
import os
import threading

from slackbot.interview.wording import CUT_OFF
from tests.conftest import held, people_said
from tests.fakes import anthropic as fa
from tests.test_faults import claude_processes
from tests.test_interview_flow import prompt_for, spec_for, write_both
from tests.test_thread_status import queued_shown


def history(request: fa.ModelRequest) -> str:
    return json.dumps(request.messages)


async def wait_for_status(h, name: str, status: str) -> None:
    """The status is saved just after the answer shows; wait for it."""

    async def reached() -> bool:
        return (await h.bot.store.find_by_name(name)).status == status

    await h.slack.wait_for(reached, what=f"{name} to be {status}")


async def ready_replies(h, root_ts: str) -> list[str]:
    """The thread's replies the bot holds for Claude, ready to send (a turn drops its own when it ends)."""
    return [r.text for r in await h.bot.store.pending_replies("C1", root_ts) if r.ready]


class ProcessSampler:
    """Counts this process's live `claude` children over and over, in a thread (so the
    bot's event loop is not held up), and keeps the most seen at once."""

    def __init__(self) -> None:
        self.most = self.samples = 0
        self._me = os.getpid()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _count(self) -> int:
        """What `claude_processes()` counts, read with as little work as possible."""
        found = 0
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as stat:
                    if int(stat.read().rsplit(b")", 1)[1].split()[1]) != self._me:
                        continue
                with open(f"/proc/{name}/cmdline", "rb") as cmdline:
                    found += b"claude" in cmdline.read()
            except (OSError, ValueError, IndexError):
                continue  # it ended meanwhile
        return found

    def _run(self) -> None:
        while True:
            self.most = max(self.most, self._count())
            self.samples += 1
            if self._stop.wait(0.01):  # a breather, so the bot's thread gets the GIL and a CPU
                return

    def __enter__(self) -> ProcessSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def test_in_process_restart_keeps_the_conversation(start_bot):
    h = await start_bot()
    project = h.project("shop")

    def remembers(request: fa.ModelRequest) -> fa.Turn:
        assert "We sell bread" in history(request) and "What do you sell?" in history(request)
        return fa.text("Still with you: bread.")

    h.model.script(str(project), [fa.text("What do you sell?"), fa.text("Bread, noted."), remembers])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What do you sell?")
    await h.slack.send_message("C1", "U1", "We sell bread", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Bread, noted.")

    await h.restart()
    assert claude_processes() == []  # nothing survived the restart in memory
    await h.slack.send_message("C1", "U1", "Do you remember?", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Still with you: bread.")
    h.model.verify()


async def test_a_reply_caught_by_shutdown_is_answered_after_restart(start_bot):
    h = await start_bot(env={"NEWSPEC_SHUTDOWN_GRACE": "0.2"})
    project = h.project("shop")
    started, release = asyncio.Event(), asyncio.Event()

    def answers_saved_reply(request: fa.ModelRequest) -> fa.Turn:
        # Once: the shutdown closed the CLI cleanly, so its transcript has the reply, and
        # the bot only tells Claude to carry on.
        assert history(request).count("Cakes too") == 1
        assert CUT_OFF in request.last_user_text
        return fa.text("Cakes too, got it.")

    h.model.script(
        str(project), [fa.text("What do you sell?"), held(started, release, "lost answer"), answers_saved_reply]
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What do you sell?")
    await h.slack.send_message("C1", "U1", "Cakes too", thread_ts=root_ts)
    await asyncio.wait_for(started.wait(), 15)

    await h.stop()  # the turn is still running: the grace period runs out
    release.set()
    assert "I'm restarting and had to stop mid-answer" in h.slack.thread_text("C1", root_ts)
    assert claude_processes() == []

    await h.start()
    await h.wait_for_text("C1", root_ts, "Cakes too, got it.")
    assert "lost answer" not in h.slack.thread_text("C1", root_ts)


async def test_shutdown_lets_a_running_turn_finish_within_the_grace_period(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [fa.text("Hello " * 30 + "and goodbye.", chunk_size=20, delay=0.02)])
    root_ts = await h.start_interview("shop")
    await h.slack.wait_for(lambda: h.answers("C1", root_ts), what="answer started")
    await h.stop(grace=15)
    text = h.slack.thread_text("C1", root_ts)
    assert text.endswith("and goodbye.") and "restarting" not in text


async def test_two_quick_replies_are_answered_in_order_never_interleaved(start_bot):
    h = await start_bot()
    project = h.project("shop")
    started, release = asyncio.Event(), asyncio.Event()
    h.model.script(
        str(project),
        [fa.text("Question one?"), held(started, release, "Answer to first."), fa.text("Answer to second.")],
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Question one?")
    await h.slack.send_message("C1", "U1", "first reply", thread_ts=root_ts)
    await asyncio.wait_for(started.wait(), 15)
    await h.slack.send_message("C1", "U1", "second reply", thread_ts=root_ts)

    async def second_is_queued() -> bool:
        return "second reply" in await ready_replies(h, root_ts)

    # The bot has taken the second reply in (stored, ready for Claude) while the first turn runs...
    await h.slack.wait_for(second_is_queued, what="the second reply to be queued")
    assert await ready_replies(h, root_ts) == ["first reply", "second reply"]
    assert len(h.model.requests) == 2  # ...and it waits for the first turn to end
    release.set()
    await h.wait_for_text("C1", root_ts, "Answer to second.")
    texts = [m.text for m in h.answers("C1", root_ts)]
    assert texts == ["Question one?", "Answer to first.", "Answer to second."]
    assert [people_said(r) for r in h.model.requests][1:] == ["u1: first reply", "u1: second reply"]


async def test_a_retry_after_restart_is_still_a_duplicate(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [fa.text("Hi!"), fa.text("Once."), fa.text("Later, answered.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hi!")
    first = await h.slack.send_message("C1", "U1", "only once", thread_ts=root_ts, event_id="Ev1")
    await h.wait_for_text("C1", root_ts, "Once.")
    await h.restart()
    await h.slack.send_message(
        "C1", "U1", "only once", thread_ts=root_ts, event_id="Ev1", ts=first.ts, retry_attempt=2
    )
    await h.slack.send_message("C1", "U1", "only once", thread_ts=root_ts, event_id="Ev7", ts=first.ts)
    # A later reply, answered strictly after whatever came before it in the thread: once
    # Claude has answered it, the duplicates have been dealt with (alone, or merged into it).
    await h.slack.send_message("C1", "U1", "a later reply", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Later, answered.")
    assert [people_said(r) for r in h.model.requests[1:]] == ["u1: only once", "u1: a later reply"]
    h.model.verify()


async def test_idle_sessions_close_their_cli_and_resume_on_the_next_reply(start_bot):
    h = await start_bot(env={"NEWSPEC_IDLE_MINUTES": "0.02"})  # 1.2 s
    project = h.project("shop")

    def remembers(request: fa.ModelRequest) -> fa.Turn:
        assert "Hello, who are you?" in history(request)  # resumed, not a new conversation
        return fa.text("Welcome back.")

    h.model.script(str(project), [fa.text("Hello, who are you?"), remembers])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello, who are you?")
    assert len(claude_processes()) == 1
    await h.slack.wait_for(lambda: claude_processes() == [], timeout=15, what="the idle CLI to close")
    await h.slack.send_message("C1", "U1", "Is anyone there?", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Welcome back.")
    h.model.verify()


async def test_with_a_cap_of_two_the_third_busy_thread_waits_its_turn(start_bot):
    h = await start_bot(env={"NEWSPEC_MAX_LIVE_SESSIONS": "2"})
    gates = {name: (asyncio.Event(), asyncio.Event()) for name in ("a1", "a2", "a3")}
    live_at_start: dict[str, int] = {}  # CLI processes alive when each thread's Claude got going

    def counted(name: str, started: asyncio.Event, release: asyncio.Event) -> fa.Step:
        inner = held(started, release, f"Hello from {name}.")

        async def step(request: fa.ModelRequest) -> fa.Turn:
            live_at_start[name] = len(claude_processes())
            return await inner(request)

        return step

    for name, (started, release) in gates.items():
        h.model.script(str(h.project(name)), [counted(name, started, release)])
    with ProcessSampler() as sampler:  # and in between, every 10 ms or so
        roots = {name: await h.start_interview(name) for name in gates}
        await asyncio.wait_for(gates["a1"][0].wait(), 15)
        await asyncio.wait_for(gates["a2"][0].wait(), 15)
        await queued_shown(h, roots["a3"], "is queued — next in line")
        # Both slots busy, a3 queued: its CLI has not even been started.
        assert not gates["a3"][0].is_set() and len(claude_processes()) == 2

        gates["a1"][1].set()  # a1's turn ends, so its idle CLI makes room for a3
        await asyncio.wait_for(gates["a3"][0].wait(), 15)
        # a3's CLI is live while a2's is still busy: a1's must be gone by now.
        assert live_at_start["a3"] <= 2 and len(claude_processes()) <= 2
        gates["a2"][1].set()
        gates["a3"][1].set()
        await h.wait_for_text("C1", roots["a3"], "Hello from a3.")
    assert h.slack.thread_status("C1", roots["a3"]) == ""  # the status went away
    assert sampler.samples > 0 and sampler.most <= 2, f"{sampler.most} CLI processes were alive at once"


async def test_a_silent_turn_times_out_and_the_next_reply_works(start_bot):
    h = await start_bot(env={"NEWSPEC_TURN_TIMEOUT": "0.02"})  # 1.2 s
    project = h.project("shop")
    started, release = asyncio.Event(), asyncio.Event()
    h.model.script(
        str(project), [fa.text("What is it?"), held(started, release, "too late"), fa.text("Back on track.")]
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What is it?")
    await h.slack.send_message("C1", "U1", "A shop", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Claude went quiet for 1 second,")
    release.set()
    await h.slack.send_message("C1", "U1", "Still there?", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Back on track.")
    assert "too late" not in h.slack.thread_text("C1", root_ts)


async def test_a_name_with_a_thread_points_to_it(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hi!")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hi!")
    await h.slack.send_slash_command("shop", user_id="U2", channel_id="C1")
    note = await h.slack.wait_for(lambda: next(iter(h.slack.ephemerals(user="U2")), None))
    assert "*shop* already has an interview" in note.text and "|thread>" in note.text
    assert len([m for m in h.slack.messages if "*shop*" in m.text]) == 1  # no second thread


async def _finished_project_offer(h, name: str):
    prompts = h.project(name) / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "app_spec.txt").write_text(spec_for(name))
    (prompts / "initializer_prompt.md").write_text(prompt_for(name))
    await h.slack.send_slash_command(name, user_id="U1", channel_id="C1")
    offer = await h.slack.wait_for(lambda: next(iter(h.slack.ephemerals(user="U1")), None))
    assert "already has a finished spec" in offer.text
    buttons = [e for b in offer.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == ["Continue editing", "Start over"]
    assert h.slack.messages == []
    return buttons


async def test_continue_editing_an_existing_spec(start_bot):
    h = await start_bot()
    project = h.project("shop")

    def reads_existing(request: fa.ModelRequest) -> fa.Turn:
        assert "already has a spec" in request.last_user_text
        return fa.text("I've read your spec. What should change?")

    h.model.script(str(project), [reads_existing])
    buttons = await _finished_project_offer(h, "shop")
    await h.slack.send_action(buttons[0]["action_id"], buttons[0]["value"], user_id="U1", channel_id="C1")
    root = await h.slack.wait_for(lambda: next((m for m in h.slack.messages if "*shop*" in m.text), None))
    await h.wait_for_text("C1", root.ts, "What should change?")
    assert (project / "prompts/app_spec.txt").read_text() == spec_for("shop")


async def test_start_over_keeps_the_old_spec_in_a_dated_backup(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [fa.text("Fresh start! What are we building?")])
    buttons = await _finished_project_offer(h, "shop")
    await h.slack.send_action(buttons[1]["action_id"], buttons[1]["value"], user_id="U1", channel_id="C1")
    root = await h.slack.wait_for(lambda: next((m for m in h.slack.messages if "*shop*" in m.text), None))
    await h.wait_for_text("C1", root.ts, "Fresh start!")
    (backup,) = project.glob("prompts.backup-*")
    assert (backup / "app_spec.txt").read_text() == spec_for("shop")
    assert not (project / "prompts/app_spec.txt").exists()
    note = next(e for e in h.slack.ephemerals(user="U1") if "Starting *shop* over" in e.text)
    assert backup.name in note.text

    # A second click on the same (now stale) offer changes nothing.
    await h.slack.send_action(buttons[1]["action_id"], buttons[1]["value"], user_id="U1", channel_id="C1")
    await h.slack.wait_for(lambda: any("already has an interview" in e.text for e in h.slack.ephemerals(user="U1")))
    assert len(list(project.glob("prompts.backup-*"))) == 1


async def test_list_and_help(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Ready?"), *write_both(h.project("shop"))])
    h.model.script(str(h.project("blog")), [fa.text("Hello blog!")])
    shop_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", shop_ts, "Ready?")
    await h.slack.send_message("C1", "U1", "yes", thread_ts=shop_ts)
    await h.slack.wait_for(lambda: len(h.slack.uploads) == 2)
    blog_ts = await h.start_interview("blog")
    await h.wait_for_text("C1", blog_ts, "Hello blog!")

    await wait_for_status(h, "blog", "waiting")
    await h.slack.send_slash_command("list", user_id="U3", channel_id="C1")
    listing = await h.slack.wait_for(lambda: next(iter(h.slack.ephemerals(user="U3")), None))
    lines = listing.text.splitlines()
    assert lines[0] == "*Interviews* (2):"
    assert "*blog* — waiting" in lines[1] and "*shop* — complete" in lines[2]
    assert all("|thread>" in line and "<!date^" in line for line in lines[1:])

    delivery = await h.slack.send_slash_command("help", user_id="U3", channel_id="C1")
    assert "`/newspec list`" in delivery.ack["text"] and "`/newspec <name>`" in delivery.ack["text"]


async def test_a_complete_spec_stays_complete_after_restart(start_bot):
    h = await start_bot()
    project = h.project("shop")

    def continues(request: fa.ModelRequest) -> fa.Turn:
        assert "The spec is ready" in history(request)
        return fa.text("Sure, what should change?")

    h.model.script(str(project), [fa.text("Ready?"), *write_both(project), continues])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Ready?")
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)
    await h.slack.wait_for(lambda: len(h.slack.uploads) == 2)
    await h.wait_for_text("C1", root_ts, "The spec is ready")
    await h.restart()
    await h.slack.send_message("C1", "U1", "One more change please", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Sure, what should change?")
    assert len(h.slack.uploads) == 2  # no second upload
    await wait_for_status(h, "shop", "complete")
