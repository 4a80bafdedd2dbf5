"""Model spend the CLI did not report with its turn: who pays for a turn cut off mid-way.

The CLI reports a running total per conversation with each turn's result, and saves it
in the transcript when its process ends; a resumed process starts from what it saved.
Measured with the bundled CLI and the fake model (tests/test_turn_costs.py):

- a process closed mid-turn (parked while people think, stopped at shutdown) saves its
  total, so the next process starts with the cut-off turn's spend in it: charged here to
  that turn's payer, not to whoever writes next;
- a process killed outright (crash, kill -9) saves nothing: the next starts from the last
  total saved (its spend since is lost to everyone), and turns count from there;
- a turn interrupted after a silence reports its total to the interrupt (the session
  passes it on as the turn's `TurnDone`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .budget import utc_day

if TYPE_CHECKING:
    from .conversation import Conversation

log = logging.getLogger(__name__)

COST_NOISE = 1e-9  # USD: float noise between the total the CLI saved and the one it reported


async def turn_begins(conversation: Conversation) -> None:
    """A model turn starts, paid for by `conversation.payer` until the CLI reports its
    cost. A payer still stored means the turn before it was cut off first: its spend is
    theirs when a new process shows it (`process_started`)."""
    stored = conversation.record.turn_payer
    conversation.unpaid = stored
    if stored != conversation.payer:
        await conversation.save(turn_payer=conversation.payer)


async def process_started(conversation: Conversation, total: float) -> None:
    """A CLI process started with its running total at `total`. Above the total last
    recorded: a turn cut off mid-way spent the difference, charged to that turn's payer.
    Below it: a killed process took its spend with it, and turns count from `total`."""
    record = conversation.record
    payer, conversation.unpaid = conversation.unpaid or conversation.payer, None
    gap = total - record.session_cost_usd
    if gap > COST_NOISE:
        log.info("interview %s: a turn cut off earlier spent $%.4f, charged to %s", record.name, gap, payer)
        await conversation.store.add_spend(record.channel, record.thread_ts, payer, utc_day(), gap)
        await conversation.save(cost_usd=record.cost_usd + gap, session_cost_usd=total)
    elif gap < -COST_NOISE:
        log.info("interview %s: a killed process lost $%.4f of spend the CLI never reported", record.name, -gap)
        await conversation.save(session_cost_usd=total)
