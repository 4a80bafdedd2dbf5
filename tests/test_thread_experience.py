"""The thread as a team experiences it: names, owner-only, status line, stop, cancel."""

from __future__ import annotations

import asyncio
import base64

from tests.conftest import is_status_line
from tests.fakes import anthropic as fa
from tests.test_interview_flow import write_both
from tests.test_lifecycle import held


async def test_several_people_answer_and_claude_sees_who_said_what(start_bot):
    h = await start_bot()
    h.slack.add_user("U1", name="ana", display_name="Ana")
    h.slack.add_user("U2", name="ben", display_name="Ben")
    h.model.script(str(h.project("shop")), [fa.text("Who are you?"), fa.text("Hi Ana, hi Ben.")])
    root_ts = await h.start_interview("shop", user="U1")
    await h.wait_for_text("C1", root_ts, "Who are you?")
    await h.slack.send_message("C1", "U1", "I run the bakery", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Hi Ana, hi Ben.")
    await h.slack.send_message("C1", "U2", "I do the deliveries", thread_ts=root_ts)
    await h.slack.wait_for(lambda: len(h.model.requests) == 3 or h.model.unscripted)
    said = [r.last_user_text for r in h.model.requests[1:]]
    assert said == ["Ana: I run the bakery", "Ben: I do the deliveries"]


async def test_owner_only_mode_passes_on_only_the_starter(start_bot):
    h = await start_bot(env={"NEWSPEC_THREAD_OWNER_ONLY": "1"})
    h.slack.add_user("U1", name="ana", display_name="Ana")
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Thanks, Ana.")])
    root_ts = await h.start_interview("shop", user="U1")
    await h.wait_for_text("C1", root_ts, "Hello!")
    await h.slack.send_message("C1", "U2", "me too!", thread_ts=root_ts)
    note = await h.slack.wait_for(lambda: next(iter(h.slack.ephemerals(user="U2")), None))
    assert "Only <@U1>" in note.text and "not passed on" in note.text
    await h.slack.send_message("C1", "U1", "answer from Ana", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Thanks, Ana.")
    assert [r.last_user_text for r in h.model.requests[1:]] == ["Ana: answer from Ana"]


async def test_status_line_says_what_claude_does_then_goes_away(start_bot):
    h = await start_bot()
    project = h.project("shop")

    async def slow(request: fa.ModelRequest) -> fa.Turn:
        await asyncio.sleep(2)  # Claude takes its time before the first word
        return fa.text("Sorry for the wait.")

    h.model.script(str(project), [fa.text("Ready?"), *write_both(project), slow])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Ready?")
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)
    await h.slack.wait_for(lambda: len(h.slack.uploads) == 2)
    await h.slack.send_message("C1", "U1", "one more thing", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Sorry for the wait.")
    await h.slack.wait_for(lambda: not any(is_status_line(m) for m in h.slack.thread("C1", root_ts)))

    status_posts = [c for c in h.slack.calls_to("chat.postMessage") if "Stop" in str(c.args.get("blocks"))]
    # The quick greeting had none; the turn that wrote files said so; the slow one was "thinking".
    assert [c.args["text"] for c in status_posts] == ["Writing app_spec.txt…", "Thinking…"]
    updates = [c.args["text"] for c in h.slack.calls_to("chat.update")]
    assert "Writing initializer_prompt.md…" in updates
    assert len(h.slack.calls_to("chat.delete")) == 2  # each cleared when its turn ended


async def test_stop_button_interrupts_the_answer(start_bot):
    h = await start_bot()
    long_answer = " ".join(f"word{i}" for i in range(400))
    h.model.script(
        str(h.project("shop")),
        [fa.text(long_answer, chunk_size=8, delay=0.02), fa.text("Carrying on.")],
    )
    root_ts = await h.start_interview("shop")
    status = await h.slack.wait_for(
        lambda: next((m for m in h.slack.thread("C1", root_ts) if is_status_line(m)), None)
    )
    await h.slack.wait_for(lambda: "word20" in h.slack.thread_text("C1", root_ts))
    await h.slack.send_action("newspec_stop", root_ts, user_id="U1", channel_id="C1", message_ts=status.ts)
    await h.wait_for_text("C1", root_ts, "Stopped. Reply here when you're ready to go on.")
    assert "word399" not in h.slack.thread_text("C1", root_ts)
    assert "interrupted" not in h.slack.thread_text("C1", root_ts).lower()  # no CLI-internal text
    await h.slack.send_message("C1", "U1", "go on", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Carrying on.")


async def test_typing_stop_interrupts_and_is_not_sent_to_claude(start_bot):
    h = await start_bot()
    started, release = asyncio.Event(), asyncio.Event()
    h.model.script(str(h.project("shop")), [held(started, release, "too late")])
    root_ts = await h.start_interview("shop")
    await asyncio.wait_for(started.wait(), 15)
    await h.slack.send_message("C1", "U1", "Stop", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Stopped.")
    release.set()
    assert all("Stop" not in r.last_user_text for r in h.model.requests)
    assert "too late" not in h.slack.thread_text("C1", root_ts)


async def test_cancel_ends_the_interview_and_keeps_the_files(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [fa.text("Hello! What is it?")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "What is it?")
    await h.slack.send_action("newspec_cancel", user_id="U2", channel_id="C1", message_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "<@U2> cancelled this interview")
    root = h.slack.message("C1", root_ts)
    assert "cancelled by <@U2>" in root.text and "Cancel interview" not in root.visible_text
    assert project.is_dir()

    await h.slack.send_message("C1", "U1", "are you there?", thread_ts=root_ts)
    note = await h.slack.wait_for(  # told privately, so a retried event can't repeat it in the thread
        lambda: next((e for e in h.slack.ephemerals(user="U1") if "This interview was cancelled" in e.text), None)
    )
    assert "`/newspec shop`" in note.text
    assert len(h.model.requests) == 1  # nothing more reached Claude


# What the bundled CLI charges for the `opus` alias (claude-opus-5-5), per million
# tokens in and out: read off its ResultMessage costs for known usage.
OPUS_PRICE_PER_MTOK = (4.0, 20.0)


async def test_summary_card_after_the_files(start_bot):
    h = await start_bot()
    project = h.project("shop")
    h.model.script(str(project), [fa.text("Ready?"), *write_both(project)])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Ready?")
    await h.slack.send_message("C1", "U1", "yes", thread_ts=root_ts)
    card = await h.slack.wait_for(
        lambda: next((m for m in h.slack.thread("C1", root_ts) if "*Model turns*" in m.visible_text), None)
    )
    thread = h.slack.thread("C1", root_ts)
    assert thread.index(card) > max(thread.index(m) for m in thread if m.files)  # after the upload
    lines = card.visible_text.splitlines()
    fields = {key: value for key, value in zip(lines, lines[1:]) if key.startswith("*") and key.endswith("*")}
    tokens_in, tokens_out = h.model.billed()
    assert fields["*Project*"] == "shop"
    assert fields["*Stack*"] == (
        "React 18 with Vite and TypeScript · Node.js 20 with Express and TypeScript · "
        "SQLite via better-sqlite3, file at ./data/todo.db"
    )
    assert fields["*Features*"] == "8"
    assert fields["*Model turns*"] == str(len(h.model.requests))
    assert fields["*Tokens*"] == f"{tokens_in:,} in · {tokens_out:,} out"
    implied = (tokens_in * OPUS_PRICE_PER_MTOK[0] + tokens_out * OPUS_PRICE_PER_MTOK[1]) / 1e6
    assert fields["*Cost*"] == f"${implied:.4f}"
    assert str(project / "prompts") in card.visible_text


# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def content_of(request: fa.ModelRequest) -> list[dict]:
    content = request.last_user_message["content"]
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


async def test_image_and_text_attachments_reach_claude(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Show me."), fa.text("Nice sketch.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Show me.")
    sketch = h.slack.add_file(PNG, "sketch.png", mimetype="image/png")
    notes = h.slack.add_file("# Notes\n- orders\n- delivery\n", "notes.md", mimetype="text/markdown")
    await h.slack.send_message("C1", "U1", "", thread_ts=root_ts, files=[sketch, notes])  # files only
    await h.wait_for_text("C1", root_ts, "Nice sketch.")
    blocks = content_of(h.model.requests[-1])
    (image,) = [b for b in blocks if b["type"] == "image"]
    assert image["source"] == {"type": "base64", "media_type": "image/png", "data": base64.b64encode(PNG).decode()}
    text = " ".join(b.get("text", "") for b in blocks if b["type"] == "text")
    assert "sketch.png" in text and "Attached file `notes.md`" in text and "- delivery" in text


async def test_unsupported_and_oversized_files_get_a_note(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Go ahead."), fa.text("Noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Go ahead.")
    pdf = h.slack.add_file(b"%PDF-1.4", "brief.pdf", mimetype="application/pdf")
    big = h.slack.add_file("x" * (300 * 1024), "huge.txt", mimetype="text/plain")
    await h.slack.send_message("C1", "U1", "see attached", thread_ts=root_ts, files=[pdf, big])
    await h.wait_for_text("C1", root_ts, "Noted.")
    thread = h.slack.thread_text("C1", root_ts)
    assert "`brief.pdf`: I can only pass on images" in thread and "`huge.txt`: too large" in thread
    said = h.model.requests[-1].last_user_text
    assert said.startswith("u1: see attached") and "brief.pdf" in said and "x" * 100 not in said
