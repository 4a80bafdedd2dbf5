"""How the `claude` CLI process is started: with only the environment it needs
and at a lower CPU priority than the bot.

The Agent SDK starts the CLI with the bot's whole environment (`os.environ`
plus `options.env`), which holds the Slack tokens and signing secret. So the SDK
is given a small launcher as `cli_path`: it keeps the variables the CLI needs,
lowers its own priority and `exec`s the real CLI in place (no extra process).
This module is also the launcher's code: keep its imports to the standard library.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

# What the CLI needs: the model's credentials and endpoint (ANTHROPIC_*), its own
# settings (CLAUDE_*, DISABLE_*), the basics of a process, and a proxy or CA if
# the operator configured one. Everything else (SLACK_*, NEWSPEC_*, DATABASE_URL,
# cloud credentials of other tools, …) stays with the bot.
_KEEP = frozenset(
    "PATH HOME USER LOGNAME SHELL LANG LANGUAGE TERM TZ TMPDIR PWD SYSTEMROOT "
    "HTTP_PROXY HTTPS_PROXY NO_PROXY ALL_PROXY http_proxy https_proxy no_proxy all_proxy "
    "SSL_CERT_FILE SSL_CERT_DIR NODE_EXTRA_CA_CERTS".split()
)
_KEEP_PREFIXES = ("LC_", "ANTHROPIC_", "CLAUDE_", "DISABLE_")
# Cloud credentials only when the CLI is set to reach Claude through that cloud.
_PROVIDER_PREFIXES = {
    "CLAUDE_CODE_USE_BEDROCK": ("AWS_",),
    "CLAUDE_CODE_USE_VERTEX": ("GOOGLE_", "CLOUD_ML_", "VERTEX_", "GCLOUD_"),
}
LAUNCHER_NAME = "claude-launcher"


def cli_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of `environ` the CLI may see."""
    prefixes = list(_KEEP_PREFIXES)
    for switch, extra in _PROVIDER_PREFIXES.items():
        if environ.get(switch, "").strip() not in ("", "0", "false"):
            prefixes.extend(extra)
    keep = tuple(prefixes)
    return {name: value for name, value in environ.items() if name in _KEEP or name.startswith(keep)}


def bundled_cli() -> str:
    """The CLI bundled with claude-agent-sdk, else `claude` on PATH."""
    import claude_agent_sdk  # only in the bot, never in the launcher

    bundled = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    if bundled.is_file():
        return str(bundled)
    found = shutil.which("claude")
    if found is None:
        raise FileNotFoundError("no claude CLI: reinstall claude-agent-sdk, or put `claude` on PATH")
    return found


def write_launcher(folder: Path, cli: str, niceness: int) -> Path:
    """Write the launcher script (private to this user) and return its path."""
    from .private import (
        private_folder,  # the bot's side only: the launcher imports nothing
    )

    private_folder(folder)
    package_root = Path(__file__).resolve().parent.parent
    script = folder / LAUNCHER_NAME
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(package_root)!r})\n"
        "from slackbot.cli_process import launch\n"
        f"launch({cli!r}, {niceness!r})\n",
        encoding="utf-8",
    )
    script.chmod(stat.S_IRWXU)
    return script


def launch(cli: str, niceness: int) -> None:
    """The launcher's body: filter the environment, lower priority, become the CLI."""
    if niceness:
        try:
            os.nice(niceness)
        except OSError:
            pass  # not allowed here: run at normal priority rather than not at all
    os.execve(cli, [cli, *sys.argv[1:]], cli_environment(os.environ))
