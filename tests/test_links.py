"""Claude's markdown can't hide where a link goes or embed an image: a link shows its
real target, an image shows as its description and address, and a reference
definition can't give a link a hidden target. Claude's text arrives in pieces that
may cut a link anywhere, so every cut must come out the same as the whole."""

from __future__ import annotations

import json
import random
import re

import pytest

from slackbot.slack.relay import split_point
from slackbot.slack.relay.links import MAX_HOLD, LinkFilter
from tests.fakes import anthropic as fa

# A reference definition where a renderer would take it: at a line's start, maybe after
# indentation, quote or list markers, `[label]:` with nothing between `]` and `:`.
DEFINITION = re.compile(r"^(?:[ \t]|>|[*+-][ \t]|\d+[.)][ \t])*\[(?:\\.|[^\[\]\\])+\]:", re.MULTILINE)

SAMPLES = [
    "Log in at [https://bank.example/login](https://evil.example/phish) today.",
    "![x](https://evil.example/pixel.png) and ![](https://evil.example/p.png)",
    "[![logo](https://cdn.example/l.png)](https://evil.example/a)",
    "See [bank][1] or [bank].\n\n[1]: https://evil.example/ref\n[bank]: https://evil.example/short",
    "> [q]: https://evil.example\n - [l]: https://evil.example\n   [i]:https://evil.example",
    "[a [nested] text](https://evil.example/n) [t](<https://x.example/a b>) [u](https://x.example \"T\")",
    "code: `[x](https://y.example)` and `arr[0](x)`\n```js\nhandlers[name](event)\nfor k in d[k]:\n```",
    "[bank\nlogin](https://evil.example/line) [" + "long " * 250 + "](https://evil.example/long)",
    "unclosed [link text and (parens) here\n\nnext [a](b) end",
    "escaped \\[a](https://evil.example/e) and [b\\]](https://evil.example/f) x[y](z) [][]()",
    "trailing [ref",
    "trailing ![alt](https://evil.example/end",
]


def shown(text: str) -> str:
    links = LinkFilter()
    return links.feed(text) + links.flush()


def hides_nothing(text: str) -> bool:
    """No inline link or image (both need `](`) and no reference definition."""
    return "](" not in text and not DEFINITION.search(text)


def test_a_link_shows_its_real_target():
    assert shown("Log in at [https://bank.example/login](https://evil.example/phish) now.") == (
        "Log in at https://bank.example/login (https://evil.example/phish) now."
    )
    assert shown("See [the docs](https://docs.example).") == "See the docs (https://docs.example)."
    assert shown("**[bold](https://b.example)**") == "**bold (https://b.example)**"


def test_a_link_that_is_its_own_target_stays_just_the_target():
    assert shown("[https://a.example](https://a.example)") == "https://a.example"
    assert shown("go [](https://a.example)") == "go https://a.example"


def test_an_image_is_never_embedded():
    assert shown("![x](https://evil.example/pixel.png)") == "x (https://evil.example/pixel.png)"
    assert shown("![](https://evil.example/p.png)") == "https://evil.example/p.png"
    assert shown("[![logo](https://cdn.example/l.png)](https://evil.example)") == (
        "logo (https://cdn.example/l.png) (https://evil.example)"
    )


def test_angle_targets_titles_and_nested_brackets():
    assert shown("[a](<https://x.example/a b>)") == "a (https://x.example/a b)"
    assert shown('[a](https://x.example "T")') == 'a (https://x.example "T")'
    assert shown("[a [b] c](https://x.example/(d))") == "a [b] c (https://x.example/(d))"


def test_a_reference_definition_cannot_give_a_link_a_target():
    text = "See [bank][1] or [bank].\n\n[1]: https://evil.example\n> [bank]:https://evil.example"
    assert shown(text) == "See [bank][1] or [bank].\n\n[1] : https://evil.example\n> [bank] :https://evil.example"


def test_what_cannot_be_rewritten_still_shows_its_target():
    # Too long to hold back, across a line, or after a word (code, not prose): the link
    # is broken with one space instead, so its target shows as text.
    long = "[" + "a" * MAX_HOLD + "](https://evil.example)"
    assert shown(long) == long.replace("](", "] (")
    assert shown("[bank\nlogin](https://evil.example)") == "[bank\nlogin] (https://evil.example)"
    assert shown("x[y](https://evil.example)") == "x[y] (https://evil.example)"
    assert shown("[b\\]](https://evil.example)") == "b\\] (https://evil.example)"


