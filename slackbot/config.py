"""One typed settings object, read once from the environment.

Every problem is reported as a `ConfigError` naming the variable and what to
put there, so start-up can print one line and exit 2 instead of a traceback.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Mode = Literal["socket", "http", "chat"]  # chat: the terminal, no Slack at all

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
REPO_ROOT = Path(__file__).resolve().parent.parent
_SLACK_ID = re.compile(r"[A-Z][A-Z0-9]+")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_WHOLE = re.compile(r"[0-9]+")  # ASCII digits only: str.isdigit() also takes "²"
_POSITIVE = re.compile(r"0*[1-9][0-9]*")


# One live `claude` CLI process costs ~200-250 MiB; by default keep their total
# under half of this machine's memory.
CLI_PROCESS_BYTES = 250 * 2**20


def default_max_live_sessions() -> int:
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8
    return max(1, memory // 2 // CLI_PROCESS_BYTES)


def _whole_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line for the operator."""

    def __init__(self, variable: str, advice: str) -> None:
        super().__init__(f"{variable}: {advice}")
        self.variable = variable


def _database_url(url: str | None, generations: str | None) -> str | None:
    """NEWSPEC_DATABASE_URL (None: SQLite under NEWSPEC_STATE_DIR), checked with what replicas must share.

    Replicas on one database each answer any thread, so each must see every project folder:
    GENERATIONS_DIR has to be named (./generations would be each replica's own) and already be
    a writable folder (the shared volume is mounted, not made). The URL is never echoed: it holds a password.
    """
    if url is None:
        return None
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            "NEWSPEC_DATABASE_URL",
            "must be a PostgreSQL URL like postgresql://user:password@host:5432/newspec "
            "(or unset, for SQLite under NEWSPEC_STATE_DIR)",
        )
    why = "with NEWSPEC_DATABASE_URL every replica must see the same project folders, so put it on shared storage"
    if generations is None:
        raise ConfigError("GENERATIONS_DIR", f"missing; {why} and set it on every replica")
    folder = Path(generations).resolve()
    if not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)):
        raise ConfigError("GENERATIONS_DIR", f"{folder} is not a writable folder; {why} (mounted, writable)")
    return url


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str
    slack_app_token: str | None
    slack_signing_secret: str | None
    slack_api_url: str
    generations_dir: Path
    state_dir: Path
    skill_dir: Path
    claude_model: str
    log_level: str
    idle_seconds: float = 600.0
    max_live_sessions: int = 8
    turn_timeout_seconds: float = 600.0
    shutdown_grace_seconds: float = 30.0
    thread_owner_only: bool = False
    allowed_users: frozenset[str] = frozenset()  # empty: everyone
    # Replicas on one database: one is taken for dead once its heartbeat is this old.
    replica_timeout_seconds: float = 15.0
    allowed_channels: frozenset[str] = frozenset()  # empty: every channel
    rate_limits: tuple[tuple[str, int], ...] = ()  # per-minute budgets overriding Slack's tiers
    max_turns: int = 200
    # The claude CLI runs at the lowest priority: its work is throughput (starting, waiting on the
    # model), the bot's is latency (acks, relaying). At 10, 50 CLIs starting took the bot's CPU often
    # enough to put ack p99 at 63-94 ms; at 19 it was 20 ms (BENCHMARKS.md, run 13).
    cli_niceness: int = 19
    transcript_retention_days: float = 30.0  # then an idle interview's transcript is deleted
    messages_per_minute: int = 20  # per person: more are not passed on to Claude
    starts_per_hour: int = 10  # `/newspec <name>` per person
    # Spend limits (None: no limit). Checked before each model call (see budget.py).
    max_cost_per_interview: float | None = None  # USD over a whole interview
    max_cost_per_user_day: float | None = None  # USD per person per UTC day
    max_cost_per_day: float | None = None  # USD for the whole workspace per UTC day
    max_turns_per_interview: int | None = None  # model turns over a whole interview
    admins: frozenset[str] = frozenset()  # see everyone's spend and set budgets, besides workspace admins
    quick_model: str | None = None  # the model for interviews in quick mode (None: claude_model)
    # Seconds Slack keeps a native stream open (about five minutes, see relay/support.py):
    # a stream is stopped before then and its answer goes on in a new one.
    stream_lifetime_seconds: float = 300.0
    reminder_after_seconds: float = 86_400.0  # an open question gets one reminder after this long
    # PostgreSQL, shared by replicas (None: SQLite under state_dir). Out of repr: it holds a password.
    database_url: str | None = field(default=None, repr=False)

    @property
    def skill_file(self) -> Path:
        return self.skill_dir / "commands" / "create-spec.md"

    @property
    def templates_dir(self) -> Path:
        return self.skill_dir / "templates"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, mode: Mode = "socket") -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        bot_token = get("SLACK_BOT_TOKEN") or ""
        if mode != "chat" and not bot_token:  # the terminal needs no Slack
            raise ConfigError(
                "SLACK_BOT_TOKEN",
                "missing; set it to the app's Bot User OAuth Token (starts with xoxb-), "
                "found under OAuth & Permissions",
            )
        if bot_token and not bot_token.startswith("xoxb-"):
            raise ConfigError("SLACK_BOT_TOKEN", "must be a bot token starting with xoxb-")

        app_token = get("SLACK_APP_TOKEN")
        signing_secret = get("SLACK_SIGNING_SECRET")
        if mode == "socket":
            if app_token is None:
                raise ConfigError(
                    "SLACK_APP_TOKEN",
                    "missing; Socket Mode needs an app-level token with connections:write "
                    "(starts with xapp-, under Basic Information), or run with --http",
                )
            if not app_token.startswith("xapp-"):
                raise ConfigError("SLACK_APP_TOKEN", "must be an app-level token starting with xapp-")
        elif mode == "http" and signing_secret is None:
            raise ConfigError(
                "SLACK_SIGNING_SECRET",
                "missing; HTTP mode needs the app's Signing Secret (under Basic Information)",
            )

        api_url = get("SLACK_API_URL") or DEFAULT_SLACK_API_URL
        if not api_url.startswith(("http://", "https://")):
            raise ConfigError("SLACK_API_URL", "must be an http(s) URL such as https://slack.com/api/")
        # slack_sdk joins method names onto the base URL, so the slash matters.
        if not api_url.endswith("/"):
            api_url += "/"

        skill_dir = Path(get("NEWSPEC_SKILL_DIR") or REPO_ROOT / ".claude").resolve()
        if not (skill_dir / "commands" / "create-spec.md").is_file():
            raise ConfigError(
                "NEWSPEC_SKILL_DIR",
                f"no commands/create-spec.md under {skill_dir}; point it at the repo's .claude folder",
            )

        log_level = (get("LOG_LEVEL") or "INFO").upper()
        if log_level not in _LOG_LEVELS:
            raise ConfigError("LOG_LEVEL", f"must be one of {', '.join(_LOG_LEVELS)}")

        def number(name: str, default: float, what: str, *, whole: bool = False, scale: float = 1) -> float:
            """A positive, finite setting (times `scale`): nan, inf or 0 would stall or divide by zero."""
            raw = get(name)
            if raw is None:
                return default * scale
            try:
                value = (int(raw) if _WHOLE.fullmatch(raw) else 0) if whole else float(raw) * scale
            except ValueError:
                value = 0
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(name, f"must be a positive {'whole ' if whole else ''}number ({what})")
            return value

        def limit(name: str, what: str, *, whole: bool = False) -> float | None:
            """An optional spend limit: unset means none; else a positive, finite number."""
            if get(name) is None:
                return None
            return number(name, 0, what, whole=whole)

        def ids(name: str, example: str) -> frozenset[str]:
            values = frozenset(v.strip() for v in (get(name) or "").split(",") if v.strip())
            bad = sorted(v for v in values if not _SLACK_ID.fullmatch(v))
            if bad:
                raise ConfigError(name, f"must be comma-separated Slack ids like {example}, not {bad[0]!r}")
            return values

        rate_limits: list[tuple[str, int]] = []
        for part in (get("NEWSPEC_RATE_LIMITS") or "").split(","):
            if not part.strip():
                continue
            method, _, count = part.partition("=")
            # A budget of 0 would divide by zero in the scheduler and stop every write.
            if not re.fullmatch(r"[a-z]+\.[A-Za-z0-9.]+", method.strip()) or not _POSITIVE.fullmatch(count.strip()):
                raise ConfigError(
                    "NEWSPEC_RATE_LIMITS",
                    f"must be positive whole calls per minute like chat.update=50,chat.startStream=20, "
                    f"not {part.strip()!r}",
                )
            rate_limits.append((method.strip(), int(count)))

        owner_only = (get("NEWSPEC_THREAD_OWNER_ONLY") or "0").lower()
        if owner_only not in ("0", "1", "true", "false", "yes", "no"):
            raise ConfigError("NEWSPEC_THREAD_OWNER_ONLY", "must be 1 (only the starter answers) or 0")

        raw_nice = get("NEWSPEC_CLI_NICE")
        if raw_nice is not None and not (_WHOLE.fullmatch(raw_nice) and int(raw_nice) <= 19):
            raise ConfigError("NEWSPEC_CLI_NICE", "must be a whole number from 0 (same priority as the bot) to 19")

        return cls(
            database_url=_database_url(get("NEWSPEC_DATABASE_URL"), get("GENERATIONS_DIR")),
            cli_niceness=19 if raw_nice is None else int(raw_nice),
            transcript_retention_days=number(
                "NEWSPEC_TRANSCRIPT_DAYS", 30, "days an idle interview's Claude transcript is kept"
            ),
            messages_per_minute=int(
                number("NEWSPEC_MESSAGES_PER_MINUTE", 20, "messages one person may send a minute", whole=True)
            ),
            starts_per_hour=int(
                number("NEWSPEC_STARTS_PER_HOUR", 10, "interviews one person may start an hour", whole=True)
            ),
            max_cost_per_interview=limit("NEWSPEC_MAX_COST_PER_INTERVIEW", "US dollars one interview may spend"),
            max_cost_per_user_day=limit("NEWSPEC_MAX_COST_PER_USER_DAY", "US dollars one person may spend a UTC day"),
            max_cost_per_day=limit("NEWSPEC_MAX_COST_PER_DAY", "US dollars the workspace may spend a UTC day"),
            max_turns_per_interview=_whole_or_none(
                limit("NEWSPEC_MAX_TURNS_PER_INTERVIEW", "model turns one interview may take", whole=True)
            ),
            admins=ids("NEWSPEC_ADMINS", "U012AB3CD"),
            quick_model=get("NEWSPEC_QUICK_MODEL"),
            thread_owner_only=owner_only in ("1", "true", "yes"),
            rate_limits=tuple(rate_limits),
            allowed_users=ids("NEWSPEC_ALLOWED_USERS", "U012AB3CD"),
            allowed_channels=ids("NEWSPEC_ALLOWED_CHANNELS", "C012AB3CD"),
            idle_seconds=number("NEWSPEC_IDLE_MINUTES", 10, "minutes; fractions allowed", scale=60),
            max_live_sessions=int(
                number("NEWSPEC_MAX_LIVE_SESSIONS", default_max_live_sessions(), "CLI processes", whole=True)
            ),
            turn_timeout_seconds=number("NEWSPEC_TURN_TIMEOUT", 10, "minutes; fractions allowed", scale=60),
            shutdown_grace_seconds=number("NEWSPEC_SHUTDOWN_GRACE", 30, "seconds"),
            stream_lifetime_seconds=number(
                "NEWSPEC_STREAM_LIFETIME", 300, "seconds Slack keeps a stream open; about 300"
            ),
            reminder_after_seconds=number(
                "NEWSPEC_REMINDER_AFTER", 86_400, "seconds an open question waits before one reminder"
            ),
            slack_bot_token=bot_token,
            slack_app_token=app_token,
            slack_signing_secret=signing_secret,
            slack_api_url=api_url,
            generations_dir=Path(get("GENERATIONS_DIR") or "generations").resolve(),
            state_dir=Path(get("NEWSPEC_STATE_DIR") or ".newspec").resolve(),
            replica_timeout_seconds=number(
                "NEWSPEC_REPLICA_TIMEOUT", 15, "seconds without a heartbeat before a replica's threads go to others"
            ),
            skill_dir=skill_dir,
            claude_model=get("CLAUDE_MODEL") or "opus",
            log_level=log_level,
        )

    def refusal(self, user: str | None, channel: str | None) -> str | None:
        """Why this user may not use the bot here (one sentence), or None if they may."""
        if self.allowed_channels and channel not in self.allowed_channels:
            return "I'm not enabled in this channel. Ask a workspace admin to add it, or try another channel."
        if self.allowed_users and user not in self.allowed_users:
            return "You're not on newspec's list of users. Ask a workspace admin to add you."
        return None

    def configure_logging(self) -> None:
        logging.basicConfig(
            level=self.log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
