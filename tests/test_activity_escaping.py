"""What Claude is doing is shown as text: a tool input (here a Glob pattern) in a task
card's title, in the status line under a posted answer or in its notification text
can never ping anyone."""

from __future__ import annotations

import json

import pytest

from slackbot.slack.relay.tasks import TASK_TITLE, Activity
from tests.fakes import anthropic as fa
from tests.test_escaping import hostile_markup
from tests.test_thread_experience import status_said, tasks_shown

PATTERN = "<!here> <@U0BOSS>"
SHOWN = "Looking for &lt;!here&gt; &lt;@U0BOSS&gt;"


def test_a_long_title_is_shortened_before_it_is_escaped():
    tasks = Activity()
    tasks.start("Looking for " + "&" * 200, 0)
    (chunk,) = tasks.chunks("", 0, 0, 1)
    title = chunk["title"]
    assert title.endswith("&amp;…") and title.count("&") == title.count("&amp;")  # no entity cut in half
    assert len(title.replace("&amp;", "&")) <= TASK_TITLE
    tasks.start("<b> & <i>", 0)
    assert tasks.chunks("", 0, 0, 3)[-1]["title"] == "&lt;b&gt; &amp; &lt;i&gt;"  # escaped once


@pytest.mark.parametrize("streaming", [True, False], ids=["task-card", "status-line"])
async def test_a_tool_input_in_what_claude_is_doing_cannot_ping(start_bot, streaming):
    h = await start_bot(streaming=streaming)
    project = h.project("shop")

    def activity() -> list[str]:
        return [title for title, _ in tasks_shown(h)] if streaming else status_said(h)

    async def once_shown(request: fa.ModelRequest) -> fa.Turn:
        # The Glob is still "running" until Slack has shown it.
        await h.slack.wait_for(lambda: any("U0BOSS" in line for line in activity()), what="the Glob activity")
        return fa.text("Nothing matched.")

    h.model.script(str(project), [fa.tool("Glob", {"pattern": PATTERN}), once_shown])
    root_ts = await h.start_interview("shop")
    await h.settled("C1", root_ts, "Nothing matched.")

    assert SHOWN in activity()
    sent = json.dumps([call.args for call in h.slack.calls], ensure_ascii=False)
    assert "<!here>" not in sent and "<@U0BOSS>" not in sent  # nowhere: titles, lines, notification text
    assert hostile_markup(h.slack.markup_posted()) == []
    assert "U0BOSS" not in "".join(h.slack.markup_posted())
