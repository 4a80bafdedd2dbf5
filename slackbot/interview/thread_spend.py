"""A thread's spending: what each turn cost (charged to the person whose message
started it), what the budgets leave for the next model call, and the thread told
once when a budget holds its replies or is nearly used.

The CLI reports a running total per conversation with each turn's result, and saves it
in the transcript when its process ends; a resumed process starts from what it saved.
Measured with the bundled CLI and the fake model (tests/test_turn_costs.py):

- a process closed mid-turn (parked while people think, stopped at shutdown) saves its
  total, so the next process starts with the cut-off turn's spend in it: charged to that
  turn's payer (stored as the turn starts), not to whoever writes next;
- a process killed outright (crash, kill -9) saves nothing: the next starts from the last
  total saved (its spend since is lost to everyone), and turns count from there;
- a turn interrupted after a silence reports its total to the interrupt (the session
  passes it on as the turn's `TurnDone`).
"""

from __future__ import annotations

import logging
import time
import uuid

from ..events import OverBudget, TurnDone
from ..slack.blocks import tell_admins_buttons
from ..slack.relay import Recipient
from ..spend.budget import Budgets, utc_day
from ..store import PendingReply
from .conversing import Conversing

log = logging.getLogger(__name__)

COST_NOISE = 1e-9  # USD: float noise between the total the CLI saved and the one it reported

# Sent for the person whose turn the spend limit cut short, once the budget allows more.
CUT_SHORT = (
    "(The bot's spend limit stopped your previous answer before it finished; a tool call it "
    "cut off did not run. The budget now allows more: carry on from where you stopped.)"
)


class ThreadSpend:
    def __init__(self, conversation: Conversing) -> None:
        self.conversation = conversation
        self.cut_short = False  # the spend limit stopped the last turn: the thread hears why, again
        self.payer = conversation.record.started_by  # whose message started the current turn: its cost is theirs
        # The UTC day a used-up budget last held this thread's replies (the reaper wakes
        # the thread when the day changes).
        self.held_on: str | None = None
        self.unpaid: str | None = None  # the payer of a turn cut off before the CLI reported its cost
        self.began: float | None = None  # when the current model turn began (time.monotonic), for its latency

    def recheck(self, today: str | None = None) -> bool:
        """Whether replies a budget held may be looked at again (a budget changed, or with
        `today`: a new UTC day began)."""
        if self.held_on is None or self.held_on == today:
            return False
        self.held_on = None
        return True

    async def held(self, batch: list[PendingReply]) -> bool:
        """Whether a used-up budget stops the next model call; the thread is told once."""
        c = self.conversation
        budgets = await c.budgets.current(c.store)
        cut_short, self.cut_short = self.cut_short, False
        held = await budgets.held(c.store, c.record, batch[-1].user_id)
        if held is None:
            self.held_on = None
            await self.warn(batch[-1].user_id, budgets)
            return False
        self.held_on = utc_day()
        c.changed()  # the root says the interview is paused
        # Said once per budget (and day, and person, for daily ones), also across restarts;
        # and again after a turn the spend limit cut short (people saw it stop).
        first = await c.store.note_once(*c.key, "held:" + ":".join(held.key))
        if first or cut_short:
            log.info("interview %s paused: budget %s used up", c.record.name, held.key[0])
            await c.relay.note(held.sentence, buttons=tell_admins_buttons(held.key))
        return True

    async def warn(self, user_id: str, budgets: Budgets | None = None) -> None:
        """Tell the thread, once (also across restarts; daily budgets once a day), that 80 %
        of a budget is used (`budgets`: those in force, if just read)."""
        c = self.conversation
        budgets = budgets if budgets is not None else await c.budgets.current(c.store)
        for note, sentence in await budgets.warnings(c.store, c.record, user_id):
            if await c.store.note_once(*c.key, note):
                await c.relay.note(sentence)

    async def headroom(self) -> float | None:
        """What the budgets in force leave for the payer's turn (None: no limit)."""
        c = self.conversation
        budgets = await c.budgets.current(c.store)
        return await budgets.headroom(c.store, c.record, self.payer)

    async def stopped(self, stopped: OverBudget, recipient: Recipient) -> None:
        """The CLI's spend limit stopped the turn. A batch that never reached Claude stays
        stored; one Claude began answering is taken up, and Claude is asked to finish once
        the budget allows (on the payer's account). The serve loop then holds the thread."""
        c = self.conversation
        log.info("interview %s: the spend limit stopped a turn (reached Claude: %s)", c.record.name, stopped.reached)
        self.cut_short = True
        if stopped.reached:
            await c.store.queue_claimed_reply(
                *c.key, self.payer, CUT_SHORT, f"budget:{uuid.uuid4().hex}", None, recipient.team_id,
            )

    async def count(self, event: TurnDone) -> None:
        c = self.conversation
        record = c.record
        # The CLI reports a running total per conversation (kept across resume); a
        # drop means a new conversation began.
        total = record.session_cost_usd if event.cost_usd is None else event.cost_usd
        spent = total - record.session_cost_usd if total >= record.session_cost_usd else total
        if spent > 0:  # charged to the person whose message started the turn, on today's UTC date
            await c.store.add_spend(record.channel, record.thread_ts, self.payer, utc_day(), spent)
        began, self.began = self.began, None
        seconds = None if began is None else time.monotonic() - began
        c.metrics.turn_done(seconds, event.input_tokens, event.output_tokens, spent)
        await c.save(
            cost_usd=record.cost_usd + spent,
            session_cost_usd=total,
            input_tokens=record.input_tokens + event.input_tokens,
            output_tokens=record.output_tokens + event.output_tokens,
            model_turns=record.model_turns + (event.model_turns or 0),
            turn_payer=None,  # reported: paid
        )

    async def turn_begins(self) -> None:
        """A model turn starts, paid for by `payer` until the CLI reports its cost. A payer
        still stored means the turn before it was cut off first: its spend is theirs when a
        new process shows it (`process_started`)."""
        c = self.conversation
        self.began = time.monotonic()
        stored = c.record.turn_payer
        self.unpaid = stored
        if stored != self.payer or c.record.turn_by != self.payer:
            await c.save(turn_payer=self.payer, turn_by=self.payer)

    async def process_started(self, total: float) -> None:
        """A CLI process started with its running total at `total`. Above the total last
        recorded: a turn cut off mid-way spent the difference, charged to that turn's payer.
        Below it: a killed process took its spend with it, and turns count from `total`."""
        c = self.conversation
        record = c.record
        payer, self.unpaid = self.unpaid or self.payer, None
        gap = total - record.session_cost_usd
        if gap > COST_NOISE:
            log.info("interview %s: a turn cut off earlier spent $%.4f, charged to %s", record.name, gap, payer)
            await c.store.add_spend(record.channel, record.thread_ts, payer, utc_day(), gap)
            await c.save(cost_usd=record.cost_usd + gap, session_cost_usd=total)
            c.metrics.spent(gap)
        elif gap < -COST_NOISE:
            log.info("interview %s: a killed process lost $%.4f of spend the CLI never reported", record.name, -gap)
            await c.save(session_cost_usd=total)
