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

# What the CLI needs: the model's credentials and endpoint, its own settings, the
# basics of a process, and a proxy or CA if the operator configured one. Everything
# else (SLACK_*, NEWSPEC_*, DATABASE_URL, cloud credentials of other tools, …) stays
# with the bot. Under the CLI's own prefixes only names it documents pass (plus those
# the SDK sets): an operator's CLAUDE_SLACK_WEBHOOK or ANTHROPIC_ADMIN_KEY is not the CLI's.
_KEEP = frozenset(
    "PATH HOME USER LOGNAME SHELL LANG LANGUAGE TERM TZ TMPDIR PWD SYSTEMROOT "
    "HTTP_PROXY HTTPS_PROXY NO_PROXY ALL_PROXY http_proxy https_proxy no_proxy all_proxy "
    "SSL_CERT_FILE SSL_CERT_DIR NODE_EXTRA_CA_CERTS".split()
)
_CLI_DOCUMENTED = frozenset(
    # The model: credentials, endpoint and model choice.
    "ANTHROPIC_API_KEY ANTHROPIC_AUTH_TOKEN ANTHROPIC_BASE_URL ANTHROPIC_BETAS ANTHROPIC_CUSTOM_HEADERS "
    "ANTHROPIC_MODEL ANTHROPIC_SMALL_FAST_MODEL ANTHROPIC_SMALL_FAST_MODEL_AWS_REGION "
    "ANTHROPIC_DEFAULT_HAIKU_MODEL ANTHROPIC_DEFAULT_OPUS_MODEL ANTHROPIC_DEFAULT_SONNET_MODEL "
    "ANTHROPIC_BEDROCK_BASE_URL ANTHROPIC_VERTEX_BASE_URL ANTHROPIC_VERTEX_PROJECT_ID "
    "ANTHROPIC_FOUNDRY_API_KEY ANTHROPIC_FOUNDRY_BASE_URL ANTHROPIC_FOUNDRY_RESOURCE ANTHROPIC_LOG "
    "CLAUDE_CODE_OAUTH_TOKEN CLAUDE_CODE_API_KEY_HELPER_TTL_MS "
    "CLAUDE_CODE_USE_BEDROCK CLAUDE_CODE_USE_VERTEX CLAUDE_CODE_USE_FOUNDRY "
    "CLAUDE_CODE_SKIP_BEDROCK_AUTH CLAUDE_CODE_SKIP_VERTEX_AUTH CLAUDE_CODE_SKIP_FOUNDRY_AUTH "
    "CLAUDE_CODE_CLIENT_CERT CLAUDE_CODE_CLIENT_KEY CLAUDE_CODE_CLIENT_KEY_PASSPHRASE "
    "CLAUDE_CODE_PROXY_RESOLVES_HOSTS "
    # How it runs.
    "CLAUDE_CONFIG_DIR CLAUDE_CODE_TMPDIR CLAUDE_CODE_MAX_RETRIES CLAUDE_CODE_MAX_OUTPUT_TOKENS "
    "CLAUDE_CODE_FILE_READ_MAX_OUTPUT_TOKENS CLAUDE_CODE_EFFORT_LEVEL CLAUDE_CODE_SUBAGENT_MODEL "
    "CLAUDE_AUTOCOMPACT_PCT_OVERRIDE CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC CLAUDE_CODE_DISABLE_AUTO_MEMORY "
    "CLAUDE_CODE_DISABLE_BACKGROUND_TASKS CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS CLAUDE_CODE_DISABLE_TERMINAL_TITLE "
    "CLAUDE_CODE_ENABLE_TELEMETRY DISABLE_AUTOUPDATER DISABLE_BUG_COMMAND DISABLE_COST_WARNINGS "
    "DISABLE_ERROR_REPORTING DISABLE_TELEMETRY DISABLE_PROMPT_CACHING DISABLE_PROMPT_CACHING_HAIKU "
    "DISABLE_PROMPT_CACHING_SONNET DISABLE_PROMPT_CACHING_OPUS DISABLE_INTERLEAVED_THINKING "
    "DISABLE_AUTO_COMPACT DISABLE_COMPACT "
    # Set by the Agent SDK itself when it starts the CLI.
    "CLAUDE_CODE_ENTRYPOINT CLAUDE_AGENT_SDK_VERSION CLAUDE_AGENT_SDK_CLIENT_APP "
    "CLAUDE_AGENT_SDK_DERIVED_CLIENT_APP CLAUDE_CODE_SDK_READS_SESSION_STATE "
    "CLAUDE_CODE_ENABLE_SDK_FILE_CHECKPOINTING".split()
)
_KEEP_PREFIXES = ("LC_",)
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
    return {
        name: value for name, value in environ.items()
        if name in _KEEP or name in _CLI_DOCUMENTED or name.startswith(keep)
    }


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
    from ..store.private import private_folder

    private_folder(folder)
    package_parent = Path(__file__).resolve().parents[2]  # the folder holding `slackbot`
    script = folder / LAUNCHER_NAME
    # It lowers its priority first: 50 launchers at once at the bot's priority took CPU
    # from its acks. -I -S: no site-packages scan, .pth files or PYTHON* variables, only
    # the standard library and this module (about 10 ms, not 30).
    script.write_text(
        f"#!{sys.executable} -IS\n"
        "import os\n"
        "try:\n"
        f"    os.nice({niceness!r})\n"
        "except OSError:\n"
        "    pass  # not allowed here: run at normal priority rather than not at all\n"
        "import sys\n"
        f"sys.path.insert(0, {str(package_parent)!r})\n"
        "from slackbot.claude.cli_process import launch\n"
        f"launch({cli!r})\n",
        encoding="utf-8",
    )
    script.chmod(stat.S_IRWXU)
    return script


def launch(cli: str) -> None:
    """The launcher's body (its priority already lowered): filter the environment, become the CLI."""
    os.execve(cli, [cli, *sys.argv[1:]], cli_environment(os.environ))
