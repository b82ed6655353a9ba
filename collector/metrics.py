"""Collector metrics (names fixed in docs/CONTRACTS.md).

One ``CollectorRegistry`` per app rather than the global default, so several
apps in one process (tests, the demo) do not clash. Labels are bounded: the
node label only takes nodes from the inventory, the route label is the route
template, never the raw path, and the agent label takes agent names, which the
operator configures (one per agent process, a handful per region).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from collector.model import VERDICTS, NodeSummary

INGEST_ERROR_REASONS = (
    "json", "schema", "too_large", "unauthorized", "forbidden", "store_unavailable", "internal",
)
CHECK_OUTCOMES = ("fresh", "timeout", "no_agent")

CONTENT_TYPE = CONTENT_TYPE_LATEST


class CollectorMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.ingest_batches = Counter(
            "linewatch_ingest_batches", "Pushed batches by outcome", ["outcome"], registry=r
        )
        self.ingest_records = Counter(
            "linewatch_ingest_records", "Accepted probe records by probe", ["probe"], registry=r
        )
        self.ingest_errors = Counter(
            "linewatch_ingest_errors", "Rejected ingest requests by reason", ["reason"], registry=r
        )
        self.ingest_duration = Histogram(
            "linewatch_ingest_duration_seconds",
            "Time from body received to answer, accepted batches",
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.auth_failures = Counter(
            "linewatch_auth_failures",
            "Refused authentications (API and console) by reason",
            ["reason"],
            registry=r,
        )
        for reason in ("missing", "invalid", "rate_limited"):
            self.auth_failures.labels(reason)
        self.accounts = Gauge("linewatch_accounts", "Accounts by verdict", ["verdict"], registry=r)
        self.node_accounts = Gauge(
            "linewatch_node_accounts", "Accounts per node by verdict", ["node", "verdict"],
            registry=r,
        )
        self.node_outage = Gauge(
            "linewatch_node_outage", "1 while the node has an area outage", ["node"], registry=r
        )
        self.node_plant_faults = Gauge(
            "linewatch_node_plant_fault_modems",
            "Modems in the node's open plant fault (several neighbours dark together, short of "
            "an area outage: one dispatch); 0 when none",
            ["node"], registry=r,
        )
        self.verdict_changes = Counter(
            "linewatch_verdict_changes", "Verdict changes by new verdict", ["verdict"], registry=r
        )
        self.stale_accounts = Gauge(
            "linewatch_stale_accounts", "Accounts whose newest data is older than the limit",
            registry=r,
        )
        self.last_ingest = Gauge(
            "linewatch_last_ingest_timestamp_seconds", "Unix time of the last accepted batch",
            registry=r,
        )
        self.agent_last_push = Gauge(
            "linewatch_agent_last_push_timestamp_seconds",
            "Unix time of each agent's last accepted batch", ["agent"], registry=r,
        )
        self.agent_interval = Gauge(
            "linewatch_agent_interval_seconds",
            "Each agent's poll cycle as it last said (silent after three without a push)",
            ["agent"], registry=r,
        )
        self.checks = Counter(
            "linewatch_checks", "On-demand checks by outcome", ["outcome"], registry=r
        )
        self.http_requests = Counter(
            "linewatch_http_requests", "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.http_duration = Histogram(
            "linewatch_http_request_duration_seconds", "HTTP request duration", ["route"],
            registry=r,
        )
        # Pre-create bounded label values so dashboards see zeros, not gaps.
        for reason in INGEST_ERROR_REASONS:
            self.ingest_errors.labels(reason)
        for outcome in ("accepted", "duplicate", "rejected"):
            self.ingest_batches.labels(outcome)
        for outcome in CHECK_OUTCOMES:
            self.checks.labels(outcome)
        for verdict in VERDICTS:
            self.accounts.labels(verdict)
        self._known_nodes: set[str] = set()

    def ingest_error(self, reason: str) -> None:
        self.ingest_errors.labels(reason if reason in INGEST_ERROR_REASONS else "internal").inc()
        self.ingest_batches.labels("rejected").inc()

    def set_verdict_gauges(self, summaries: Sequence[NodeSummary]) -> None:
        """Per-verdict and per-node gauges from the engine's node summaries.

        Nodes come from the inventory only, so the node label stays bounded;
        a node that left the inventory has its series removed.
        """
        totals: Tally[str] = Tally()
        nodes: set[str] = set()
        for s in summaries:
            nodes.add(s.node)
            for verdict in VERDICTS:
                count = s.counts.get(verdict, 0)
                totals[verdict] += count
                self.node_accounts.labels(s.node, verdict).set(count)
            self.node_outage.labels(s.node).set(1 if s.outage else 0)
            self.node_plant_faults.labels(s.node).set(sum(len(p.accounts) for p in s.plant_faults))
        for verdict in VERDICTS:
            self.accounts.labels(verdict).set(totals.get(verdict, 0))
        for node in self._known_nodes - nodes:
            for verdict in VERDICTS:
                _remove(self.node_accounts, node, verdict)
            _remove(self.node_outage, node)
            _remove(self.node_plant_faults, node)
        self._known_nodes = nodes

    def agent_pushed(self, agent: str, at: float, interval_s: float) -> None:
        self.agent_last_push.labels(agent).set(at)
        self.agent_interval.labels(agent).set(interval_s)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _remove(metric: Gauge, *labels: str) -> None:
    try:
        metric.remove(*labels)
    except KeyError:
        pass
