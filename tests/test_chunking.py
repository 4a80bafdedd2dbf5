"""Where long answers are split between Slack messages."""

from slackbot.slack.relay import split_point


def test_prefers_a_paragraph_break():
    text = "first paragraph.\n\nsecond one is long " + "x" * 50
    cut = split_point(text, 0, 40)
    assert text[:cut] == "first paragraph.\n\n"


def test_falls_back_to_line_then_space():
    assert split_point("line one\nline two goes on", 0, 15) == len("line one\n")
    assert split_point("words words words", 0, 14) == len("words words ")


def test_never_cuts_before_visible_text():
    text = "already shown " + "y" * 100
    assert split_point(text, len("already shown "), 50) == len("already shown ")


def test_hard_cut_when_there_is_no_break_at_all():
    assert split_point("z" * 100, 0, 30) == 30
