"""Judging one account: run the rules on its facts, pick the finding that wins.

``judge_account`` is deterministic: the same facts, node view, thresholds
and time always give the same ``Judgment`` (it only memoises line findings on
the facts). The engine owns the state and decides *when* to judge; this
module decides *what*.

Confidence (0..1) says how much evidence stands behind the verdict: an area
outage scales with the node's unreachable share (less for a modem of that
node that still answers); a dark modem starts at 0.6 after one missed poll
and rises to 0.85, lowered when its node is partly dark too; line, ok and
degraded verdicts fade with the age of the SNMP reading (down to half at the
staleness limit); customer_side with the age of the throughput test.
``unknown`` is certain (1.0): there is no fresh data, and that is a fact.
So is an agent gone silent: its accounts are ``unknown``, saying which agent
and since when, ranked under an area outage only (``rules.PRIORITY``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from collector.model import Evidence, VerdictName
from collector.verdicts import rules
from collector.verdicts.correlation import degraded_finding, outage_finding
from collector.verdicts.messages import format_duration, format_time
from collector.verdicts.rules import RANK, Cause, Finding
from collector.verdicts.rules import headend as headend_rules
from collector.verdicts.rules.headend import HeadendView
from collector.verdicts.rules.plant import plant_finding
from collector.verdicts.thresholds import Thresholds
from probes.model import PingResult, ProbeRecord, SnmpReading, ThroughputResult
from probes.pnm_groups import ModemEcho, group_echoes


class SilentAgent(NamedTuple):
    """The account's agent has pushed nothing for longer than ``limit_s``."""

    agent: str
    since: float  # its last accepted push
    interval_s: float  # its poll cycle
    limit_s: float  # silence after which it counts as down


@dataclass(slots=True)
class AccountFacts:
    """What is known about one account (the engine keeps one per account)."""

    account: str
    node: str
    plan_down_mbps: float
    snmp: ProbeRecord | None = None  # latest SNMP record: reading or ProbeError
    reading: ProbeRecord | None = None  # latest successful SNMP reading
    prev_reading: ProbeRecord | None = None  # the one before, unless a reboot came between
    ping: ProbeRecord | None = None
    throughput: ProbeRecord | None = None  # latest successful ThroughputResult
    last_attempt: float | None = None  # newest record of any kind
    last_seen_ok: float | None = None  # newest time the modem answered
    dark_since: float | None = None  # first unanswered poll of the current dark spell
    reboots: list[float] = field(default_factory=list)  # estimated reboot times, oldest first
    # Line findings of ``snmp`` (they depend on that reading and the previous one
    # only), so re-judging a whole node does not re-run the line rules.
    line_memo: tuple[ProbeRecord, list[Finding]] | None = None
    # Compact points of the recent readings (rules.predark), read when the modem goes dark.
    trend: bytes | None = None
    # What its headend (CMTS, DSLAM, OLT) last said about this line.
    headend: HeadendView | None = None
    # Set while the agent that polls this account is silent (collector.agents).
    silent_agent: SilentAgent | None = None


@dataclass(slots=True)
class NodeFacts:
    """What node correlation concluded about the account's node."""

    node: str
    accounts: int = 0
    unreachable: int = 0
    outage: bool = False
    outage_since: float | None = None
    degraded: bool = False
    tests: int = 0
    below: int = 0
    # Strongest upstream echo per account, at or above [pnm] echo_monitor_dbc: modems
    # sharing one echo signature point at one impairment (probes.pnm_groups).
    echoes: dict[str, ModemEcho] = field(default_factory=dict)
    # The node's open plant fault, if any: its accounts (-> dark since) and start.
    plant: dict[str, float] = field(default_factory=dict)
    plant_since: float | None = None


class Judgment(NamedTuple):
    verdict: VerdictName
    cause: Cause
    evidence: list[Evidence]
    confidence: float
    since_hint: float | None  # when the condition began, if known (outage, dark spell)
    params: dict[str, object]  # values for the action / customer message templates


