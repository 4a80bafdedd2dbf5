"""Files people attach in a thread: downloaded with the bot token and turned into
neutral `Attachment`s (images, or text), or a note saying why not. Slack side only.

The bot token goes only to Slack: a file is downloaded only when Slack hosts it
(not an external/remote file), only from its `url_private_download`, only over
https from Slack's file host (or from the configured Slack API's own origin), and
redirects are never followed. Any other file gets a note and is not fetched.

In Slack Connect channels a file can arrive as a stub (`file_access: check_file_info`,
no name, size or URL): its object is asked of `files.info` first (`FileInfo`), then
the same rules apply to what Slack answers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import PurePosixPath
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from yarl import URL

from ..events import Attachment
from ..markup import code
from .scheduler import SchedulerClosed

log = logging.getLogger(__name__)

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
TEXT_SUFFIXES = frozenset(
    ".md .markdown .txt .text .json .yaml .yml .csv .tsv .xml .toml .ini .cfg .env.example .sql "
    ".py .js .jsx .ts .tsx .html .css .scss .sh .rb .go .rs .java .kt .swift .c .h .cpp .cs .php".split()
)
MAX_IMAGE_BYTES = 5 * 2**20  # what the Messages API takes per image
MAX_TEXT_BYTES = 200 * 2**10
# Where Slack serves files it hosts (commercial Slack and GovSlack).
SLACK_FILE_HOSTS = frozenset({"files.slack.com", "files.slack-gov.com"})
_CHUNK = 64 * 2**10
# What a held reply keeps of each Slack file object, so a run that stops while its files
# download leaves the next start able to fetch them again: all `_fetch_one` reads (no token).
FILE_FIELDS = ("id", "name", "mimetype", "size", "url_private_download", "is_external", "mode", "file_access")
# Slack's whole object for a file id (files.info, called with the bot token); raises
# SlackApiError when Slack refuses.
FileInfo = Callable[[str], Awaitable[Mapping[str, Any]]]
# files.info errors meaning the file is gone, and meaning the app may not see it. The
# first two are files.info's own; which error a Slack Connect file the other organisation
# keeps from apps gives is not documented, so the usual access errors are assumed.
_GONE = frozenset({"file_not_found", "file_deleted"})
_DENIED = frozenset({"access_denied", "not_allowed", "not_in_channel", "missing_scope", "no_permission"})


class _TooLarge(Exception):
    pass


def origin(url: str) -> str | None:
    """`scheme://host[:port]` of an absolute http(s) URL (default ports left out), else None."""
    try:
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            return None
        return str(parsed.origin())
    except (ValueError, TypeError):
        return None


def may_send_token(url: str, api_origin: str | None = None) -> bool:
    """Whether the bot token may go to `url`: https on Slack's file host, or exactly
    the origin of the configured Slack API (its token already goes there). A URL
    yarl can't take apart (a host that is no valid IDN, a bad port) gets no token."""
    try:
        parsed = URL(url)
        if not parsed.is_absolute() or parsed.user is not None or parsed.password is not None:
            return False
        if parsed.scheme == "https" and (parsed.host or "").lower() in SLACK_FILE_HOSTS and parsed.port == 443:
            return True
    except (ValueError, TypeError):  # UnicodeError (IDNA) is a ValueError
        return False
    allowed = origin(api_origin) if api_origin is not None else None
    return allowed is not None and origin(url) == allowed


def file_refs(files: list[dict]) -> list[dict]:
    """The parts of Slack's file objects needed to fetch the files again (`FILE_FIELDS`)."""
    return [{key: file[key] for key in FILE_FIELDS if key in file} for file in files]


def needs_lookup(file: dict) -> bool:
    """A Slack Connect stub, or a file Slack hosts that came without its download URL:
    only `files.info` says what it is and where to fetch it."""
    return file.get("file_access") == "check_file_info" or (
        not _is_external(file) and not file.get("url_private_download")
    )


def label(file: dict) -> str:
    """How people are told which file: its name, or for a stub (no name yet) its id."""
    if file.get("name"):
        return code(file["name"])
    file_id = str(file.get("id") or "")
    return "the file shared from another organisation" + (
        f" ({file_id})" if re.fullmatch(r"[A-Z0-9]{1,32}", file_id) else ""
    )


def not_fetched(file: dict) -> str:
    """The note for a file that failed in a way nothing here foresaw."""
    return f"{label(file)}: I couldn't download it (its link didn't work)"


def _kind(file: dict) -> str | None:
    mime = str(file.get("mimetype") or "")
    if mime in IMAGE_TYPES:
        return "image"
    suffix = PurePosixPath(str(file.get("name") or "")).suffix.lower()
    if mime.startswith("text/") or suffix in TEXT_SUFFIXES or mime in ("application/json", "application/x-yaml"):
        return "text"
    return None


