"""One reminder when a question has waited: an open question card gets one message in
its thread after NEWSPEC_REMINDER_AFTER seconds, mentioning whoever's message started
the turn that asked; never a second one, also across restarts. Through the fake Slack
and the real claude CLI."""

from __future__ import annotations

import pytest

from slackbot.config import ConfigError, Settings
from slackbot.interview.reminders import reminder_text, waited
from tests.conftest import bot_env
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack
from tests.test_questions import MODE, ask, question_message

# A restart waits this long for the turn that waits on the question, not 30 s.
QUICK_STOP = {"NEWSPEC_SHUTDOWN_GRACE": "0.5"}


def reminders_in(h, root_ts: str) -> list[str]:
    return [m.text for m in h.answers("C1", root_ts) if ":bell:" in m.text]


async def asked(h, name: str, asker: str) -> str:
    """U1 starts `name`; `asker`'s reply starts the turn in which Claude asks MODE."""
    h.model.script(str(h.project(name)), [fa.text(f"What is {name} about?"), ask(MODE)])
    root_ts = await h.start_interview(name, user="U1")
    await h.wait_for_text("C1", root_ts, f"What is {name} about?")
    await h.slack.send_message("C1", asker, "let's pick a mode", thread_ts=root_ts)
    await question_message(h, root_ts, "Quick or detailed interview?")
    return root_ts


async def test_a_question_left_open_is_reminded_of_once_mentioning_who_asked(start_bot):
    h = await start_bot(env={"NEWSPEC_REMINDER_AFTER": "0.5", **QUICK_STOP})
    shop = await asked(h, "shop", "U2")
    await h.slack.wait_for(lambda: reminders_in(h, shop), what="the reminder")
    assert reminders_in(h, shop) == [reminder_text("U2", 0.5)]
    assert "<@U2>" in reminders_in(h, shop)[0] and "<@U1>" not in reminders_in(h, shop)[0]

    await h.restart()  # the start-up check has run when this returns
    assert len(reminders_in(h, shop)) == 1
    # Another question comes due and is reminded of: the timer ran past the first one again.
    cafe = await asked(h, "cafe", "U3")
    await h.slack.wait_for(lambda: reminders_in(h, cafe), what="the second interview's reminder")
    assert reminders_in(h, cafe) == [reminder_text("U3", 0.5)]
    assert len(reminders_in(h, shop)) == 1


async def test_no_reminder_before_the_question_has_waited(start_bot):
    h = await start_bot(env=QUICK_STOP)  # the reminder's default wait: a day
    shop = await asked(h, "shop", "U2")
    await h.restart()  # the start-up check has run when this returns
    assert reminders_in(h, shop) == []


def test_the_wait_is_a_setting(tmp_path):
    slack = FakeSlack()
    assert Settings.from_env(bot_env(slack, tmp_path)).reminder_after_seconds == 86_400
    assert Settings.from_env(bot_env(slack, tmp_path, NEWSPEC_REMINDER_AFTER="60")).reminder_after_seconds == 60
    with pytest.raises(ConfigError, match="NEWSPEC_REMINDER_AFTER"):
        Settings.from_env(bot_env(slack, tmp_path, NEWSPEC_REMINDER_AFTER="0"))
    assert waited(86_400) == "a day" and waited(7_200) == "2 hours" and waited(0.5) == "a moment"
