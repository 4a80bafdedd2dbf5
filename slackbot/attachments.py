"""Files people attach in a thread: downloaded with the bot token and turned into
neutral `Attachment`s (images, or text), or a note saying why not. Slack side only."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath

import aiohttp

from .events import Attachment

log = logging.getLogger(__name__)

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
TEXT_SUFFIXES = frozenset(
    ".md .markdown .txt .text .json .yaml .yml .csv .tsv .xml .toml .ini .cfg .env.example .sql "
    ".py .js .jsx .ts .tsx .html .css .scss .sh .rb .go .rs .java .kt .swift .c .h .cpp .cs .php".split()
)
MAX_IMAGE_BYTES = 5 * 2**20  # what the Messages API takes per image
MAX_TEXT_BYTES = 200 * 2**10


def _kind(file: dict) -> str | None:
    mime = str(file.get("mimetype") or "")
    if mime in IMAGE_TYPES:
        return "image"
    suffix = PurePosixPath(str(file.get("name") or "")).suffix.lower()
    if mime.startswith("text/") or suffix in TEXT_SUFFIXES or mime in ("application/json", "application/x-yaml"):
        return "text"
    return None


async def fetch_attachments(files: list[dict], token: str) -> tuple[list[Attachment], list[str]]:
    """Download what Claude can read; for every other file, a short reason for people."""
    attachments: list[Attachment] = []
    notes: list[str] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        for file in files:
            name = str(file.get("name") or "file")
            kind = _kind(file)
            limit = MAX_IMAGE_BYTES if kind == "image" else MAX_TEXT_BYTES
            if kind is None:
                notes.append(f"`{name}`: I can only pass on images (PNG, JPEG, GIF, WebP) and text files")
                continue
            if int(file.get("size") or 0) > limit:
                notes.append(f"`{name}`: too large (the limit is {limit // 2**10:,} KB for this kind of file)")
                continue
            url = file.get("url_private_download") or file.get("url_private")
            try:
                async with http.get(str(url), headers={"Authorization": f"Bearer {token}"}) as response:
                    data = await response.content.read(limit + 1)
                    # Without access Slack answers 200 with an HTML sign-in page.
                    if response.status != 200 or "text/html" in response.headers.get("Content-Type", ""):
                        raise aiohttp.ClientError(f"HTTP {response.status} {response.content_type}")
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning("could not download %s: %s", name, exc)
                notes.append(f"`{name}`: I couldn't download it (does the app have the files:read scope?)")
                continue
            if len(data) > limit:
                notes.append(f"`{name}`: too large (the limit is {limit // 2**10:,} KB for this kind of file)")
                continue
            mime = str(file.get("mimetype")) if kind == "image" else "text/plain"
            if kind == "text":
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError:
                    notes.append(f"`{name}`: not readable as text")
                    continue
            attachments.append(Attachment(name, mime, data))
    return attachments, notes
