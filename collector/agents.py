"""Which agents have gone silent, and which accounts that leaves without a poller.

How the collector knows an agent's interval: the agent says it. Every batch
carries the agent's poll cycle (``Batch.interval_s``, its ``[agent]
interval_s``), kept with the agent's last push. The field is optional, so
batches of agents older than it stay valid; they get ``default_interval_s``
(the thresholds' ``freshness.poll_interval_s``, the agent's own default of
300 s). The alternative, an interval per agent in the collector's config,
would be a copy of each agent's setting kept equal by hand: a stale copy
either hides a dead agent for hours or calls a slow one dead. The agent knows
its cycle, and a changed cycle arrives with its next batch.

An agent is silent once ``SILENT_AFTER_INTERVALS`` of its cycles pass without
an accepted batch: the same three missed polls after which one account's data
is stale. A working agent pushes whenever its spool holds records (every
``push_interval_s`` while it polls anything), so three cycles are a wide margin.

A collector that was down did not hear anyone. After a start, an agent whose
last push was recent when the collector last accepted anything (within its
limit of the newest push in the store) gets the limit again from the start;
an agent that had gone silent before that stays silent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from collector.model import AgentStatus
from collector.store.base import AgentPush
from collector.verdicts.judge import SilentAgent
from probes.model import Target

# Cycles without a push after which an agent is silent (the staleness rule's 3 polls).
SILENT_AFTER_INTERVALS = 3


class AgentWatch:
    """Each agent's last push and cycle; fed by ingest, the store and peers."""

    def __init__(self, default_interval_s: float = 300.0) -> None:
        self.default_interval_s = default_interval_s
        self._pushes: dict[str, AgentPush] = {}
        # Agents given the limit again from this collector's start (see the module doc).
        self._grace_from: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._pushes)

    def interval(self, push: AgentPush) -> float:
        return push.interval_s if push.interval_s is not None else self.default_interval_s

    def limit(self, push: AgentPush) -> float:
        """Seconds without a push after which the agent is silent."""
        return SILENT_AFTER_INTERVALS * self.interval(push)

    def load(self, pushes: Iterable[AgentPush], now: float) -> None:
        """Warm start from the store (``Store.agent_pushes``)."""
        loaded = list(pushes)
        newest = max((p.last_push for p in loaded), default=0.0)
        for p in loaded:
            self._pushes[p.agent] = p
            if newest - p.last_push <= self.limit(p):
                self._grace_from[p.agent] = now

    def pushed(self, push: AgentPush) -> None:
        """A batch of the agent was accepted (here or, through ``merge``, elsewhere)."""
        held = self._pushes.get(push.agent)
        if held is None or push.last_push >= held.last_push:
            self._pushes[push.agent] = push
            self._grace_from.pop(push.agent, None)

    def merge(self, pushes: Iterable[AgentPush]) -> list[AgentPush]:
        """Peers' view (the whole stored table); returns the pushes that were news."""
        news = []
        for p in pushes:
            held = self._pushes.get(p.agent)
            if held is None or p.last_push > held.last_push:
                self.pushed(p)
                news.append(p)
        return news

    def pushes(self) -> list[AgentPush]:
        return [self._pushes[a] for a in sorted(self._pushes)]

    def silent(self, now: float) -> dict[str, float]:
        """Silent agents -> their last push."""
        grace = self._grace_from
        return {
            a: p.last_push
            for a, p in self._pushes.items()
            if now - max(p.last_push, grace.get(a, 0.0)) > self.limit(p)
        }

    def statuses(self, now: float) -> list[AgentStatus]:
        silent = self.silent(now)
        return [
            AgentStatus(
                name=p.agent,
                last_push=p.last_push,
                interval_s=self.interval(p),
                silent=p.agent in silent,
                silent_since=silent.get(p.agent),
            )
            for p in self.pushes()
        ]

    def silenced_accounts(
        self,
        targets: Iterable[Target],
        silent: Mapping[str, float],
        default_agent: str | None,
    ) -> dict[str, SilentAgent]:
        """The accounts left without a poller: rows of a silent agent (the
        inventory's ``agent`` column, else ``default_agent``); rows with
        neither are polled by every agent, so only when every agent is silent
        (naming the one heard from last). O(targets): call when ``silent`` or
        the inventory changes, not per batch."""
        if not silent:
            return {}
        facts: dict[str, SilentAgent] = {}
        for agent, since in silent.items():
            p = self._pushes[agent]
            facts[agent] = SilentAgent(agent, since, self.interval(p), self.limit(p))
        anyone: SilentAgent | None = None
        if len(silent) == len(self._pushes):
            anyone = facts[max(silent, key=lambda a: silent[a])]
        out: dict[str, SilentAgent] = {}
        for t in targets:
            owner = t.agent or default_agent
            fact = anyone if owner is None else facts.get(owner)
            if fact is not None:
                out[t.account] = fact
        return out
