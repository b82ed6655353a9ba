"""Agent metrics (names fixed by docs/CONTRACTS.md) and the /metrics endpoint.

Each agent owns its own CollectorRegistry, so several agents (or tests) can live
in one process. Labels are bounded: probe kind and outcome, never account or IP.
"""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from collections.abc import Iterator, Mapping

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from probes.model import HEADEND_KINDS, PROBE_KINDS, HeadendProblems
from probes.netio import ERROR_KINDS
from probes.resolve import Resolver

_LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
_PROBE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.probes = Counter(
            "linewatch_agent_probes", "Probe runs by kind and outcome (ok or error kind).",
            ["probe", "outcome"], registry=r,
        )
        self.probe_duration = Histogram(
            "linewatch_agent_probe_duration_seconds", "Time one probe took against one target.",
            ["probe"], buckets=_PROBE_BUCKETS, registry=r,
        )
        self.targets = Gauge("linewatch_agent_targets", "Targets scheduled.", registry=r)
        self.spool_records = Gauge(
            "linewatch_agent_spool_records", "Records in the spool awaiting the collector.",
            registry=r,
        )
        self.spool_dropped = Counter(
            "linewatch_agent_spool_dropped", "Oldest records dropped because the spool was full.",
            registry=r,
        )
        self.pushes = Counter(
            "linewatch_agent_pushes", "Batch pushes by outcome.", ["outcome"], registry=r,
        )
        self.push_failures = Counter(
            "linewatch_agent_push_failures",
            "Pushes that failed (connection error or 5xx) and will be retried.", registry=r,
        )
        self.push_tls_errors = Counter(
            "linewatch_agent_push_tls_errors",
            "Pushes that failed in TLS (collector certificate not verified); retried.",
            registry=r,
        )
        self.schedule_lag = Histogram(
            "linewatch_agent_schedule_lag_seconds",
            "How late a scheduled poll started (actual start minus due time).",
            buckets=_LAG_BUCKETS, registry=r,
        )
        self.jobs = Counter(
            "linewatch_agent_jobs", "On-demand jobs by outcome.", ["outcome"], registry=r,
        )
        self.headends = Gauge(
            "linewatch_agent_headends", "Headends (CMTS, DSLAM, OLT) scheduled.", registry=r,
        )
        self.headend_rows = Counter(
            "linewatch_agent_headend_rows",
            "Per-line rows of headend polls by headend kind and outcome (matched to an "
            "inventory line, or unmatched).", ["kind", "outcome"], registry=r,
        )
        self.headend_problems = Counter(
            "linewatch_agent_headend_problems",
            "What headend polls answered that could not go into the reading, by headend "
            "kind and problem (bad_key, duplicate_key, wrong_type, out_of_range, oversize, "
            "walk_errors, truncated).", ["kind", "problem"], registry=r,
        )
        for kind in PROBE_KINDS:  # so rate() sees a zero before the first event
            self.probe_duration.labels(kind)
        for outcome in ("ok", "duplicate", "failed", "rejected"):
            self.pushes.labels(outcome)
        for kind in HEADEND_KINDS:  # bounded: 3 kinds x 2 outcomes / 7 problems
            for outcome in ("matched", "unmatched"):
                self.headend_rows.labels(kind, outcome)
            for problem in (*HeadendProblems.__struct_fields__, "truncated"):
                if problem != "unmatched":
                    self.headend_problems.labels(kind, problem)

    def watch_probes(self, probes: Mapping[str, object]) -> None:
        """Export the kernel errors and socket reopens the probes count themselves
        (read at scrape time: the probes' hot paths only bump a Counter)."""
        self.registry.register(_NetErrorCollector(probes))
        self.registry.register(_ResolverCollector(probes))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _NetErrorCollector(Collector):
    def __init__(self, probes: Mapping[str, object]) -> None:
        self._probes = probes

    def collect(self) -> Iterator[CounterMetricFamily]:
        errors = CounterMetricFamily(
            "linewatch_agent_net_errors",
            "Errors the kernel reported for probe traffic, by probe and kind "
            "(host_unreachable, net_unreachable, prohibited, port_unreachable, "
            "ttl_exceeded, msgsize, no_buffer, other).",
            labels=["probe", "kind"],
        )
        reopens = CounterMetricFamily(
            "linewatch_agent_socket_reopens",
            "Shared probe sockets that failed as a whole and were reopened.",
            labels=["probe"],
        )
        for name, probe in self._probes.items():
            counts = getattr(probe, "net_errors", None)
            if not isinstance(counts, Tally):
                continue
            for kind in ERROR_KINDS:
                errors.add_metric([name, kind], float(counts.get(kind, 0)))
            reopens.add_metric([name], float(getattr(probe, "socket_reopens", 0)))
        yield errors
        yield reopens

    def describe(self) -> Iterator[CounterMetricFamily]:
        return self.collect()


class _ResolverCollector(Collector):
    """The probes' shared name resolver (probes/resolve.py): how its lookups end
    and how full its cache is, read at scrape time (resolve() only bumps ints)."""

    OUTCOMES = ("hit", "miss", "unresolved", "timeout")

    def __init__(self, probes: Mapping[str, object]) -> None:
        self._probes = probes

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        resolvers = {id(r): r for p in self._probes.values()
                     if isinstance(r := getattr(p, "resolver", None), Resolver)}
        counts = dict.fromkeys(self.OUTCOMES, 0)
        entries = 0
        for r in resolvers.values():
            s = r.stats
            counts["hit"] += s.hits
            counts["miss"] += s.lookups - s.failures
            counts["unresolved"] += s.failures - s.timeouts
            counts["timeout"] += s.timeouts
            entries += r.cache_size
        lookups = CounterMetricFamily(
            "linewatch_agent_resolver_lookups",
            "Target names resolved, by outcome: hit (no query of its own: from the cache, "
            "answers and failures alike, or sharing one in flight), miss (asked the system "
            "resolver, got addresses), unresolved (asked, no address), timeout (asked, no "
            "answer within [resolver] timeout_s).",
            labels=["outcome"],
        )
        for outcome in self.OUTCOMES:
            lookups.add_metric([outcome], float(counts[outcome]))
        yield lookups
        yield GaugeMetricFamily(
            "linewatch_agent_resolver_cache_entries",
            "Names in the resolver's cache (at most [resolver] max_entries).", value=entries)

    def describe(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        return self.collect()


class MetricsServer:
    """aiohttp server for GET /metrics and GET /healthz on ``listen`` (HOST:PORT)."""

    def __init__(self, metrics: AgentMetrics, listen: str) -> None:
        self.metrics = metrics
        host, _, port = listen.rpartition(":")
        self.host = host.strip("[]") or "127.0.0.1"
        self.port = int(port)
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if server is not None and getattr(server, "sockets", None):
            self.bound_port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        body = await asyncio.to_thread(self.metrics.exposition)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})