def ping_for(facts: AccountFacts, now: float, stale_after_s: float) -> ProbeRecord | None:
    """The latest ping if fresh enough to speak for the modem now."""
    p = facts.ping
    return p if p is not None and now - p.started_at <= stale_after_s else None


def _freshness(age_s: float, stale_after_s: float) -> float:
    return max(0.5, 1.0 - 0.5 * max(0.0, age_s) / stale_after_s)


def facts_text(evidence: list[Evidence]) -> str:
    """The facts an action quotes (collector.i18n.words.action_text says them again)."""
    parts = []
    for ev in evidence[:4]:
        unit = f" {ev.unit}" if ev.unit and ev.unit not in ("ratio", "count") else ""
        where = f" on {ev.detail}" if ev.detail and ev.detail.startswith(("down", "up")) else ""
        limit = f" (limit {ev.threshold})" if ev.threshold else ""
        parts.append(f"{ev.fact} {ev.value}{unit}{where}{limit}")
    if len(evidence) > 4:
        parts.append(f"and {len(evidence) - 4} more")
    return "; ".join(parts)


def _headend_dark(facts: AccountFacts, now: float, th: Thresholds) -> Finding | None:
    """Dark by the headend's word: it reports the line offline after our last answer
    (a headend polled every minute sees a dead node before our next modem poll)."""
    view = headend_rules.fresh(facts.headend, now, th.headend.fresh_s)
    if view is None or view.state != "offline" or view.at <= (facts.last_seen_ok or 0.0):
        return None
    return Finding(
        "equipment_fault",
        "dark",
        [
            Evidence(fact="headend_reports_offline", value=view.status,
                     detail=f"{view.kind.upper()} {view.headend} sees the line offline; "
                     "no answer from the modem since"),
            *(
                [Evidence(fact="unreachable_since", value=facts.dark_since, unit="unix_s",
                          detail="first unanswered poll of this dark spell")]
                if facts.dark_since is not None else []
            ),
        ],
    )


def _judge_dark(
    facts: AccountFacts,
    node: NodeFacts,
    th: Thresholds,
    now: float,
    dark: Finding,
    base: dict[str, object],
) -> Judgment:
    """A modem that does not answer, judged from everything known about it: the
    plant fault it is part of, else its readings before the dark, else (clean
    history) the modem or its power — with less confidence, and saying so."""
    since = facts.dark_since
    params = base | {"since": format_time(since)}
    view = headend_rules.fresh(facts.headend, now, th.headend.fresh_s)
    if view is not None:
        params |= {"headend_status": view.status, "state": view.state}
        if view.state == "operational":
            f = headend_rules.management_path(view)
            return Judgment(f.verdict, f.cause, f.evidence + dark.evidence, 0.7, since, params)
    headend_ev = headend_rules.status_evidence(view) if view is not None else []
    # While a plant fault clears (fewer than min_count of it still dark) its last dark
    # modems are judged on their own: a neighbour's brief blip must not make a
    # modem that is dark for its own reasons a plant fault for the whole hold.
    if facts.account in node.plant and len(node.plant) >= th.plant.min_count:
        f = plant_finding(facts.account, node.node, node.plant, node.plant_since,
                          node.accounts, th.plant)
        params |= {
            "since": format_time(node.plant_since),
            "members": len(node.plant),
            "neighbours": f.evidence[1].detail,
            "event": f.evidence[0].value,
        }
        conf = min(0.9, 0.6 + 0.1 * len(node.plant))
        return Judgment(f.verdict, f.cause, f.evidence + dark.evidence, round(conf, 2),
                        node.plant_since, params)
    if view is not None and view.state == "ranging":
        f = headend_rules.ranging(view)
        return Judgment(f.verdict, f.cause, f.evidence + dark.evidence, 0.85, since, params)
    last_findings = facts.line_memo[1] if facts.line_memo is not None else []
    pre, looked_at = rules.before_dark(facts.trend, since if since is not None else now,
                                       last_findings, th)
    if pre is not None:
        params |= {"facts": facts_text(pre.evidence)}
        return Judgment(pre.verdict, pre.cause, pre.evidence + headend_ev + dark.evidence, 0.8,
                        since, params)
    share = node.unreachable / node.accounts if node.accounts else 0.0
    dark.evidence.append(
        Evidence(
            fact="node_unreachable_share",
            value=round(share, 3),
            threshold=f"< {th.outage.min_share:g}",
            unit="ratio",
            detail=f"node {node.node} otherwise fine",
        )
    )
    window = format_duration(th.trend.window_s)
    if looked_at:
        history = f"{len(looked_at)} readings in the {window} before, all in spec and steady"
        dark.evidence.append(Evidence(fact="pre_dark_history", value="clean", detail=history))
        dark_for = now - since if since is not None else 0.0
        # One missed poll could still be the start of an outage: say so in the confidence.
        conf = 0.7 if dark_for >= th.freshness.poll_interval_s else 0.5
    else:
        history = f"no reading in the {window} before the dark: the line cannot be judged"
        dark.evidence.append(Evidence(fact="pre_dark_history", value="none", detail=history))
        conf = 0.4
    if share >= th.outage.clear_share:
        conf -= 0.2
    dark.evidence.extend(headend_ev)
    params |= {"history": history}
    return Judgment(dark.verdict, dark.cause, dark.evidence, round(max(conf, 0.2), 2), since,
                    params)


