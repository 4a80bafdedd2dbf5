"""Slack in: each module registers thin handlers that ack, check and hand over."""

from slack_bolt.async_app import AsyncApp

from ..interviews import Interviews
from . import actions, commands, messages


def register_all(app: AsyncApp, interviews: Interviews) -> None:
    commands.register(app, interviews)
    messages.register(app, interviews)
    actions.register(app, interviews)
