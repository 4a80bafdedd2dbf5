"""A real PostgreSQL server for the tests, started in a temporary folder.

The server's programs come from Debian's `postgresql` package (`.ci/run` installs it
when missing). PostgreSQL refuses to run as root, so when the tests run as root the
server runs as `nobody`, in a folder handed to that user. Each test gets a database
of its own on the one server of its test worker (`fresh_database`).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

START_TIMEOUT = 30.0
SUPERUSER = "newspec"
# The PostgreSQL database of the test running now (None: it runs on SQLite).
current_database: str | None = None


def server_programs() -> Path | None:
    """The folder holding initdb, postgres and pg_ctl, or None if none is installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_unprivileged() -> tuple[Callable[[], None] | None, int | None, int | None]:
    """How to run a server program: as ourselves, or as `nobody` when we are root."""
    if os.geteuid() != 0:
        return None, None, None
    nobody = pwd.getpwnam("nobody")

    def drop() -> None:
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    return drop, nobody.pw_uid, nobody.pw_gid


class PostgresServer:
    """One server on a random loopback port, trusting local connections (tests only)."""

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable  # fsync as a real server does (benchmarks); tests skip it
        programs = server_programs()
        if programs is None:
            raise RuntimeError("PostgreSQL's server programs are not installed (Debian: apt-get install postgresql)")
        self.programs = programs
        # In /tmp itself, not the test's TMPDIR (private to root): the server's user must reach it.
        self.folder = Path(tempfile.mkdtemp(prefix="newspec-pg-", dir="/tmp"))
        self.port = _free_port()
        self._names = itertools.count(1)
        self._drop, uid, gid = _as_unprivileged()
        if uid is not None and gid is not None:
            os.chown(self.folder, uid, gid)

    def _run(self, *args: str) -> None:
        # A working folder the server's user may read: it refuses to start in ours.
        done = subprocess.run(
            args, capture_output=True, text=True, cwd=self.folder, preexec_fn=self._drop,
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "TZ": "UTC"},
        )
        if done.returncode:
            raise RuntimeError(f"{Path(args[0]).name} failed ({done.returncode}): {done.stderr or done.stdout}")

    def start(self) -> None:
        data = self.folder / "data"
        self._run(
            str(self.programs / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
            "--encoding=UTF8", "--no-sync",
        )
        self.resume()

    def _options(self) -> str:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=300"
        if self.durable:
            return options
        # Durability is not under test: fsync off keeps the suite fast on a shared disk.
        return options + " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"

    def halt(self) -> None:
        """Stop the server as an outage would, keeping its data for `resume`."""
        self._run(str(self.programs / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        self._run(
            str(self.programs / "pg_ctl"), "-D", str(self.folder / "data"), "-l", str(self.folder / "server.log"),
            "-o", self._options(), "-w", "-t", str(int(START_TIMEOUT)), "start",
        )

    def stop(self) -> None:
        try:
            self._run(str(self.programs / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop")
        except RuntimeError:
            pass  # never started, or already gone
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def fresh_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"test_{os.getpid()}_{next(self._names)}_{int(time.time() * 1000) % 100000}"
        self._run(
            str(self.programs / "psql") if (self.programs / "psql").exists() else "psql",
            "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres", "-q",
            "-c", f'CREATE DATABASE "{name}"',
        )
        return self.url(name)


async def query_bot_database(state_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` from the database a test's bot uses (PostgreSQL when the test runs
    on it, else the SQLite file in `state_dir`), read as another reader would: opening the
    store itself would tidy what the bot left."""
    if current_database:
        connection = await asyncpg.connect(current_database)
        try:
            return [tuple(row) for row in await connection.fetch(sql)]
        finally:
            await connection.close()
    with sqlite3.connect(state_dir / "newspec.db") as db:
        return db.execute(sql).fetchall()
