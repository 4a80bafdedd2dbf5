"""HTTP mode and slow clients: a request's head and body must arrive in time, and a flood of
slow connections can neither use up the bot's file descriptors nor lock out /healthz or Slack.

Clients here are raw sockets on 127.0.0.1, so they can be as slow as an attacker."""

from __future__ import annotations

import asyncio
import re
import shlex
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import aiohttp
import pytest

from slackbot.app import Bot
from slackbot.config import Settings
from slackbot.slack.http_mode import HttpLimits
from tests.conftest import FAST_LIMITS, bot_env, process_env
from tests.fakes import anthropic as fa
from tests.fakes.slack import FakeSlack, form_body, signed_headers

SECRET = "test-signing-secret"
# A request head that never ends: no blank line after the headers.
PARTIAL_HEAD = b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
# Generous: how long a test waits for the server to do something it should do at once.
SLACK_TIME = 5.0

Started = tuple[FakeSlack, int, Settings]


@pytest.fixture
async def start_http(model: fa.FakeAnthropic, tmp_path) -> AsyncIterator[Callable[[HttpLimits], Awaitable[Started]]]:
    """Start the bot in HTTP mode with the given limits; returns (fake Slack, port, settings)."""
    async with AsyncExitStack() as stack:

        async def start(limits: HttpLimits) -> Started:
            slack = await stack.enter_async_context(FakeSlack())
            env = {**bot_env(slack, tmp_path), "SLACK_SIGNING_SECRET": SECRET}
            settings = Settings.from_env(env, mode="http")
            bot = Bot(settings, min_interval=0.05, rate_limits=FAST_LIMITS)
            port = await bot.start_http("127.0.0.1", 0, limits)
            stack.push_async_callback(bot.stop)
            return slack, port, settings

        yield start
