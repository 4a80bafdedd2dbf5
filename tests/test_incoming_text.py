"""Slack delivers what people type entity-encoded, with people, channels and links as
markup: Claude reads what they typed, people and channels by name, and what the bot
shows back is escaped once (people see it as typed, and it pings nobody)."""

from __future__ import annotations

import asyncio

from slackbot.claude.prompt import WORD_JOINER
from slackbot.store import SqliteStore
from slackbot.store.records import ReplyChange
from tests.conftest import people_said
from tests.fakes import anthropic as fa
from tests.fakes.slack import as_shown, control_sequences
from tests.test_edits import busy_interview, until_waiting
from tests.test_questions import MODE, answer_result, ask, click, question_message

TYPED = "R&D wants p99 <100ms, ask <@U_OTHER> & see <#C_X|design>"
READ = "R&D wants p99 <100ms, ask @Other Name & see #design"


def said(request: fa.ModelRequest) -> str:
    """What people said in a turn, without the invisible joiners that keep `@` from the CLI."""
    return people_said(request).replace(WORD_JOINER, "")


async def test_claude_reads_what_the_person_typed_with_people_and_channels_by_name(start_bot):
    h = await start_bot()
    h.slack.add_user("U1", name="ana", display_name="Ana")
    h.slack.add_user("U_OTHER", name="other", display_name="Other Name")
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    await h.slack.send_message("C1", "U1", TYPED, thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Noted.")
    assert said(h.model.requests[-1]) == f"Ana: {READ}"
    h.model.verify()


async def test_looking_up_the_people_mentioned_never_holds_the_ack(start_bot):
    h = await start_bot()
    h.slack.add_user("U_OTHER", name="other", display_name="Other Name")
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    gate = h.slack.hold_next("users.info", lambda args: args.get("user") == "U_OTHER")
    await h.slack.send_message("C1", "U1", "ask <@U_OTHER>", thread_ts=root_ts)  # returns once acked
    await asyncio.wait_for(gate.reached.wait(), 10)
    pending = await h.bot.store.pending_replies("C1", root_ts)
    assert (pending[-1].text, pending[-1].ready) == ("ask @U_OTHER", False)  # stored, held for the name
    gate.release.set()
    await h.wait_for_text("C1", root_ts, "Noted.")
    assert said(h.model.requests[-1]) == "u1: ask @Other Name"
    h.model.verify()


async def test_someone_slack_does_not_know_is_named_by_id(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hello!"), fa.text("Noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello!")
    await h.slack.send_message("C1", "U1", "ask <@U_GHOST> about <https://x.y/a|the R&D page>", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Noted.")
    assert said(h.model.requests[-1]) == "u1: ask @U_GHOST about the R&D page (https://x.y/a)"
    assert [c.response.get("error") for c in h.slack.calls_to("users.info") if c.args["user"] == "U_GHOST"] == [
        "user_not_found"
    ]
    h.model.verify()


async def test_a_typed_answer_shows_on_the_question_as_typed_escaped_once(start_bot):
    h, root_ts, question, seen = await typing_an_other_answer(start_bot)
    await h.slack.send_message("C1", "U1", "R&D <100ms", thread_ts=root_ts)
    await h.wait_for_text("C1", root_ts, "Noted.")
    assert "Ana: R&D <100ms" in seen[0]  # Claude's tool result: as typed
    card = h.slack.message("C1", question.ts).visible_text
    assert "R&amp;D &lt;100ms" in card  # escaped once in what the bot sent ...
    assert "Ana: *R&D <100ms*" in as_shown(card)  # ... so people see what was typed
    h.model.verify()


async def test_a_mention_typed_literally_reaches_claude_as_text_and_pings_nobody(start_bot):
    h, root_ts, question, seen = await typing_an_other_answer(start_bot)
    # What Slack sends when someone types the characters `<@U0BOSS>` and `<!here>`.
    await h.slack.send_message("C1", "U1", "ping &lt;@U0BOSS&gt; &amp; &lt;!here&gt;", thread_ts=root_ts, raw=True)
    await h.wait_for_text("C1", root_ts, "Noted.")
    assert "Ana: ping <@U0BOSS> & <!here>" in seen[0].replace(WORD_JOINER, "")
    card = h.slack.message("C1", question.ts)
    assert "ping <@U0BOSS> & <!here>" in as_shown(card.visible_text)  # shown as typed ...
    assert [s for s in h.slack.markup_posted() if "U0BOSS" in s or "here" in s] == []  # ... pinging nobody
    assert control_sequences(card.blocks) == []
    assert not [c for c in h.slack.calls_to("users.info") if c.args.get("user") == "U0BOSS"]
    h.model.verify()


async def test_an_edited_reply_is_decoded_like_a_new_one(start_bot):
    h = await start_bot()
    h.slack.add_user("U_OTHER", name="other", display_name="Other Name")
    root_ts, release = await busy_interview(h, fa.text("Edit read."))
    typed = await h.slack.send_message("C1", "U1", "use MySQL & <b>", thread_ts=root_ts)
    await until_waiting(h, root_ts, ["a shop for plants", "use MySQL & <b>"], "the reply, decoded")
    await h.slack.edit_message("C1", typed.ts, TYPED)
    await until_waiting(h, root_ts, ["a shop for plants", READ], "the edit, decoded with names")
    release.set()
    await h.wait_for_text("C1", root_ts, "Edit read.")
    assert said(h.model.requests[-1]) == f"u1: {READ}"
    assert not h.slack.ephemerals()  # the edit was applied: nothing to tell
    h.model.verify()


async def test_naming_the_people_in_an_edit_never_undoes_a_later_edit(store: SqliteStore):
    await store.accept_reply("C1", "1.0", "U1", "ask @U2", "1.1", "Ev1")
    assert await store.edit_reply("C1", "1.1", "ask @U2", "ask @U3", "Ev2") is ReplyChange.APPLIED
    # The names of the first edit, looked up after its ack, come after the second edit.
    await store.edit_reply("C1", "1.1", "ask @U2", "ask @Bo", None, unchanged_only=True)
    assert [r.text for r in await store.pending_replies("C1", "1.0")] == ["ask @U3"]
    await store.edit_reply("C1", "1.1", "ask @U3", "ask @Cy", None, unchanged_only=True)
    assert [r.text for r in await store.pending_replies("C1", "1.0")] == ["ask @Cy"]


async def typing_an_other_answer(start_bot):
    """Ana picks "Other…" on the mode question: her next reply in the thread answers it.
    Returns the harness, the thread, the question's message and what Claude was given."""
    h = await start_bot()
    h.slack.add_user("U1", name="ana", display_name="Ana")
    step, seen = answer_result("Noted.")
    h.model.script(str(h.project("shop")), [ask(MODE), step])
    root_ts = await h.start_interview("shop")
    question = await question_message(h, root_ts, "Quick or detailed interview?")
    await click(h, question, "Other…")
    await h.slack.wait_for(lambda: h.slack.views, what="the answer form")  # she closes it and types instead
    return h, root_ts, question, seen
