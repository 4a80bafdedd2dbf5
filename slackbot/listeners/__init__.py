"""Slack in: each module registers thin handlers that ack, check and hand over."""

from slack_bolt.async_app import AsyncApp

from ..interviews import Interviews
from ..people import DisplayNames
from . import actions, commands, messages


def register_all(app: AsyncApp, interviews: Interviews) -> None:
    names = DisplayNames(app.client)  # one cache for every listener
    commands.register(app, interviews)
    messages.register(app, interviews, names)
    actions.register(app, interviews, names)
