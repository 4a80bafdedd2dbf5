"""Harness-side launcher for the peer bot (djkelleher/slack-claude-code) in benchmarks/peer.py.

Run by the PEER's interpreter (its own venv, where its package `src` is installed),
never by ours:

    /tmp/peer-venv/bin/python -P benchmarks/peer_launcher.py

The peer builds `AsyncApp(token=...)` with no base URL and has no setting for one,
and slack_sdk reads none from the environment. This shim, which is ours and not the
peer's code, makes every slack_sdk web client (Bolt's app client, the per-request
clients Bolt derives from it, and the Socket Mode client's) default to the URL in
PEER_SLACK_API_URL, i.e. our fake Slack. A client given an explicit other base URL
keeps it. Nothing else in the peer is touched: then it starts as its `cs` entry
point does.
"""

import functools
import os

from slack_sdk.web.async_base_client import AsyncBaseClient

FAKE_API_URL = os.environ["PEER_SLACK_API_URL"]
_original_init = AsyncBaseClient.__init__


@functools.wraps(_original_init)
def _init(self, *args, **kwargs):
    if len(args) < 2 and kwargs.get("base_url", AsyncBaseClient.BASE_URL) == AsyncBaseClient.BASE_URL:
        kwargs["base_url"] = FAKE_API_URL
    _original_init(self, *args, **kwargs)


AsyncBaseClient.__init__ = _init

if __name__ == "__main__":
    from src.app import run  # the peer's entry point (`cs = "src.app:run"`)

    run()
