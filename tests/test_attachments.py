"""Files people attach: they reach Claude whole, and the bot token never leaves Slack.

Through the real bot, the fake Slack (which serves downloads in small pieces, as
a network does) and the real `claude` CLI. "Elsewhere" is a second local web
server standing in for a host that is not Slack: it records every request.
"""

from __future__ import annotations

import base64
import random
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from slackbot.slack.attachments import may_send_token, origin
from slackbot.spend.flood import MAX_BATCH_CHARS
from tests.fakes import anthropic as fa
from tests.test_thread_experience import content_of

TOKEN = "xoxb-test"  # what conftest's bot_env gives the bot


@dataclass
class Elsewhere:
    url: str = ""
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Authorization)

    @property
    def saw_token(self) -> bool:
        return any(auth and TOKEN in auth for _, auth in self.requests)


@pytest.fixture
async def elsewhere() -> AsyncIterator[Elsewhere]:
    seen = Elsewhere()

    async def serve(request: web.Request) -> web.Response:
        seen.requests.append((request.path, request.headers.get("Authorization")))
        return web.Response(text="CONTENT FROM ELSEWHERE\n", content_type="text/plain")

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    seen.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield seen
    await runner.cleanup()


def png(width: int, height: int, seed: int = 0) -> bytes:
    """A valid RGB PNG of noise (so it doesn't compress: about 3 bytes a pixel)."""
    rng = random.Random(seed)
    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def whole_picture(got: bytes, original: bytes) -> tuple[int, int] | None:
    """Width and height of the picture Claude was sent, if it is complete: the original
    PNG byte for byte, or a JPEG from its start marker to its end marker."""
    if got == original:
        return struct.unpack(">II", original[16:24])
    if not (got.startswith(b"\xff\xd8") and got.endswith(b"\xff\xd9")):
        return None
    i = 2
    while i + 9 <= len(got) and got[i] == 0xFF:
        marker, length = got[i + 1], int.from_bytes(got[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame
            height, width = struct.unpack(">HH", got[i + 5:i + 9])
            return width, height
        i += 2 + length
    return None


async def interview_with_files(h, files: list[dict], text: str = "see attached") -> str:
    """Start an interview, answer with `files`, wait for Claude's reply; the thread's ts."""
    h.model.script(str(h.project("shop")), [fa.text("Go ahead."), fa.text("Noted.")])
    root_ts = await h.start_interview("shop")
    await h.wait_for_text("C1", root_ts, "Go ahead.", timeout=60)  # a first CLI start, beside a busy worker
    await h.slack.send_message("C1", "U1", text, thread_ts=root_ts, files=files)
    await h.wait_for_text("C1", root_ts, "Noted.", timeout=30)
    return root_ts


def said_to_claude(h) -> str:
    return " ".join(b.get("text", "") for b in content_of(h.model.requests[-1]) if b["type"] == "text")


# --------------------------------------------------------------------------- whole files


async def test_large_image_and_text_reach_claude_whole(start_bot):
    h = await start_bot()
    image = png(600, 600)
    assert len(image) > 2**20
    lines = [f"line {i:05d}: the bakery delivers bread, cakes and pastries every morning" for i in range(700)]
    notes = "\n".join([*lines, "THE LAST LINE"]) + "\n"
    assert 6 * h.slack.download_piece < len(notes) < MAX_BATCH_CHARS  # many pieces, and one turn takes it
    files = [
        h.slack.add_file(image, "storefront.png", mimetype="image/png"),
        h.slack.add_file(notes, "notes.txt", mimetype="text/plain"),
    ]
    root_ts = await interview_with_files(h, files)
    blocks = content_of(h.model.requests[-1])
    (sent,) = [b for b in blocks if b["type"] == "image"]
    # Claude sees the whole picture, not its first 64 KB. (The CLI re-encodes a picture
    # this large as JPEG; a cut-off PNG it cannot decode, so it would pass those bytes on.)
    assert whole_picture(base64.b64decode(sent["source"]["data"]), image) == (600, 600)
    text = said_to_claude(h)
    assert "line 00699:" in text and "THE LAST LINE" in text
    assert "couldn't pass on" not in h.slack.thread_text("C1", root_ts)


async def test_file_larger_than_slack_says_still_gets_the_too_large_note(start_bot):
    h = await start_bot()
    big = h.slack.add_file("y" * (300 * 2**10), "dump.txt", mimetype="text/plain")
    big["size"] = 1_000  # the event's size is only a hint; the bytes decide
    root_ts = await interview_with_files(h, [big])
    assert "`dump.txt`: too large" in h.slack.thread_text("C1", root_ts)
    assert "y" * 100 not in said_to_claude(h)  # not a truncated part either


# --------------------------------------------------------------------------- the token stays with Slack


async def test_external_file_is_not_fetched_and_people_are_told(start_bot, elsewhere):
    h = await start_bot()
    remote = h.slack.add_file("gdrive doc", "roadmap.txt", external_url=f"{elsewhere.url}/roadmap.txt")
    root_ts = await interview_with_files(h, [remote])
    assert elsewhere.requests == []  # not even without the token
    assert "`roadmap.txt`: it's stored outside Slack" in h.slack.thread_text("C1", root_ts)
    text = said_to_claude(h)
    assert "roadmap.txt" in text and "CONTENT FROM ELSEWHERE" not in text


async def test_hosted_file_with_a_foreign_download_url_is_not_fetched(start_bot, elsewhere):
    h = await start_bot()
    odd = h.slack.add_file("notes", "notes.txt", mimetype="text/plain")
    odd["url_private_download"] = f"{elsewhere.url}/notes.txt"
    root_ts = await interview_with_files(h, [odd])
    assert not elsewhere.saw_token and elsewhere.requests == []
    assert "`notes.txt`: its link doesn't point at Slack" in h.slack.thread_text("C1", root_ts)
    assert "CONTENT FROM ELSEWHERE" not in said_to_claude(h)


async def test_download_that_redirects_elsewhere_is_not_followed(start_bot, elsewhere):
    h = await start_bot()
    moved = h.slack.add_file("plan", "plan.md", mimetype="text/markdown", redirect_to=f"{elsewhere.url}/plan.md")
    root_ts = await interview_with_files(h, [moved])
    assert not elsewhere.saw_token and elsewhere.requests == []
    assert "`plan.md`: I couldn't download it" in h.slack.thread_text("C1", root_ts)
    assert "CONTENT FROM ELSEWHERE" not in said_to_claude(h)


# --------------------------------------------------------------------------- names people chose


async def test_hostile_file_names_are_shown_as_typed(start_bot):
    h = await start_bot()
    files = [
        h.slack.add_file("z" * (300 * 2**10), "<!channel>.txt", mimetype="text/plain"),
        h.slack.add_file(b"%PDF", "<https://evil.example|click> `me`.pdf", mimetype="application/pdf"),
    ]
    root_ts = await interview_with_files(h, files)
    posted = h.slack.thread_text("C1", root_ts)
    assert "`&lt;!channel&gt;.txt`: too large" in posted
    assert "`&lt;https://evil.example|click&gt; 'me'.pdf`: I can only pass on images" in posted
    assert "<!channel>" not in posted and "<https://evil" not in posted


# --------------------------------------------------------------------------- the URL rule


API = "http://127.0.0.1:5555/api/"


@pytest.mark.parametrize(
    "url",
    [
        "https://files.slack.com/files-pri/T1-F1/download/a.png",
        "https://FILES.Slack.com/files-pri/T1-F1/download/a.png",
        "https://files.slack-gov.com/files-pri/T1-F1/download/a.png",
        "http://127.0.0.1:5555/files-pri/F1/a.png",  # the configured API's own origin
    ],
)
def test_token_may_go_to_slack(url):
    assert may_send_token(url, origin(API))


@pytest.mark.parametrize(
    "url",
    [
        "http://files.slack.com/files-pri/T1-F1/download/a.png",  # not https
        "https://files.slack.com:8443/a.png",
        "https://files.slack.com.evil.example/a.png",
        "https://files.slack.com@evil.example/a.png",
        "https://evil.example/files.slack.com/a.png",
        "https://docs.google.com/document/d/1",
        "http://127.0.0.1:5556/files-pri/F1/a.png",  # another port
        "https://127.0.0.1:5555/files-pri/F1/a.png",  # another scheme
        "http://localhost:5555/files-pri/F1/a.png",
        "/files-pri/F1/a.png",
        "",
        "not a url",
        "https://xn--/files-pri/F1/a.png",  # a host yarl cannot decode
        "https://files.slack.com:99999/a.png",
    ],
)
def test_token_goes_nowhere_else(url):
    assert not may_send_token(url, origin(API))
    assert not may_send_token(url, None)


def test_without_a_configured_api_only_slack_file_hosts_are_allowed():
    assert may_send_token("https://files.slack.com/x", None)
    assert not may_send_token("http://127.0.0.1:5555/x", None)
    assert origin("https://slack.com/api/") == "https://slack.com"



# --------------------------------------------------------------------------- links that don't parse


@pytest.mark.parametrize(
    "url",
    [
        "https://fïles.slack.com/x",  # an internationalised host name
        "https://xn--/x",  # an A-label that does not decode
        "https://files.slack.com:99999/x",  # a port past 65535
        "http://[::1/x",  # an unclosed IPv6 literal
    ],
)
async def test_a_file_whose_link_does_not_parse_is_refused_and_the_others_still_reach_claude(start_bot, url):
    h = await start_bot()
    good = h.slack.add_file("THE GOOD NOTES\n", "good.txt", mimetype="text/plain")
    odd = h.slack.add_file("THE ODD NOTES\n", "odd.txt", mimetype="text/plain")
    odd["url_private_download"] = url
    root_ts = await interview_with_files(h, [odd, good])
    text = said_to_claude(h)
    assert "THE GOOD NOTES" in text and "THE ODD NOTES" not in text
    assert "`odd.txt`: its link" in h.slack.thread_text("C1", root_ts)
