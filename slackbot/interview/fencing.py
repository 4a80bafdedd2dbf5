"""Standing down from threads this replica was taken for dead on.

A replica that stalls past the timeout (a VM pause, SIGSTOP, a long GC) is taken for
dead: another replica takes its threads over and resumes them from the store. When the
stalled one wakes, its turns in flight must not go on: their answers would be posted
twice and the conversations diverge. Its heartbeat stops them here, as the bot's own
shutdown would, but without a word in Slack or a write to the store (the thread, its
replies and its transcript are the new owner's), and forgets their conversations (the
cached copies are stale). `Ownership.vouch` holds each event of a turn until the
replica's beat is known fresh, so nothing of a turn goes out between the wake-up and
the stand-down.
"""

from __future__ import annotations

import logging

from .conversation import Conversation

log = logging.getLogger(__name__)


def stop_at_once(conversation: Conversation) -> None:
    """Cancel the conversation's turn and answer feeder (no await: nothing of them runs
    again before they end). It still takes replies: one arriving meanwhile starts a turn
    whose lease check (`Ownership.may_run`) wakes the thread's new owner instead. Its
    Claude process mirrors nothing more of its transcript into the store."""
    conversation.session.fenced = True
    for task in (conversation.worker, conversation.feeder):
        if task is not None and not task.done():
            task.cancel()


async def let_go(conversation: Conversation) -> None:
    """End the CLI process of a conversation stopped at once (`stop_at_once`) and free its
    slot: its turn is not finished here, nor its replies settled."""
    log.warning("%s: taken over while this replica stalled; its turn here ends unseen", conversation.record.name)
    await conversation.session.close(force=True)
    await conversation.pool.remove(conversation)
