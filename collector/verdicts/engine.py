"""The verdict engine: per-account state, node correlation, incremental judging.

Cost model (100k+ accounts): ``observe`` touches only the accounts in the
batch, their nodes, and — when a node-level fact changes (outage opens or
closes, its unreachable count moves during an outage, degraded flips) —
every account of that node. ``tick`` pops a heap of per-account recheck
times (staleness, throughput freshness, reboot-loop window) and looks only at
nodes whose outage is waiting out its hysteresis or whose degraded window
moves, so an idle tick is O(1). Each account has at most one live heap
entry (``queued_at``); when new data moves its deadline later, the entry is
re-pushed when it pops instead of adding one per poll.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from collector.model import Event, NodeState, NodeSummary, PlantFault, Verdict
from collector.verdicts import rules
from collector.verdicts.compact import Interner, docsis_key, pack_rest, prev_reading, slim_snmp
from collector.verdicts.correlation import evaluate_degraded, evaluate_outage, evaluate_plant
from collector.verdicts.judge import AccountFacts, NodeFacts, SilentAgent, judge_account
from collector.verdicts.messages import action_for, customer_message
from collector.verdicts.rules import headend as headend_rules
from collector.verdicts.rules import predark
from collector.verdicts.rules.headend import HeadendView
from collector.verdicts.rules.plant import plant_event_id
from collector.verdicts.thresholds import Thresholds
from probes.model import (
    DocsisLine,
    HeadendReading,
    PingResult,
    ProbeRecord,
    SnmpReading,
    Target,
    ThroughputResult,
)
from probes.pnm_groups import strongest_echo

# Reboot times kept per account: enough for any sensible loop_count.
_MAX_REBOOTS = 32
# Rechecks fire just after a deadline, because the rules use strict comparisons.
_EPS = 1e-3
# Shared by every account whose reading has no line finding (never mutated).
_NO_FINDINGS: list[rules.Finding] = []


class EngineOutput(msgspec.Struct, kw_only=True):
    """What changed: verdicts to save, events to append, node flags to save."""

    verdicts: list[Verdict] = msgspec.field(default_factory=list)
    events: list[Event] = msgspec.field(default_factory=list)
    node_states: list[NodeState] = msgspec.field(default_factory=list)
    judged: int = 0  # accounts re-judged (for metrics and benchmarks)


@dataclass(slots=True)
class _Account(AccountFacts):
    # The engine keeps ``snmp`` slim (``compact.slim_snmp``) with its line findings
    # in ``line_memo`` from the moment it arrives, and instead of ``reading`` /
    # ``prev_reading`` only the counters of the latest good reading.
    prev_at: float | None = None  # time of the latest good reading
    prev_uptime: float | None = None  # and its sysUpTime
    counters: bytes | None = None  # compact.pack_rest of it (None: no good reading yet)
    counters_key: bytes | None = None  # compact.docsis_key of it (DOCSIS only)
    verdict: Verdict | None = None
    recheck_at: float | None = None  # next time the verdict may change without new data
    queued_at: float | None = None  # the heap entry standing for this account


@dataclass(slots=True)
class _Node(NodeFacts):
    members: set[str] = field(default_factory=set)
    dark: dict[str, float] = field(default_factory=dict)  # account -> dark since
    clear_since: float | None = None
    plant_clear_since: float | None = None
    # The plant fault is told apart from the first modems of an area outage: every
    # other modem of the node that answers has answered since it began, or
    # [plant] confirm_s went by. Only then is it announced (outage history, webhook).
    plant_confirmed: bool = False
    tp: dict[str, tuple[float, float]] = field(default_factory=dict)  # account -> (at, ratio)
    tp_recheck_at: float | None = None
    counts: dict[str, int] = field(default_factory=dict)  # verdict -> judged accounts


class VerdictEngine:
    """In-memory verdicts for every account; feed it records, tick it with the clock."""

    def __init__(self, thresholds: Thresholds | None = None, targets: Iterable[Target] = ()):
        self.th = thresholds if thresholds is not None else Thresholds.default()
        self._accounts: dict[str, _Account] = {}
        self._nodes: dict[str, _Node] = {}
        self._rechecks: list[tuple[float, str]] = []  # (when, account)
        self._node_rechecks: list[tuple[float, str]] = []  # (when, node): degraded window
        # Nodes re-evaluated on every tick: an outage or plant fault waiting out its
        # hysteresis, or a plant fault waiting to be told apart from an area outage.
        self._clearing: set[str] = set()
        self.ignored_records = 0  # records for accounts not in the inventory
        self.headend_errors = 0  # headend polls that did not answer
        self.headend_unmatched = 0  # headend rows naming an account not in the inventory
        self._interner = Interner()
        self._silenced: set[str] = set()  # accounts whose agent is silent
        self.set_targets(targets)

    # --- inventory ------------------------------------------------------------------------

    def set_targets(self, targets: Iterable[Target], now: float | None = None) -> EngineOutput:
        """Replace the inventory. Accounts that moved node or changed plan are
        re-judged when ``now`` is given; new accounts stay unknown until data arrives."""
        out = EngineOutput()
        wanted = {t.account: t for t in targets}
        changed_nodes: set[str] = set()
        rejudge: dict[str, _Account] = {}
        for account in [a for a in self._accounts if a not in wanted]:
            a = self._accounts.pop(account)
            self._leave_node(a)
            changed_nodes.add(a.node)
        for account, t in wanted.items():
            a = self._accounts.get(account)
            if a is None:
                a = _Account(account=account, node=t.node, plan_down_mbps=t.plan_down_mbps)
                self._accounts[account] = a
                self._join_node(a)
                changed_nodes.add(t.node)
                continue
            if a.node != t.node:
                self._leave_node(a)
                changed_nodes.add(a.node)
                a.node = t.node
                self._join_node(a)
                changed_nodes.add(t.node)
                rejudge[account] = a
            if a.plan_down_mbps != t.plan_down_mbps:
                a.plan_down_mbps = t.plan_down_mbps
                self._note_throughput(a)
                rejudge[account] = a
        for name in [n for n, node in self._nodes.items() if not node.members]:
            del self._nodes[name]
            self._clearing.discard(name)
        if now is not None:
            for name in changed_nodes & self._nodes.keys():
                node = self._nodes[name]
                if self._evaluate_node(node, now, out) or node.outage:
                    rejudge.update((m, self._accounts[m]) for m in self._nodes[name].members)
            self._judge_many(rejudge.values(), now, out)
        return out

    def _join_node(self, a: _Account) -> None:
        node = self._nodes.get(a.node)
        if node is None:
            node = self._nodes[a.node] = _Node(node=a.node)
        node.members.add(a.account)
        node.accounts = len(node.members)
        if a.dark_since is not None:
            node.dark[a.account] = a.dark_since
        if a.verdict is not None:
            node.counts[a.verdict.verdict] = node.counts.get(a.verdict.verdict, 0) + 1
        self._note_throughput(a)

    def _leave_node(self, a: _Account) -> None:
        node = self._nodes[a.node]
        node.members.discard(a.account)
        node.accounts = len(node.members)
        node.dark.pop(a.account, None)
        node.tp.pop(a.account, None)
        node.echoes.pop(a.account, None)
        node.plant.pop(a.account, None)
        if a.verdict is not None:
            node.counts[a.verdict.verdict] -= 1

    # --- warm start -------------------------------------------------------------------------

    def load(
        self,
        records: Iterable[ProbeRecord],
        verdicts: Iterable[Verdict],
        node_states: Iterable[NodeState],
        now: float | None = None,
    ) -> EngineOutput:
        """Rebuild state from the store (latest records, current verdicts, node flags).

        Loaded verdicts keep their ``since``; accounts whose re-judged verdict
        or evidence differs come back in the output. No reboot events are
        raised (one record per probe cannot show a reboot). The same as
        ``load_verdicts``, ``load_node_states``, ``load_records`` (any number
        of chunks) and ``finish_load``, which a caller streaming a large store
        uses instead.
        """
        self.load_verdicts(verdicts)
        self.load_node_states(node_states)
        self.load_records(records)
        return self.finish_load(time.time() if now is None else now)

    def load_verdicts(self, verdicts: Iterable[Verdict]) -> None:
        """Warm start, step 1: stored current verdicts (texts shared between accounts)."""
        share = self._interner.verdict
        for v in verdicts:
            a = self._accounts.get(v.account)
            if a is not None:
                node = self._nodes.get(v.node)
                self._set_verdict(a, share(v, a.account, node.node if node else v.node))

    def load_node_states(self, node_states: Iterable[NodeState]) -> None:
        """Warm start, step 2: stored node outage flags."""
        for ns in node_states:
            node = self._nodes.get(ns.node)
            if node is not None and ns.outage:
                node.outage, node.outage_since = True, ns.since

    def load_records(self, records: Iterable[ProbeRecord]) -> None:
        """Warm start, step 3: latest records. Every record of one account must
        come in the same call (they are applied oldest first per call)."""
        seen: dict[str, _Account] = {}
        for rec in sorted(records, key=lambda r: r.started_at):
            a = self._accounts.get(rec.account)
            if a is None:
                self.ignored_records += 1
                continue
            self._apply(a, rec, None)
            seen[rec.account] = a
        for a in seen.values():
            self._update_dark(a)

    def finish_load(self, now: float) -> EngineOutput:
        """Warm start, last step: correlate nodes and judge every account with data."""
        out = EngineOutput()
        for node in self._nodes.values():
            node.unreachable = len(node.dark)
            self._evaluate_node(node, now, out)
            self._evaluate_degraded(node, now)
        judged = [a for a in self._accounts.values() if a.verdict is not None or a.last_attempt]
        self._judge_many(judged, now, out)
        return out

    # --- the two entry points -----------------------------------------------------------

    def observe(self, records: Sequence[ProbeRecord], now: float) -> EngineOutput:
        """Take a batch of records; re-judge what they touch (and their nodes if needed)."""
        out = EngineOutput()
        if any(records[i].started_at > records[i + 1].started_at for i in range(len(records) - 1)):
            records = sorted(records, key=lambda r: r.started_at)
        touched: dict[str, _Account] = {}
        tp_nodes: set[str] = set()
        accounts = self._accounts
        for rec in records:
            if rec.probe == "headend":
                self._apply_headend(rec, touched)
                continue
            a = accounts.get(rec.account)
            if a is None:
                self.ignored_records += 1
                continue
            if self._apply(a, rec, out.events):
                tp_nodes.add(a.node)
            touched[rec.account] = a
        nodes: dict[str, _Node] = {}
        for a in touched.values():
            self._update_dark(a)
            nodes[a.node] = self._nodes[a.node]
        rejudge: dict[str, _Account] = dict(touched)
        for name, node in nodes.items():
            before = node.unreachable
            whole = self._evaluate_node(node, now, out)
            # During an outage every account cites the node's unreachable count.
            whole |= node.outage and node.unreachable != before
            if name in tp_nodes:
                whole |= self._evaluate_degraded(node, now)
            if whole:
                rejudge.update((m, accounts[m]) for m in node.members)
            elif node.unreachable != before:
                # Dark modems cite the node's unreachable share as evidence.
                rejudge.update((m, accounts[m]) for m in node.dark)
        self._judge_many(rejudge.values(), now, out)
        return out

    def tick(self, now: float) -> EngineOutput:
        """Time-based changes: staleness, expiring tests, reboot windows, outage clearing."""
        out = EngineOutput()
        due: dict[str, _Account] = {}
        heap = self._rechecks
        while heap and heap[0][0] <= now:
            when, account = heapq.heappop(heap)
            a = self._accounts.get(account)
            if a is None or a.queued_at != when:
                continue  # superseded by an earlier entry
            a.queued_at = None
            if a.recheck_at is not None and a.recheck_at > now:
                # New data moved the deadline on since this entry was pushed.
                a.queued_at = a.recheck_at
                heapq.heappush(heap, (a.recheck_at, account))
            elif a.recheck_at is not None:
                a.recheck_at = None
                due[account] = a
        whole: set[str] = set()
        for name in list(self._clearing):
            node = self._nodes.get(name)
            if node is not None and self._evaluate_node(node, now, out):
                whole.add(name)
        nheap = self._node_rechecks
        while nheap and nheap[0][0] <= now:
            when, name = heapq.heappop(nheap)
            node = self._nodes.get(name)
            if node is not None and node.tp_recheck_at == when:
                node.tp_recheck_at = None
                if self._evaluate_degraded(node, now):
                    whole.add(name)
        for name in whole:
            due.update((m, self._accounts[m]) for m in self._nodes[name].members)
        self._judge_many(due.values(), now, out)
        return out

    def adopt_node_outage(self, state: NodeState, now: float) -> EngineOutput:
        """Take another collector's start time for an outage this engine has open too.

        Collectors sharing a database claim an outage in the store (first one
        wins); the others adopt the stored ``since`` so every collector, and
        every verdict, tells the same start. A no-op unless both say outage and
        the times differ. Area-outage verdicts that began with the outage move
        to the adopted start; ones that began later (the modem's own dark
        spell) keep theirs unless the adopted start is later still.
        """
        out = EngineOutput()
        node = self._nodes.get(state.node)
        if (
            node is None
            or not (node.outage and state.outage)
            or state.since is None
            or node.outage_since == state.since
        ):
            return out
        old, node.outage_since = node.outage_since, state.since
        for m in node.members:
            a = self._accounts[m]
            prev = a.verdict
            v, changed = self._build(a, now)
            if v.verdict == "area_outage" and prev is not None and prev.verdict == "area_outage":
                since = state.since if prev.since == old else max(state.since, prev.since)
                if since != v.since:
                    v, changed = msgspec.structs.replace(v, since=since, updated_at=now), True
            out.judged += 1
            if changed:
                self._set_verdict(a, v)
                out.verdicts.append(v)
            self._schedule(a, now)
        return out

    def set_agent_silence(
        self, silenced: Mapping[str, SilentAgent], now: float | None = None
    ) -> EngineOutput:
        """Which accounts' agent is silent now (the whole set, from
        ``collector.agents``); those that changed either way are re-judged when
        ``now`` is given (warm start: ``finish_load`` judges them). O(accounts
        silenced before and now)."""
        out = EngineOutput()
        changed: list[_Account] = []
        accounts = self._accounts
        for account in self._silenced - silenced.keys():
            a = accounts.get(account)
            if a is not None and a.silent_agent is not None:
                a.silent_agent = None
                changed.append(a)
        for account, silent in silenced.items():
            a = accounts.get(account)
            if a is not None and a.silent_agent != silent:
                a.silent_agent = silent
                changed.append(a)
        self._silenced = {a for a in silenced if a in accounts}
        if now is not None:
            self._judge_many(changed, now, out)
        return out

    # --- queries --------------------------------------------------------------------------

    def verdict(self, account: str, now: float | None = None) -> Verdict | None:
        """The current verdict; an account never judged is judged now (unknown / outage)."""
        a = self._accounts.get(account)
        if a is None:
            return None
        if a.verdict is not None:
            return a.verdict
        now = time.time() if now is None else now
        return self._build(a, now)[0]

    def stored_verdict(self, account: str) -> Verdict | None:
        """The current verdict if the account was judged (what the store should hold)."""
        a = self._accounts.get(account)
        return a.verdict if a is not None else None

    def line_view(self, account: str) -> tuple[HeadendView | None, bytes | None, float | None]:
        """The account's last headend view, its trend points (``predark``) and the
        start of its dark spell: what the verdict was judged from, for display.
        Immutable objects, so a reader outside the judge lock sees a whole one."""
        a = self._accounts.get(account)
        if a is None:
            return None, None, None
        return a.headend, a.trend, a.dark_since

    def account_key(self, account: str) -> str:
        """The engine's own string for ``account`` (share it as a dict key)."""
        a = self._accounts.get(account)
        return a.account if a is not None else account

    def verdict_names(self) -> dict[str, str]:
        """Account -> current verdict name, for accounts judged so far."""
        return {k: a.verdict.verdict for k, a in self._accounts.items() if a.verdict is not None}

    def node_outage(self, node: str) -> NodeState | None:
        n = self._nodes.get(node)
        return None if n is None else NodeState(node=node, outage=n.outage, since=n.outage_since)

    def node_summaries(self) -> list[NodeSummary]:
        """Per node: accounts, verdict counts (never-judged counted unknown), outage flag."""
        result = []
        for name, node in sorted(self._nodes.items()):
            counts = {k: v for k, v in node.counts.items() if v}
            unjudged = node.accounts - sum(counts.values())
            if unjudged:
                counts["unknown"] = counts.get("unknown", 0) + unjudged
            result.append(
                NodeSummary(
                    node=name,
                    accounts=node.accounts,
                    counts=counts,
                    outage=node.outage,
                    outage_since=node.outage_since,
                    plant_faults=[
                        PlantFault(
                            id=plant_event_id(name, node.plant_since),
                            node=name,
                            since=node.plant_since,
                            accounts=sorted(node.plant),
                            clearing=node.plant_clear_since is not None,
                            confirmed=node.plant_confirmed,
                        )
                    ]
                    if node.plant
                    else [],
                )
            )
        return result

    def counts(self) -> dict[str, int]:
        """Accounts per verdict over all nodes (never-judged counted unknown)."""
        total: dict[str, int] = {}
        for s in self.node_summaries():
            for k, v in s.counts.items():
                total[k] = total.get(k, 0) + v
        return total

    def __len__(self) -> int:
        return len(self._accounts)

    # --- state updates ------------------------------------------------------------------------

    def _apply(self, a: _Account, rec: ProbeRecord, events: list[Event] | None) -> bool:
        """Fold one record into the account; True when the node's throughput set changed."""
        at = rec.started_at
        if a.last_attempt is None or at > a.last_attempt:
            a.last_attempt = at
        res = rec.result
        if rec.probe == "snmp":
            if a.snmp is not None and at <= a.snmp.started_at:
                return False
            a.snmp = rec
            if isinstance(res, SnmpReading):
                self._take_reading(a, rec, res, events)
                a.last_seen_ok = at
        elif rec.probe == "ping":
            if a.ping is not None and at <= a.ping.started_at:
                return False
            # Kept for every account: share the account and probe strings.
            a.ping = rec = msgspec.structs.replace(rec, account=a.account, probe="ping")
            if isinstance(res, PingResult) and res.received > 0:
                a.last_seen_ok = max(at, a.last_seen_ok or 0.0)
        elif rec.probe == "throughput" and isinstance(res, ThroughputResult):
            if a.throughput is not None and at <= a.throughput.started_at:
                return False
            a.throughput = rec
            return self._note_throughput(a)
        return False

    def _take_reading(
        self, a: _Account, rec: ProbeRecord, res: SnmpReading, events: list[Event] | None
    ) -> None:
        """Reboot check against the previous good reading, then keep the new one
        compact: its line findings now (they depend on the two readings only),
        its counters for the next one, a slim copy as ``snmp``."""
        has_prev = a.counters is not None
        if has_prev and rules.rebooted(
            a.prev_uptime, a.prev_at or 0.0, res.sys_uptime_s, rec.started_at
        ):
            uptime = res.sys_uptime_s or 0.0
            a.reboots.append(rec.started_at - uptime)
            del a.reboots[:-_MAX_REBOOTS]
            has_prev = False  # counters restarted with the modem: no deltas
            if events is not None:
                events.append(
                    Event(
                        account=a.account,
                        kind="reboot",
                        at=rec.started_at - uptime,
                        text=f"modem restarted (sysUpTime {uptime:.0f} s)",
                        data={"uptime_s": uptime},
                    )
                )
        th = self.th
        line = res.line
        key = docsis_key(line) if isinstance(line, DocsisLine) else None
        lines: list[rules.Finding] | None = None
        if (
            has_prev
            and key is not None
            and key == a.counters_key
            and isinstance(line, DocsisLine)
            # No counter moved that a DOCSIS rule compares: what docsis_clean
            # decides from the levels alone, without rebuilding the previous reading.
            and rules.docsis_clean_unchanged(line, th.docsis, th.pnm)
        ):
            lines = _NO_FINDINGS
        if lines is None:
            prev = None
            elapsed = 0.0
            if has_prev and a.counters is not None:
                prev = prev_reading(a.counters, a.counters_key, a.prev_uptime)
                elapsed = rec.started_at - (a.prev_at or 0.0)
            lines = rules.line_findings(res, prev, elapsed, th.docsis, th.dsl, th.gpon, th.pnm)
        if isinstance(line, DocsisLine):
            self._note_echo(a, line)
        values = predark.point(line, bool(lines), th.docsis)
        if values is not None:
            a.trend = predark.push(a.trend, rec.started_at, values, th.trend.window_s)
        slim = slim_snmp(rec, res, self._interner, a.account)
        a.snmp = slim
        a.line_memo = (slim, lines if lines else _NO_FINDINGS)
        a.prev_at, a.prev_uptime = rec.started_at, res.sys_uptime_s
        a.counters, a.counters_key = pack_rest(res), key

    def _apply_headend(self, rec: ProbeRecord, touched: dict[str, _Account]) -> None:
        """A headend poll: each row matched to an inventory line (the agent set its
        ``account``) becomes that account's headend view. A headend that did not
        answer changes no account: its views just age out ([headend] fresh_s)."""
        res = rec.result
        if not isinstance(res, HeadendReading):
            self.headend_errors += 1
            return
        at = rec.started_at
        accounts = self._accounts
        rows: list[tuple[str | None, HeadendView | None]] = []
        rows += [(m.account, headend_rules.view_of_modem(m, at, res.headend)) for m in res.modems]
        rows += [(p.account, headend_rules.view_of_port(p, at, res.headend)) for p in res.ports]
        rows += [(o.account, headend_rules.view_of_ont(o, at, res.headend)) for o in res.onts]
        for account, view in rows:
            if account is None or view is None:
                continue
            a = accounts.get(account)
            if a is None:
                self.headend_unmatched += 1
                continue
            if a.headend is not None and a.headend.at > at:
                continue
            a.headend = view
            if a.last_attempt is None or at > a.last_attempt:
                a.last_attempt = at
            touched[account] = a

    def _note_echo(self, a: _Account, line: DocsisLine) -> None:
        """Keep the modem's strongest upstream echo on its node, if worth grouping."""
        node = self._nodes[a.node]
        echo = strongest_echo(a.account, line.pre_eq) if line.pre_eq else None
        if echo is not None and echo.level_dbc >= self.th.pnm.echo_monitor_dbc:
            node.echoes[a.account] = echo
        elif node.echoes:
            node.echoes.pop(a.account, None)

    def _note_throughput(self, a: _Account) -> bool:
        tp = a.throughput
        if tp is None or not isinstance(tp.result, ThroughputResult):
            return False
        ratio = rules.throughput_ratio(tp.result, a.plan_down_mbps)
        node = self._nodes.get(a.node)
        if ratio is None or node is None:
            return False
        node.tp[a.account] = (tp.started_at, ratio)
        return True

    def _update_dark(self, a: _Account) -> None:
        snmp = a.snmp
        ping = a.ping
        stale_after = self.th.freshness.stale_after_s
        ping_result = None
        if (
            snmp is not None
            and ping is not None
            and ping.started_at >= snmp.started_at - stale_after
        ):
            ping_result = ping.result
        node = self._nodes[a.node]
        view = headend_rules.fresh(a.headend, snmp.started_at if snmp else 0.0,
                                   self.th.headend.fresh_s)
        unreachable = snmp is not None and rules.is_unreachable(snmp.result, ping_result)
        # The headend's word: a line it sees up is not dark (our management path is the
        # problem, not the node); one it sees offline after our last answer is dark.
        if view is not None and view.state == "operational":
            unreachable = False
        head_dark = (
            a.headend is not None
            and a.headend.state == "offline"
            and a.headend.at > (a.last_seen_ok or 0.0)
        )
        if unreachable or head_dark:
            if a.dark_since is None:
                starts = [t for t in (
                    snmp.started_at if unreachable and snmp is not None else None,
                    a.headend.at if head_dark and a.headend is not None else None,
                ) if t is not None]
                a.dark_since = min(starts)
            node.dark[a.account] = a.dark_since
        else:
            a.dark_since = None
            node.dark.pop(a.account, None)

    def _evaluate_node(self, node: _Node, now: float, out: EngineOutput) -> bool:
        """Outage and plant fault open/keep/close; True when either changed in a way
        every account of the node must see (re-judge the whole node)."""
        node.unreachable = len(node.dark)
        d = evaluate_outage(
            accounts=node.accounts,
            dark_since=node.dark.values(),
            outage=node.outage,
            since=node.outage_since,
            clear_since=node.clear_since,
            now=now,
            th=self.th.outage,
        )
        flipped = d.outage != node.outage
        node.outage, node.outage_since, node.clear_since = d
        if flipped:
            out.node_states.append(NodeState(node=node.node, outage=d.outage, since=d.since))
        p = evaluate_plant(
            dark=node.dark,
            members=node.plant,
            since=node.plant_since,
            clear_since=node.plant_clear_since,
            outage=node.outage,
            now=now,
            th=self.th.plant,
        )
        plant_changed = p.members != node.plant or p.since != node.plant_since
        if plant_changed:
            self._plant_events(node, p.members, p.since, now, out)
        node.plant, node.plant_since, node.plant_clear_since = p
        node.plant_confirmed = p.since is not None and (
            node.plant_confirmed or self._plant_told_apart(node, p.since, now))
        if d.clear_since is not None or p.clear_since is not None or (
                p.since is not None and not node.plant_confirmed):
            self._clearing.add(node.node)
        else:
            self._clearing.discard(node.node)
        return flipped or plant_changed

    def _plant_told_apart(self, node: _Node, since: float, now: float) -> bool:
        """Whether a plant fault begun at ``since`` is more than the first modems
        of an area outage: every other modem of the node that has ever answered
        has answered since (it is not dark, it is up), or ``confirm_s`` went by.

        Polls of one node spread over a whole poll cycle, so a node going dark
        shows first as a few dark modems: announcing a plant fault then would
        send a technician to a tap while the whole node is down."""
        if now - since >= self.th.plant.confirm_s:
            return True
        accounts, dark = self._accounts, node.dark
        for name in node.members:
            if name in dark:
                continue
            seen = accounts[name].last_seen_ok
            if seen is not None and seen < since:
                return False  # not heard from since: it may be dark too
        return True

    def _plant_events(
        self, node: _Node, members: dict[str, float], since: float | None, now: float,
        out: EngineOutput,
    ) -> None:
        """Timeline entries for accounts joining or leaving a plant fault."""
        old = node.plant
        event_id = plant_event_id(node.node, since if members else node.plant_since)
        for account in members.keys() - old.keys():
            out.events.append(Event(
                account=account, kind="plant_fault", at=now,
                text=f"part of plant fault {event_id}: {len(members)} modems on node "
                f"{node.node} dark together",
                data={"event": event_id, "members": len(members)},
            ))
        for account in old.keys() - members.keys():
            out.events.append(Event(
                account=account, kind="plant_fault", at=now,
                text=f"no longer part of plant fault {event_id}",
                data={"event": event_id, "members": len(members), "cleared": True},
            ))

    def _evaluate_degraded(self, node: _Node, now: float) -> bool:
        d = evaluate_degraded(node.tp.values(), now, self.th.degraded)
        changed = d.degraded != node.degraded or (
            d.degraded and (d.tests, d.below) != (node.tests, node.below)
        )
        node.degraded, node.tests, node.below = d.degraded, d.tests, d.below
        when = d.next_change + _EPS if d.next_change is not None else None
        if when is not None and when != node.tp_recheck_at:
            node.tp_recheck_at = when
            heapq.heappush(self._node_rechecks, (when, node.node))
        return changed

    # --- judging ----------------------------------------------------------------------------------

    def _judge_many(self, accounts: Iterable[_Account], now: float, out: EngineOutput) -> None:
        for a in accounts:
            out.judged += 1
            v, changed = self._build(a, now)
            if changed:
                self._set_verdict(a, v)
                out.verdicts.append(v)
            self._schedule(a, now)

    def _build(self, a: _Account, now: float) -> tuple[Verdict, bool]:
        """Judge; reuse the current Verdict when neither name nor evidence changed."""
        node = self._nodes[a.node]
        j = judge_account(a, node, self.th, now)
        old = a.verdict
        if (
            old is not None
            and old.verdict == j.verdict
            and old.evidence == j.evidence
            and old.node == a.node
        ):
            return old, False
        if old is not None and old.verdict == j.verdict:
            since = old.since
        else:
            since = j.since_hint if j.since_hint is not None else now
            if old is not None:
                since = max(since, old.since)
        share = self._interner
        v = Verdict(
            account=a.account,
            node=a.node,
            verdict=j.verdict,
            since=since,
            confidence=j.confidence,
            evidence=share.evidence(j.evidence),
            action=share.string(action_for(j.cause, j.params)),
            customer_message=share.messages(customer_message(j.cause, j.params)),
            updated_at=now,
        )
        return v, True

    def _set_verdict(self, a: _Account, v: Verdict) -> None:
        counts = self._nodes[a.node].counts
        if a.verdict is not None:
            counts[a.verdict.verdict] -= 1
        counts[v.verdict] = counts.get(v.verdict, 0) + 1
        a.verdict = v

    def _schedule(self, a: _Account, now: float) -> None:
        """Push the next time this account's verdict could change without new data."""
        th = self.th
        stale_after = th.freshness.stale_after_s
        # Plain ifs, not a generator over candidates: this runs for every judgement.
        nxt: float | None = None
        if a.last_attempt is not None:
            d = a.last_attempt + stale_after
            if d >= now:
                nxt = d
        if a.snmp is not None:
            d = a.snmp.started_at + stale_after
            if d >= now and (nxt is None or d < nxt):
                nxt = d
        if a.ping is not None:
            d = a.ping.started_at + stale_after
            if d >= now and (nxt is None or d < nxt):
                nxt = d
        if a.throughput is not None:
            d = a.throughput.started_at + th.throughput.fresh_s
            if d >= now and (nxt is None or d < nxt):
                nxt = d
        if a.reboots:
            window = th.reboot.loop_window_s
            for r in a.reboots[-th.reboot.loop_count :]:
                d = r + window
                if d >= now and (nxt is None or d < nxt):
                    nxt = d
        if nxt is None:
            a.recheck_at = None
            return
        nxt += _EPS
        a.recheck_at = nxt
        # A later deadline reuses the queued entry (re-pushed when it pops), so a
        # poll every 300 s does not add a heap entry every 300 s.
        if a.queued_at is None or nxt < a.queued_at:
            a.queued_at = nxt
            heapq.heappush(self._rechecks, (nxt, a.account))
