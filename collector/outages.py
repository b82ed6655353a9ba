"""Outage history and credits (issue 17, part 3).

The engine keeps node outages and plant faults in memory, and the store only
the current outage flag per node (``node_state``, overwritten), so billing had
no record of a closed outage. ``OutageWatch`` follows the engine's node
summaries every few seconds, off the ingest path, and keeps each outage's
opening, its accounts and its close in table ``outages``. Rows are keyed by
the outage's own id (node and start), so collectors sharing a store write the
same row. Credits are each account's downtime within the outage, the same
figure ``GET /v1/accounts/{account}/downtime`` gives for that period."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Literal

import msgspec

from collector.model import Language, NodeSummary
from collector.verdicts.messages import outage_notice

if TYPE_CHECKING:
    from collector.service import Collector
    from collector.webhooks import Webhooks

log = logging.getLogger(__name__)

OutageKind = Literal["node_outage", "plant_fault"]

# How often the engine's outages are compared with the stored ones. An
# opening carries the engine's own start; a close is stamped when seen, at most
# this late (credits count downtime from the verdicts, not from these stamps).
WATCH_INTERVAL_S = 5.0


class Outage(msgspec.Struct, frozen=True, kw_only=True):
    id: str  # "outage:NODE:SINCE" or the plant fault's id
    kind: OutageKind
    node: str
    since: float
    until: float | None = None  # None: still open
    accounts: list[str] = []  # every account it held, sorted


class OutagesAnswer(msgspec.Struct, frozen=True, kw_only=True):
    outages: list[Outage]  # newest first


class Credit(msgspec.Struct, frozen=True, kw_only=True):
    account: str
    downtime_s: float  # within [since, until]: as /downtime answers for that period


class CreditsAnswer(msgspec.Struct, frozen=True, kw_only=True):
    outage: Outage
    since: float
    until: float  # the close, or now while open
    credits: list[Credit]


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    """One affected account's customer text, ready for an SMS gateway to send."""

    account: str
    language: Language  # the inventory's, else the collector's default_language
    message: str


class OutageOpened(Outage, frozen=True, kw_only=True):
    """The outage.opened / plant_fault.opened payload: the outage and its notices."""

    notices: list[Notice] = []  # one per account, as ``accounts``


class OutageClosed(CreditsAnswer, frozen=True, kw_only=True):
    """The .closed payload: the credit report and each account's notice (its downtime)."""

    notices: list[Notice] = []  # one per credit


outage_decoder = msgspec.json.Decoder(Outage)


def outage_id(node: str, since: float) -> str:
    return f"outage:{node}:{since:.0f}"


def open_outages(summaries: list[NodeSummary], node_accounts: dict[str, list[str]]) -> list[Outage]:
    """The outages the engine has open now. ``node_accounts``: the accounts of
    each node in an outage (a node outage holds every account of its node)."""
    found: list[Outage] = []
    for s in summaries:
        if s.outage and s.outage_since is not None:
            found.append(Outage(
                id=outage_id(s.node, s.outage_since), kind="node_outage", node=s.node,
                since=s.outage_since, accounts=sorted(node_accounts.get(s.node, [])),
            ))
        for p in s.plant_faults:
            if p.since is not None and p.confirmed:  # else maybe an outage's first modems
                found.append(Outage(id=p.id, kind="plant_fault", node=s.node, since=p.since,
                                    accounts=sorted(p.accounts)))
    return found


class OutageWatch:
    """Keeps the store's outage history in step with the engine."""

    def __init__(self, collector: Collector, webhooks: Webhooks | None = None) -> None:
        self.collector = collector
        self.webhooks = webhooks
        self._open: dict[str, Outage] | None = None  # as stored; None: not read yet
        self._node_accounts: dict[str, list[str]] = {}

    async def step(self) -> None:
        collector, store = self.collector, self.collector.store
        if self._open is None:
            self._open = {o.id: o for o in await store.outages(open_only=True, limit=10_000)}
        summaries = await collector.node_summaries()
        outage_nodes = {s.node for s in summaries if s.outage}
        missing = outage_nodes - self._node_accounts.keys()
        if missing:  # once per outage: the node's accounts from the inventory
            for t in collector.targets.values():
                if t.node in missing:
                    self._node_accounts.setdefault(t.node, []).append(t.account)
        for node in list(self._node_accounts):
            if node not in outage_nodes:
                del self._node_accounts[node]
        now_open = {o.id: o for o in open_outages(summaries, self._node_accounts)}
        for oid, outage in now_open.items():
            known = self._open.get(oid)
            if known is None or not set(outage.accounts) <= set(known.accounts):
                self._open[oid] = await store.record_outage(outage)
            if known is None:
                await self._emit("opened", self._open[oid], None)
        now = time.time()
        for oid in [o for o in self._open if o not in now_open]:
            await store.close_outage(oid, now)
            closed = await store.get_outage(oid) or self._open[oid]
            del self._open[oid]
            log.info("outage %s closed", oid)
            await self._emit("closed", closed, await credit_report(collector, closed))

    async def _emit(self, what: str, outage: Outage, credits: CreditsAnswer | None) -> None:
        """outage.opened / plant_fault.opened; .closed with the credit report.
        The delivery id comes from the outage id: offered by several
        collectors, or again after a restart, it is sent once."""
        if self.webhooks is None or not self.webhooks.enabled:
            return
        event = ("outage." if outage.kind == "node_outage" else "plant_fault.") + what
        data: object
        if credits is None:
            notices = [self._notice(a, "opened", None) for a in outage.accounts]
            data = OutageOpened(**msgspec.structs.asdict(outage), notices=notices)
        else:
            notices = [self._notice(c.account, "closed", c.downtime_s) for c in credits.credits]
            data = OutageClosed(**msgspec.structs.asdict(credits), notices=notices)
        await self.webhooks.emit(event, outage.id, data)

    def _notice(self, account: str, what: str, downtime_s: float | None) -> Notice:
        """In the account's inventory language; an account no longer in the
        inventory (or without one) gets the configured default."""
        target = self.collector.targets.get(account)
        language: Language = (target.language if target is not None and target.language
                              else self.collector.config.default_language)
        return Notice(account=account, language=language,
                      message=outage_notice(what, language, downtime_s))


async def credit_report(collector: Collector, outage: Outage) -> CreditsAnswer:
    """Each account's downtime within the outage: what /downtime answers for it."""
    until = outage.until if outage.until is not None else time.time()
    credits = [
        Credit(account=a,
               downtime_s=await collector.store.downtime_seconds(a, outage.since, until))
        for a in outage.accounts
    ]
    return CreditsAnswer(outage=outage, since=outage.since, until=until, credits=credits)