def _is_external(file: dict) -> bool:
    return bool(file.get("is_external")) or file.get("mode") == "external"


async def _download(http: aiohttp.ClientSession, url: str, token: str, limit: int) -> bytes:
    """The whole body, or `_TooLarge` once it passes `limit` bytes; anything but a
    plain 200 (a redirect, an error, Slack's HTML sign-in page) is a `ClientError`."""
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}, allow_redirects=False) as response:
        # Without access Slack answers 200 with an HTML sign-in page.
        if response.status != 200 or "text/html" in response.headers.get("Content-Type", ""):
            raise aiohttp.ClientError(f"HTTP {response.status} {response.content_type}")
        if (response.content_length or 0) > limit:
            raise _TooLarge
        data = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            data += chunk
            if len(data) > limit:
                raise _TooLarge
        return bytes(data)


async def fetch_attachments(
    files: list[dict], token: str, api_origin: str | None = None, file_info: FileInfo | None = None
) -> tuple[list[Attachment], list[str]]:
    """Download what Claude can read; for every other file, a short reason for people.

    `api_origin` is the origin of the Slack API the bot talks to (see `origin`): besides
    Slack's file host, the only place the token may be sent (tests point it at a fake).
    `file_info` looks up the files that came as stubs (`needs_lookup`).
    One file's failure, whatever it is, costs only that file (and says so); a lookup cut
    off because the bot is stopping (`SchedulerClosed`) is raised, so the reply stays
    held and the next start fetches its files again.
    """
    attachments: list[Attachment] = []
    notes: list[str] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        for file in files:
            try:
                if needs_lookup(file) and file_info is not None:
                    found = await _look_up(file, file_info)
                    got: Attachment | str = found if isinstance(found, str) else await _fetch_one(
                        http, found, token, api_origin
                    )
                else:
                    got = await _fetch_one(http, file, token, api_origin)
            except SchedulerClosed:
                raise
            except Exception:  # a URL or a response nothing above foresaw
                log.exception("could not pass on %r", file.get("name"))
                got = not_fetched(file)
            if isinstance(got, Attachment):
                attachments.append(got)
            else:
                notes.append(got)
    return attachments, notes


async def _look_up(file: dict, file_info: FileInfo) -> dict | str:
    """The stub's whole file object from `files.info`, or the note saying why not."""
    who = label(file)
    try:
        found = await file_info(str(file.get("id") or ""))
    except SlackApiError as exc:
        error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        log.warning("files.info refused %r: %s", file.get("id"), error)
        if error in _GONE:
            return f"{who}: Slack couldn't find it (was it deleted?); attach it again if it's still needed"
        if error in _DENIED:
            return (
                f"{who}: Slack didn't let me read it (the other organisation may not share files "
                "with apps); paste the parts that matter here instead"
            )
        return f"{who}: Slack didn't answer when I asked for it ({code(error)}); attach it again or paste it here"
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("files.info for %r failed: %s", file.get("id"), exc)
        return f"{who}: Slack didn't answer when I asked for it; attach it again or paste it here"
    if not isinstance(found, Mapping) or not found.get("id"):
        log.warning("files.info for %r answered no file", file.get("id"))
        return f"{who}: Slack didn't answer when I asked for it; attach it again or paste it here"
    return {**file, **found}


async def _fetch_one(http: aiohttp.ClientSession, file: dict, token: str, api_origin: str | None) -> Attachment | str:
    """The file as an `Attachment`, or the note saying why not."""
    name = code(file.get("name") or "file")
    kind = _kind(file)
    limit = MAX_IMAGE_BYTES if kind == "image" else MAX_TEXT_BYTES
    too_large = f"{name}: too large (the limit is {limit // 2**10:,} KB for this kind of file)"
    if _is_external(file):  # a Google Doc and the like: its URL is not Slack's
        return f"{name}: it's stored outside Slack, so I can't pass it on"
    if kind is None:
        return f"{name}: I can only pass on images (PNG, JPEG, GIF, WebP) and text files"
    try:
        size = int(file.get("size") or 0)
    except (TypeError, ValueError):
        size = 0
    if size > limit:
        return too_large
    url = file.get("url_private_download")
    if not isinstance(url, str) or not may_send_token(url, api_origin):
        log.warning("not downloading %r: its URL %r is not Slack's file host", file.get("name"), url)
        return f"{name}: its link doesn't point at Slack, so I didn't download it"
    try:
        data = await _download(http, url, token, limit)
    except _TooLarge:
        return too_large
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.warning("could not download %r: %s", file.get("name"), exc)
        return f"{name}: I couldn't download it (does the app have the files:read scope?)"
    if kind == "text":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return f"{name}: not readable as text"
    mime = str(file.get("mimetype")) if kind == "image" else "text/plain"
    return Attachment(str(file.get("name") or "file"), mime, data)