GREETING_WAIT = 60.0  # seconds for a first CLI start to greet (a wait, not a timing threshold)


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _until_closed(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection (TimeoutError if it does not)."""
    try:
        return await asyncio.wait_for(reader.read(), timeout)
    except ConnectionResetError:
        return b""


async def _trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes, pause: float) -> None:
    """Send `data` a byte at a time, `pause` seconds apart, until it is sent or the server hangs up."""
    try:
        for byte in data:
            if reader.at_eof() or writer.is_closing():
                return
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(pause)
    except ConnectionError:
        pass


def _raw_post(body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"{name}: {value}" for name, value in {**headers, "Content-Length": str(len(body))}.items()]
    return ("POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode()


async def _start_interview(slack: FakeSlack, model: fa.FakeAnthropic, port: int, settings: Settings, name: str) -> None:
    """A signed /newspec command on a fresh connection, answered and started as usual."""
    model.script(str(settings.generations_dir / name), [fa.text(f"Hello {name}.")])
    body = form_body(slack.slash_command_payload(name))
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as client,
        client.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=signed_headers(SECRET, body)) as resp,
    ):
        assert resp.status == 200
    root = await slack.wait_for(lambda: next((m for m in slack.messages if f"*{name}*" in m.text), None))
    # A first CLI start: under a loaded machine it has taken more than 10 s.
    await slack.wait_for(
        lambda: f"Hello {name}." in slack.thread_text("C1", root.ts), timeout=GREETING_WAIT, what=f"{name}'s greeting"
    )


async def _healthz(port: int) -> int:
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as client,
        client.get(f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(total=SLACK_TIME)) as resp,
    ):
        return resp.status


# -- the head --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["silent", "trickling", "trickling-after-a-request"])
async def test_a_request_head_that_does_not_arrive_in_time_is_cut_off(start_http, how):
    _, port, _ = await start_http(HttpLimits(head_timeout=0.5))
    reader, writer = await _connect(port)
    if how == "trickling-after-a-request":  # on a kept-alive connection the deadline starts again
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (await reader.readuntil(b'{"ok": true}')).startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    head = b"" if how == "silent" else PARTIAL_HEAD + b"X-Pad: " + b"a" * 2000
    trickle = asyncio.create_task(_trickle(reader, writer, head, 0.05))  # a byte every 50 ms: over a minute
    assert await _until_closed(reader, 0.5 + SLACK_TIME) == b""  # cut off, nothing answered
    assert time.monotonic() - started >= 0.5  # ... not before the deadline
    await trickle  # stops when the server hangs up
    writer.close()


# -- the body --------------------------------------------------------------------------------------------------


async def test_a_body_that_does_not_arrive_in_time_is_cut_off_and_never_reaches_bolt(start_http, model):
    slack, port, settings = await start_http(HttpLimits(body_timeout=0.5))
    body = form_body(slack.slash_command_payload("shop")).encode()
    reader, writer = await _connect(port)
    writer.write(_raw_post(body, signed_headers(SECRET, body)) + body[:10])
    # The rest over about 2 s: it would arrive whole, signed and valid, well after the deadline.
    trickle = asyncio.create_task(_trickle(reader, writer, body[10:], 2.0 / len(body)))
    status = await asyncio.wait_for(reader.readuntil(b"\r\n"), 0.5 + SLACK_TIME)
    assert status.startswith(b"HTTP/1.1 408"), status
    await _until_closed(reader, SLACK_TIME)  # and hung up
    await trickle
    writer.close()
    # A request after it goes through; by then the cut-off one would have started its interview too.
    await _start_interview(slack, model, port, settings, "cafe")
    assert not any("*shop*" in m.text for m in slack.messages)
    assert not (settings.generations_dir / "shop").exists()


# -- many connections ------------------------------------------------------------------------------------------


async def test_a_flood_of_slow_connections_cannot_lock_out_healthz_or_slack(start_http, model):
    # A long head timeout: the flood is not simply waited out here.
    slack, port, settings = await start_http(HttpLimits(max_connections=20, head_timeout=60))
    flood = [await _connect(port) for _ in range(60)]
    for _, writer in flood:
        writer.write(PARTIAL_HEAD)
    closed = [asyncio.create_task(_until_closed(reader, 60)) for reader, _ in flood]
    try:
        assert await _healthz(port) == 200
        await _start_interview(slack, model, port, settings, "shop")
        # The server keeps at most 20 connections: it has closed at least 40 of the 60.
        await slack.wait_for(lambda: sum(task.done() for task in closed) >= 40, what="the flood cut down")
    finally:
        for task in closed:
            task.cancel()
        for _, writer in flood:
            writer.close()


async def test_a_request_under_way_is_not_cut_off_by_new_connections(start_http, model):
    """Past the cap, the connections closed are those still sending a head; one whose request is
    being read or handled is kept, and while every connection is in a request, new ones are refused."""
    slack, port, settings = await start_http(HttpLimits(max_connections=2, body_timeout=3))
    model.script(str(settings.generations_dir / "shop"), [fa.text("Hello shop.")])
    body = form_body(slack.slash_command_payload("shop")).encode()
    slow_reader, slow_writer = await _connect(port)  # a real request, its body still coming
    slow_writer.write(_raw_post(body, signed_headers(SECRET, body)) + body[:10])
    stuck_reader, stuck_writer = await _connect(port)  # a body that never comes
    stuck_writer.write(_raw_post(b"{}", signed_headers(SECRET, b"{}")))
    await asyncio.sleep(0.2)  # both heads in: both connections are in a request
    for _ in range(5):
        reader, writer = await _connect(port)
        assert await _until_closed(reader, SLACK_TIME) == b""  # refused: every connection is busy
        writer.close()
    slow_writer.write(body[10:])
    assert (await slow_reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200")
    root = await slack.wait_for(lambda: next((m for m in slack.messages if "*shop*" in m.text), None))
    await slack.wait_for(
        lambda: "Hello shop." in slack.thread_text("C1", root.ts), timeout=GREETING_WAIT, what="the greeting"
    )
    assert (await _until_closed(stuck_reader, 3 + SLACK_TIME)).startswith(b"HTTP/1.1 408")
    assert await _healthz(port) == 200  # slots free again
    slow_writer.close()
    stuck_writer.close()


async def test_slow_connections_cannot_use_up_the_file_descriptors(model, tmp_path):
    """The bot as an operator runs it, on a host with a low open-files limit: a flood of
    slow connections past that limit must not stop it accepting /healthz."""
    async with FakeSlack() as slack:
        env = process_env(**bot_env(slack, tmp_path), SLACK_SIGNING_SECRET=SECRET)
        bot = f"{shlex.quote(sys.executable)} -m slackbot --http --host 127.0.0.1 --port 0"
        process = await asyncio.create_subprocess_exec(
            "sh", "-c", f"ulimit -n 128 && exec {bot}", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stderr is not None
        flood: list[asyncio.StreamWriter] = []
        try:
            port = await asyncio.wait_for(_bound_port(process.stderr), 30)
            drain = asyncio.create_task(process.stderr.read())  # keep reading, so logging never blocks
            for _ in range(200):
                _, writer = await _connect(port)
                writer.write(PARTIAL_HEAD)
                flood.append(writer)
            # Then a burst while the bot is busy (stopped here): with the cap full, it accepts
            # all that queued at once, before the cap can close any.
            process.send_signal(signal.SIGSTOP)
            connecting = asyncio.gather(*(_connect(port) for _ in range(120)))
            await asyncio.sleep(0.5)
            process.send_signal(signal.SIGCONT)
            for _, writer in await asyncio.wait_for(connecting, 30):
                writer.write(PARTIAL_HEAD)
                flood.append(writer)
            assert await _healthz(port) == 200
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)
            logged = await drain
            # accept() never ran out of descriptors, not even for a moment (asyncio logs it).
            trouble = [line for line in logged.decode().splitlines() if "Error" in line or "resource" in line]
            assert b"Traceback" not in logged and b"out of system resource" not in logged, trouble
        finally:
            for writer in flood:
                writer.close()
            if process.returncode is None:
                process.kill()
                await process.wait()


async def _bound_port(stderr: asyncio.StreamReader) -> int:
    while line := await stderr.readline():
        if found := re.search(rb"serving Slack requests on http://127\.0\.0\.1:(\d+)/", line):
            return int(found.group(1))
    raise AssertionError("the bot stopped before serving")
