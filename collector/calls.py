"""Calls on an account (issue 17, part 1): each IVR pre-call and each support
agent's lookup is kept, so the third call in two days is seen as the third and
a repeat caller with an unresolved fault reaches a person."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

import msgspec

from collector.model import VerdictName

if TYPE_CHECKING:
    from collector.service import Collector
    from collector.webhooks import Webhooks

Channel = Literal["ivr", "agent"]


class Call(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One call: when, through which channel, what the caller was told."""

    account: str
    at: float  # unix seconds
    channel: Channel
    verdict: VerdictName  # the verdict the call was given
    message: str = ""  # what the IVR played (empty for an agent's lookup)
    agent: str | None = None  # the support agent's name (channel agent)
    repeat: bool = False  # counted as a repeat call when it was taken


class CallSummary(msgspec.Struct, frozen=True, kw_only=True):
    """The account's recent calls as the support floor reads them."""

    count: int  # calls within window_s, this one included
    window_s: float
    text: str  # "3rd call in 48 h"
    calls: list[Call]  # newest first, at most MAX_LISTED


MAX_LISTED = 20


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 21st ..."""
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def summary(calls: list[Call], window_s: float) -> CallSummary:
    """``calls`` newest first, already limited to the window."""
    hours = window_s / 3600.0
    text = f"{ordinal(len(calls))} call in {hours:g} h" if calls else f"no calls in {hours:g} h"
    return CallSummary(count=len(calls), window_s=window_s, text=text, calls=calls[:MAX_LISTED])


call_decoder = msgspec.json.Decoder(Call)


# account.verdict_changed is sent for accounts that called within this long:
# the ones whose callers are waiting to hear back (issue 17).
CALLER_WATCH_S = 72 * 3600.0
MAX_WATCHED = 10_000  # callers followed at once (the newest); bounds each step


class CallerWatch:
    """Webhook ``account.verdict_changed`` for recent callers, found by
    comparing their verdicts each step: off the ingest path, and bounded by
    the number of recent callers, not of accounts."""

    def __init__(self, collector: Collector, webhooks: Webhooks) -> None:
        self.collector = collector
        self.webhooks = webhooks
        self._last: dict[str, tuple[str, float]] = {}  # account -> (verdict, since)

    async def step(self) -> None:
        if not self.webhooks.wants("account.verdict_changed"):
            return
        callers = await self.collector.store.recent_callers(
            time.time() - CALLER_WATCH_S, MAX_WATCHED
        )
        last, seen = self._last, {}
        for account in callers:
            verdict = self.collector.verdict(account)
            if verdict is None:
                continue
            now = (verdict.verdict, verdict.since)
            seen[account] = now
            before = last.get(account)
            if before is not None and before[0] != now[0]:
                await self.webhooks.emit(
                    "account.verdict_changed", f"{account}:{verdict.verdict}:{verdict.since:.3f}",
                    {"account": account, "from": before[0], "verdict": verdict}, verdict.since,
                )
        self._last = seen
