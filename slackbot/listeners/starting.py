"""Opening an interview thread: shared by the /newspec command and the buttons."""

from __future__ import annotations

import asyncio
import logging

from slack_bolt.async_app import AsyncRespond
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from ..interview.opening import post_thread
from ..interview.registry import Interviews
from ..slack.relay import SLACK_ERRORS
from ..slack.scheduler import SchedulerClosed
from ..store import InterviewRecord

log = logging.getLogger(__name__)

NOT_IN_CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found"})


async def open_interview(
    client: AsyncWebClient,
    respond: AsyncRespond,
    interviews: Interviews,
    *,
    name: str,
    channel: str,
    user: str,
    team_id: str | None,
    opening: str | None = None,
) -> bool:
    """Claim the name, post the thread's root message and start the session. If any step
    after the claim fails, the name is free again at once, a root already posted is taken
    down, and the user is told privately what went wrong."""
    claim, claimed = await interviews.claim(name, channel, user, team_id)
    if not claimed:  # someone else started it a moment ago
        link = await thread_link(client, claim)
        await respond(f"*{name}* already has an interview: {link}. Carry on in that thread.")
        return False
    posted: list[str] = []  # what this start has put in the channel: the root, then any note
    try:
        await interviews.start(
            claim, await post_thread(interviews.scheduler, interviews.settings.generations_dir, claim, posted), opening
        )
    except BaseException as exc:
        # Whatever failed, the name must not stay claimed until a restart.
        await _release(interviews, claim, posted[0] if posted else None)
        if not isinstance(exc, Exception):  # cancelled: the bot is stopping; nothing more to do
            raise
        await _report(interviews, respond, exc, name=name, channel=channel, posted=posted)
        return False
    return True


async def _release(interviews: Interviews, claim: InterviewRecord, thread_ts: str | None) -> None:
    try:  # shielded: a second cancellation must not leave the name claimed
        await asyncio.shield(interviews.release(claim, thread_ts))
    except Exception:
        log.exception("could not release the name %s; it stays claimed until restart", claim.name)


async def _report(
    interviews: Interviews, respond: AsyncRespond, exc: Exception, *, name: str, channel: str, posted: list[str]
) -> None:
    """Log what failed, take down what was posted, and tell the user in one sentence."""
    if isinstance(exc, (*SLACK_ERRORS, SchedulerClosed)):
        log.warning("could not open interview %s in %s (%s posted): %s", name, channel, len(posted), _why(exc))
    else:
        log.exception("could not open interview %s in %s (%s posted)", name, channel, len(posted))
    taken_down = await _take_down(interviews, channel, name, posted) if posted else False
    try:
        await respond(not_started(name, exc, posted=bool(posted), taken_down=taken_down))
    except Exception:
        log.exception("could not tell the user why interview %s did not start", name)


async def _take_down(interviews: Interviews, channel: str, name: str, posted: list[str]) -> bool:
    """Delete what this start posted (the note under the root first, so no "deleted message"
    stub stays behind); a root that can't be deleted at least stops inviting answers.
    True when the root is gone."""
    for ts in reversed(posted):
        try:
            await interviews.scheduler.delete(channel=channel, ts=ts)
        except (*SLACK_ERRORS, SchedulerClosed) as exc:
            log.warning("could not delete %s/%s after a failed start: %s", channel, ts, _why(exc))
            if ts != posted[0]:
                continue
            try:
                text = f"The interview for *{name}* could not start."
                blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]  # no Cancel button
                await interviews.scheduler.update(channel=channel, ts=ts, text=text, blocks=blocks)
            except (*SLACK_ERRORS, SchedulerClosed) as again:
                log.warning("could not mark %s/%s as not started: %s", channel, ts, _why(again))
            return False
    return True


def not_started(name: str, exc: Exception, *, posted: bool, taken_down: bool) -> str:
    """The one sentence telling the user why the interview did not start and what to do."""
    again = f"Run `/newspec {name}` again"
    persist = f"{again}; if it keeps failing, tell whoever runs newspec."
    first = "the interview's first message"
    if isinstance(exc, SchedulerClosed):
        cause, advice = "I'm restarting", f"{again} in a minute."
    elif isinstance(exc, SlackRequestError) or not isinstance(exc, SLACK_ERRORS):
        cause = "Something went wrong on my side" + (f" after {first} was posted" if posted else "")
        advice = persist
    elif isinstance(exc, SlackApiError):
        if not posted and _why(exc) in NOT_IN_CHANNEL_ERRORS:
            return (
                "I'm not a member of this channel, so I can't start a thread here. "
                "Add me with `/invite @newspec` (or pick another channel) and run the command again."
            )
        cause = f"Slack posted {first} but then failed" if posted else f"Slack refused to post {first} here"
        cause, advice = f"{cause} ({_why(exc)})", persist
    else:  # the network
        if posted:
            cause = f"Slack posted {first} but then {_why(exc)}"
        else:
            cause = f"I couldn't reach Slack to post {first} ({_why(exc)})"
        advice = f"{again} in a moment."
    outcome = f"the interview for *{name}* has not started"
    if posted and taken_down:
        outcome += " and I took its first message down"
    elif posted:
        outcome += " (ignore its first message: I couldn't take it down)"
    return f"{cause}, so {outcome}. {advice}"


def _why(exc: BaseException) -> str:
    """Slack's error code; for the network, what happened to the connection."""
    if isinstance(exc, SlackApiError):  # no code: an HTTP error page instead of Slack's answer
        return str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
    if isinstance(exc, TimeoutError):
        return "it did not answer in time"
    if isinstance(exc, SLACK_ERRORS):
        return "the connection failed"
    return str(exc) or type(exc).__name__


async def thread_link(client: AsyncWebClient, record: InterviewRecord) -> str:
    try:
        response = await client.chat_getPermalink(channel=record.channel, message_ts=record.thread_ts)
        return f"<{response['permalink']}|thread>"
    except SlackApiError:
        return f"thread in <#{record.channel}>"
