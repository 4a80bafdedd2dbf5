"""A benchmark and testing seam: what a session talks to instead of the `claude` CLI.

`NEWSPEC_CLAUDE_TRANSPORT=package.module:factory` names a callable that takes the SDK
options a session would start its CLI with and returns an Agent SDK `Transport`; the
session then speaks the SDK's protocol to that instead of starting a process. Unset (as
in production) the SDK starts the CLI. benchmarks/standin.py is the one such factory:
a scripted CLI in the bot's own process, so a load run measures the bot apart from the CLI.
Not an operator setting, so it is read here rather than in `Settings`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping

from claude_agent_sdk import ClaudeAgentOptions
from claude_agent_sdk._internal.transport import Transport

TRANSPORT_VAR = "NEWSPEC_CLAUDE_TRANSPORT"

TransportFactory = Callable[[ClaudeAgentOptions], Transport]


def transport_factory(env: Mapping[str, str] | None = None) -> TransportFactory | None:
    """The factory NEWSPEC_CLAUDE_TRANSPORT names, or None (start the CLI)."""
    spec = (os.environ if env is None else env).get(TRANSPORT_VAR, "").strip()
    if not spec:
        return None
    module, _, name = spec.partition(":")
    factory = getattr(importlib.import_module(module), name or "make_transport", None)
    if not callable(factory):
        raise ValueError(f"{TRANSPORT_VAR}={spec!r} does not name a callable (module:function)")
    return factory