def test_code_keeps_its_text_but_not_link_syntax():
    code = "```python\nfor k in d[k]:\n    y: list[str] = arr[0]\n    m = {'a': [1]}\n```\n`a[i]` `x`"
    assert shown(code) == code
    # A link in code is shown literally by Slack anyway; rewriting it there too keeps
    # safe a link whose code span a message split could cut. Its target still shows.
    assert shown("`[x](https://y.example)`") == "`[x] (https://y.example)`"
    assert shown("```\nhandlers[name](event)\n[doc](https://d.example)\n```") == (
        "```\nhandlers[name] (event)\ndoc (https://d.example)\n```"
    )


@pytest.mark.parametrize("text", SAMPLES)
def test_every_cut_comes_out_as_the_whole(text):
    whole = shown(text)
    assert hides_nothing(whole), whole
    for cut in range(len(text) + 1):
        links = LinkFilter()
        assert links.feed(text[:cut]) + links.feed(text[cut:]) + links.flush() == whole, cut
    links = LinkFilter()
    assert "".join(links.feed(c) for c in text) + links.flush() == whole


def test_no_text_cut_any_way_makes_a_link():
    pieces = ["[", "]", "(", ")", "!", ":", "\\", " ", "\n", ">", "a", "`", "- ", "[a]", "](b)", "]:"]
    rng = random.Random(7)
    for _ in range(3_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 16)))
        whole = shown(text)
        assert hides_nothing(whole), (text, whole)
        cuts = sorted(rng.randint(0, len(text)) for _ in range(3))
        links = LinkFilter()
        parts = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert "".join(links.feed(part) for part in parts) + links.flush() == whole, (text, parts)


def test_plain_text_is_not_held_back():
    links = LinkFilter()
    assert links.feed("Hello team, ") == "Hello team, "
    assert links.feed("see [the") == "see "  # a link may be starting
    assert links.feed(" docs](https://d.example) now") == "the docs (https://d.example) no"
    assert links.feed("!\n") == "w!\n"


def test_holding_back_is_bounded():
    links = LinkFilter()
    assert links.feed("[not a link, a line\n") == "[not a link, a line\n"
    assert links.feed("[" + "x" * (MAX_HOLD + 5)).startswith("[xxx")
    assert links.flush().startswith("x")


def test_text_after_a_flush_starts_a_new_block():
    links = LinkFilter()
    assert links.feed("a[b") + links.flush() == "a[b"
    assert links.feed("[c]: https://evil.example") + links.flush() == "[c] : https://evil.example"
    assert links.feed("x\\") + links.flush() == "x\\"
    assert links.feed("[d]: https://evil.example") + links.flush() == "[d] : https://evil.example"


def test_a_hard_cut_never_starts_a_message_with_a_bracket():
    # The next message starts a line there: `[k]: x` after a word would become a definition.
    text = "a" * 20 + "[k]:https://evil.example"
    assert split_point(text, 0, 20) == 19
    assert split_point("z" * 100, 0, 30) == 30


@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "posted"])
async def test_slack_shows_where_claudes_links_go(start_bot, streaming):
    h = await start_bot(streaming=streaming)
    answer = (
        "Please log in at [https://bank.example/login](https://evil.example/phish) first.\n\n"
        "![status](https://evil.example/pixel.png)\n\n"
        "Or use [the portal][p].\n\n[p]: https://evil.example/ref\n\nDONE"
    )
    h.model.script(str(h.project("shop")), [fa.text(answer, chunk_size=7, delay=0.005)])
    root_ts = await h.start_interview("shop")
    await h.settled("C1", root_ts, "DONE")

    shown_text = h.slack.thread_text("C1", root_ts)
    assert "https://bank.example/login (https://evil.example/phish)" in shown_text
    assert "status (https://evil.example/pixel.png)" in shown_text
    assert "[p] : https://evil.example/ref" in shown_text
    writes = [c.args for c in h.slack.calls if c.method.startswith("chat.") and c.method != "chat.delete"]
    sent = json.dumps(writes, ensure_ascii=False)
    assert "](" not in sent and "![" not in sent and "[p]:" not in sent