def _shared_echo(account: str, node: NodeFacts, th: Thresholds) -> list[Evidence]:
    """The neighbours whose pre-equalizers show the same echo as this modem's."""
    pnm = th.pnm
    for group in group_echoes(
        node.node,
        node.echoes.values(),
        delay_tolerance_ns=pnm.echo_group_delay_tolerance_ns,
        level_tolerance_db=pnm.echo_group_level_tolerance_db,
        min_modems=pnm.echo_group_min_modems,
    ):
        if account in group.accounts:
            others = [a for a in group.accounts if a != account]
            return [Evidence(
                fact="shared_echo_modems", value=len(group.accounts), unit="count",
                detail=f"{group.describe()}; with {', '.join(others[:10])}",
            )]
    return []


def judge_account(facts: AccountFacts, node: NodeFacts, th: Thresholds, now: float) -> Judgment:
    """The verdict for one account; ``rules.PRIORITY`` orders competing findings."""
    stale_after = th.freshness.stale_after_s
    base: dict[str, object] = {"node": node.node}

    if node.outage:
        f = outage_finding(
            node=node.node,
            accounts=node.accounts,
            unreachable=node.unreachable,
            since=node.outage_since,
            th=th.outage,
        )
        share = node.unreachable / node.accounts if node.accounts else 0.0
        dark = facts.dark_since is not None
        conf = min(1.0, 0.6 + 0.4 * share) if dark else min(1.0, 0.4 + 0.4 * share)
        f.evidence.append(Evidence(fact="modem_reachable", value=not dark))
        params = base | {
            "since": format_time(node.outage_since),
            "affected": node.accounts,
            "unreachable": node.unreachable,
        }
        return Judgment(f.verdict, f.cause, f.evidence, round(conf, 2), node.outage_since, params)

    silent = facts.silent_agent
    if silent is not None:
        f = rules.agent_silent(*silent)
        params = base | {"agent": silent.agent, "since": format_time(silent.since)}
        return Judgment(f.verdict, f.cause, f.evidence, 1.0, None, params)

    s = rules.stale(facts.last_attempt, now, stale_after)
    if s is not None:
        age = now - facts.last_attempt if facts.last_attempt is not None else 0.0
        return Judgment(
            s.verdict, s.cause, s.evidence, 1.0, None, base | {"age": format_duration(age)}
        )

    snmp = facts.snmp if facts.snmp and now - facts.snmp.started_at <= stale_after else None
    snmp_result = snmp.result if snmp is not None else None
    ping = ping_for(facts, now, stale_after)
    ping_result = ping.result if ping is not None else None

    dark = rules.modem_dark(snmp_result, ping_result, facts.dark_since)
    if dark is None:
        dark = _headend_dark(facts, now, th)
    if dark is not None:
        return _judge_dark(facts, node, th, now, dark, base)

    found: list[Finding] = []
    if facts.reboots or th.reboot.loop_count <= 0:
        loop = rules.reboot_loop(facts.reboots, now, th.reboot)
        if loop is not None:
            found.append(loop)
    reading = snmp_result if isinstance(snmp_result, SnmpReading) else None
    if reading is not None:
        assert snmp is not None
        memo = facts.line_memo
        if memo is not None and memo[0] is snmp:
            found += memo[1]
        else:
            prev = facts.prev_reading
            prev_reading = prev.result if prev is not None else None
            elapsed = snmp.started_at - prev.started_at if prev is not None else 0.0
            lines = rules.line_findings(
                reading,
                prev_reading if isinstance(prev_reading, SnmpReading) else None,
                elapsed,
                th.docsis,
                th.dsl,
                th.gpon,
                th.pnm,
            )
            facts.line_memo = (snmp, lines)
            found += lines
        if reading.interfaces:  # no interfaces: nothing to find
            lan = rules.lan_down(reading)
            if lan is not None:
                found.append(lan)
    if node.degraded:
        found.append(
            degraded_finding(node=node.node, tests=node.tests, below=node.below, th=th.degraded)
        )
    if isinstance(ping_result, PingResult):
        pq = rules.ping_quality(ping_result, th.ping)
        if pq is not None:
            found.append(pq)
    tp = facts.throughput
    if tp is not None and isinstance(tp.result, ThroughputResult):
        tf = rules.throughput_vs_plan(
            tp.result, tp.started_at, facts.plan_down_mbps, now, th.throughput
        )
        if tf is not None:
            found.append(tf)
    if reading is None:  # a reading is never "unusable"
        nosnmp = rules.snmp_unusable(snmp_result)
        if nosnmp is not None:
            found.append(nosnmp)

    snmp_age = now - snmp.started_at if snmp is not None else stale_after
    fresh = _freshness(snmp_age, stale_after)
    if not found:
        ev = [
            Evidence(fact="line_in_spec", value=True, detail="every line check passed"),
            Evidence(fact="modem_reachable", value=True),
        ]
        return Judgment("ok", "ok", ev, round(0.9 * fresh, 2), None, base)

    best = min(found, key=lambda f: RANK[f.cause])
    evidence = [ev for f in found if f.cause == best.cause for ev in f.evidence]
    if best.cause == "line" and facts.account in node.echoes and len(node.echoes) > 1:
        evidence.extend(_shared_echo(facts.account, node, th))
    params = base | {"facts": facts_text(evidence)}
    if best.cause == "reboot_loop":
        params |= {
            "reboots": evidence[0].value,
            "window": format_duration(th.reboot.loop_window_s),
        }
        conf = 0.9
    elif best.cause == "line":
        conf = 0.9 * fresh
    elif best.cause == "node_degraded":
        share = node.below / node.tests if node.tests else 0.0
        conf = min(1.0, 0.5 + 0.5 * share)
        params |= {"below": node.below, "tests": node.tests, "ratio": th.degraded.below_plan_ratio}
    elif best.cause == "customer_side":
        assert tp is not None
        conf = 0.85 * _freshness(now - tp.started_at, th.throughput.fresh_s)
    elif best.cause == "no_snmp":
        conf = 0.5
    else:  # ping, below_plan, lan_down
        conf = 0.7 * fresh
    return Judgment(best.verdict, best.cause, evidence, round(conf, 2), None, params)
