"""Whether native streaming works for this app, and whom a stream is addressed to."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

STREAMING_PROBE_AFTER = 600.0  # seconds before streaming is tried again where Slack refused it for the app
# Seconds Slack keeps a stream open: undocumented; others measured about five minutes
# (slack_sdk issue #1859 and PR #1880: then appends and stops answer
# message_not_in_streaming_state and the message stays a broken pill until chat.update).
STREAM_LIFETIME = 300.0

# Refusals that mean this app cannot stream in this workspace at all: streaming
# is off for every thread until STREAMING_PROBE_AFTER has passed. Any other
# refusal (not_in_channel, is_archived, missing_recipient_*, a transient error)
# belongs to one channel or one call, and only that message falls back.
NO_STREAMING_ERRORS = frozenset({
    "missing_scope", "not_allowed_token_type", "unknown_method", "feature_not_enabled",
    "method_deprecated", "deprecated_endpoint", "enterprise_is_restricted", "accesslimited", "is_bot",
    "not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired",
})

@dataclass
class StreamingSupport:
    """Whether native streaming works for this app in this workspace, shared by all threads.

    Only a refusal that means the app cannot stream at all (`NO_STREAMING_ERRORS`)
    turns it off, and only for `probe_after` seconds: then one more message tries.
    """

    native: bool = True
    probe_after: float = STREAMING_PROBE_AFTER
    lifetime: float = STREAM_LIFETIME  # seconds Slack keeps a stream open
    # Answers posted and still growing, in every thread: each owes Slack one last
    # `chat.update` (its last words, or taking its Stop button away).
    growing_posts: int = field(default=0, init=False)
    # Streams open in every thread: each owes Slack one `chat.stopStream` (Tier 2).
    owing_stops: int = field(default=0, init=False)
    clock: Callable[[], float] = time.monotonic
    off_until: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if not self.native:
            self.off_until = self.clock() + self.probe_after

    def usable(self) -> bool:
        """Whether a new message should stream; once the pause is over, it probes again."""
        if not self.native and self.clock() >= self.off_until:
            log.info("trying native streaming again")
            self.native = True
        return self.native

    def refused(self, error: str) -> None:
        """Slack said this app can't stream here: use post-and-update everywhere for a while."""
        log.warning(
            "native streaming refused for the app (%s); every thread uses chat.update for %.0fs",
            error, self.probe_after,
        )
        self.native = False
        self.off_until = self.clock() + self.probe_after


@dataclass(frozen=True)
class Recipient:
    """Whom an answer is for: a stream in a channel is addressed to one person, in a
    workspace they belong to (see `recipient_team`)."""

    user_id: str | None
    team_id: str | None = None
    # Others take part in the thread: Slack shows a stream growing only to its recipient
    # (everyone else sees its first words until it stops), so their answers are posted
    # and updated, growing for everyone (the figures: BENCHMARKS.md).
    shared: bool = False


def recipient_team(own: object, workspace: str | None, organisation: str | None = None) -> str | None:
    """The team a stream to a person is addressed to. Slack wants "the team the user
    receiving the streaming text belongs to"; Bolt's say_stream sends the request's
    workspace (`context.team_id`), or its organisation when it names no workspace.
    Sent the same, except that a Slack Connect guest's own workspace (`user_team`
    T…) is kept: they are no member of ours. On Enterprise Grid `user_team` is the
    organisation (E…), which is no workspace: the request's workspace is used then."""
    if isinstance(own, str) and own.startswith("T"):
        return own
    return workspace or organisation
