"""Nothing the bot posts can ping a channel or disguise a link: Claude's words and
every value people, files or specs provide are shown as written."""

from __future__ import annotations

from slackbot.markup import code, escape
from tests.fakes import anthropic as fa
from tests.fakes.slack import control_sequences
from tests.test_interview_flow import prompt_for, spec_for
from tests.test_questions import ask, click, question_message

HOSTILE = "<!channel> <!here> <!subteam^S0001|@devs> <@U999> <https://evil.example|https://bank.example>"


def hostile_markup(found: list[str]) -> list[str]:
    return [seq for seq in found if any(bad in seq for bad in ("channel", "here", "subteam", "U999", "evil"))]


def test_escape_turns_every_control_sequence_into_text():
    assert escape("a & b <!here>") == "a &amp; b &lt;!here&gt;"
    assert control_sequences(escape(HOSTILE)) == []
    assert code("x`<@U1>`") == "`x'&lt;@U1&gt;'`"


async def test_claude_and_people_cannot_make_the_bot_ping_anyone(start_bot):
    h = await start_bot()
    h.slack.add_user("U1", name="ana", display_name="<!channel> Ana")
    project = h.project("shop")
    question = {
        "question": f"Which mode? {HOSTILE}",
        "header": "<!here>",
        "options": [
            {"label": "Quick <!channel>", "description": f"fast {HOSTILE}"},
            {"label": "Detailed", "description": "thorough"},
        ],
        "multiSelect": False,
    }
    spec = spec_for("<!here> shop").replace("React 18", "React 18 <@U999>")
    h.model.script(
        str(project),
        [
            fa.text(f"Hello team! {HOSTILE}"),
            ask(question),
            fa.tool("Write", {"file_path": str(project / "prompts/app_spec.txt"), "content": spec}),
            fa.tool("Write", {"file_path": str(project / "prompts/initializer_prompt.md"),
                              "content": prompt_for("shop")}),
            fa.text(f"Done. {HOSTILE}"),
        ],
    )
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Hello team!")
    await h.slack.send_message("C1", "U1", "go on", thread_ts=root_ts)
    asked = await question_message(h, root_ts, "Which mode?")
    await click(h, asked, "Other…")
    await h.slack.send_message("C1", "U1", f"my own way {HOSTILE}", thread_ts=root_ts)
    await h.slack.wait_for(lambda: any(m.files for m in h.slack.thread("C1", root_ts)), what="the upload")
    await h.wait_for_text("C1", root_ts, "Done.")

    shown = h.slack.thread_text("C1", root_ts)
    assert "Hello team! &lt;!channel&gt;" in shown  # still there, as text
    assert "&lt;!channel&gt; Ana" in shown  # the typed answer's author
    assert hostile_markup(h.slack.markup_posted()) == []
    assert "<@U1>" in h.slack.markup_posted()  # the bot's own mention of the starter still works


async def test_links_people_type_do_not_unfurl(start_bot):
    h = await start_bot()
    h.model.script(str(h.project("shop")), [fa.text("Hi! See https://example.com")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "See https://example.com")
    posts = h.slack.calls_to("chat.postMessage")
    assert posts and all(str(c.args.get("unfurl_links")).lower() in ("false", "0") for c in posts)
