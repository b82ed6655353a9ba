"""The agent daemon: wires targets, scheduler, jobs, spool, pusher and /metrics.

Lifecycle: ``start()`` opens the spool and starts everything; ``stop()`` stops
scheduling, lets in-flight probes finish within ``shutdown_grace_s`` (then
cancels them), commits every result to the spool, tries one final push within
``final_push_s`` and closes. A result is accepted once the spool has it, so
nothing accepted is lost across a stop, a crash or a collector outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import aiohttp

from agent.config import AgentConfig, ConfigError
from agent.headends import HeadendScheduler
from agent.inventory import (
    ASSIGNMENT_META_KEY,
    AssignmentError,
    decode_cached,
    encode_assignment,
    fetch_assignment,
    load_local,
    load_local_headends,
)
from agent.jobs import JobPoller, JobRunner
from agent.metrics import AgentMetrics, MetricsServer
from agent.push import Pusher, client_ssl_context
from agent.scheduler import ProbeRunner, Scheduler
from agent.spool import PRIO_JOB, PRIO_SCHEDULED, Spool
from probes.base import Probe
from probes.model import Headend, ProbeKind, ProbeRecord, Target, encode
from probes.resolve import Resolver

if TYPE_CHECKING:
    from probes.snmp.headend import HeadendProbe

log = logging.getLogger(__name__)


def build_probes(config: AgentConfig) -> dict[str, Probe]:
    """The real probes, configured from the agent config. A probe whose module is
    missing or whose configuration is unusable is left out (its runs then answer
    ProbeError(kind="config")), and that is logged."""
    probes: dict[str, Probe] = {}
    r = config.resolver
    # One resolver for every probe: a name is looked up once per TTL, not per probe.
    resolver = Resolver(ttl_s=r.ttl_s, negative_ttl_s=r.negative_ttl_s, timeout_s=r.timeout_s,
                        max_entries=r.max_entries)
    if config.snmp.enabled:
        try:
            from probes.snmp.credentials import SnmpCredentials
            from probes.snmp.probe import SnmpProbe

            creds = {
                name: SnmpCredentials(
                    **{k: v for k, v in section.resolved(name).items() if v is not None}
                )
                for name, section in config.credentials.items()
            }
            probes["snmp"] = SnmpProbe(
                creds, timeout_s=config.snmp.timeout_s, retries=config.snmp.retries,
                resolver=resolver,
            )
        except ImportError as exc:
            log.error("SNMP probe unavailable: %s", exc)
    if config.ping.enabled:
        try:
            from probes.ping import PingProbe

            probes["ping"] = PingProbe(
                count=config.ping.count,
                interval_s=config.ping.interval_s,
                timeout_s=config.ping.timeout_s,
                resolver=resolver,
            )
        except ImportError as exc:
            log.error("ping probe unavailable: %s", exc)
    try:
        from probes.throughput import ThroughputProbe

        probes["throughput"] = ThroughputProbe(
            duration_s=config.throughput.duration_s,
            streams=config.throughput.streams,
            timeout_s=config.throughput.timeout_s,
            resolver=resolver,
        )
    except ImportError as exc:
        log.warning("throughput probe unavailable: %s", exc)
    try:
        from probes.path import PathProbe

        probes["path"] = PathProbe(
            max_hops=config.path.max_hops,
            tcp_port=config.path.tcp_port,
            timeout_s=config.path.timeout_s,
            resolver=resolver,
        )
    except ImportError as exc:
        log.warning("path probe unavailable: %s", exc)
    return probes


def build_headend_probe(config: AgentConfig, snmp: object) -> HeadendProbe | None:
    """The headend probe on the SNMP probe's transport (None: [headend] off, no SNMP)."""
    from probes.snmp.headend import HeadendProbe
    from probes.snmp.headend_profiles import HeadendProfileError
    from probes.snmp.probe import SnmpProbe

    h = config.headend
    if not h.enabled or not isinstance(snmp, SnmpProbe):
        return None
    try:
        return HeadendProbe(
            snmp, profiles=h.profiles, timeout_s=h.timeout_s, retries=h.retries,
            max_rows=h.max_rows, max_time_s=h.max_time_s,
        )
    except HeadendProfileError as exc:
        raise ConfigError(f"headend.profiles: {exc}") from None


class AgentDaemon:
    def __init__(
        self,
        config: AgentConfig,
        probes: Mapping[str, Probe] | None = None,
        clock: Callable[[], float] = time.time,
        headend_probe: HeadendProbe | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.metrics = AgentMetrics()
        self._own_probes = probes is None
        self.probes: Mapping[str, Probe] = build_probes(config) if probes is None else probes
        self.metrics.watch_probes(self.probes)
        a = config.agent
        self.spool = Spool(
            a.spool_path, a.spool_max_records, on_drop=self.metrics.spool_dropped.inc,
            commit_delay_s=a.spool_commit_delay_s,
        )
        self.runner = ProbeRunner(
            self.probes,
            self.metrics,
            deadline_s=a.probe_deadline_s,
            throughput_deadline_s=config.throughput.timeout_s + config.throughput.duration_s,
            clock=clock,
        )
        kinds: list[ProbeKind] = [k for k in ("snmp", "ping") if k in self.probes]  # type: ignore[misc]
        self.scheduler = Scheduler(
            self.runner,
            self._spool_scheduled,
            self.metrics,
            interval_s=a.interval_s,
            jitter_s=a.jitter_s,
            concurrency=a.concurrency,
            kinds=kinds or ["snmp"],
            throughput_interval_s=a.throughput_interval_s,
            clock=clock,
        )
        self.headend_probe = headend_probe or build_headend_probe(
            config, self.probes.get("snmp")
        )
        self.headend_scheduler: HeadendScheduler | None = None
        if self.headend_probe is not None:
            self.headend_scheduler = HeadendScheduler(
                self.headend_probe, self._spool_scheduled, self.metrics,
                interval_s=config.headend.interval_s,
                concurrency=config.headend.concurrency, clock=clock,
            )
        token = a.resolve_token()
        try:
            self._ssl = client_ssl_context(
                a.collector_url, a.ca_file, a.client_cert, a.client_key
            )
        except OSError as exc:  # missing file, not PEM, key not matching the cert
            raise ConfigError(f"agent.{exc}") from None
        self.pusher = Pusher(
            self.spool,
            self.metrics,
            agent=a.name,
            collector_url=a.collector_url,
            token=token,
            batch_max_records=a.batch_max_records,
            push_interval_s=a.push_interval_s,
            timeout_s=a.push_timeout_s,
            backoff_max_s=a.push_backoff_max_s,
            ssl_context=self._ssl,
            interval_s=a.interval_s,
        )
        self.jobs = JobRunner(
            self.runner,
            lambda: self.scheduler.targets,
            self._spool_job,
            self.metrics,
            a.job_concurrency,
            clock,
        )
        self._token = token
        self._session: aiohttp.ClientSession | None = None
        self._poller: JobPoller | None = None
        self._assignment_task: asyncio.Task[None] | None = None
        self._metrics_server: MetricsServer | None = None
        self.targets_loaded = asyncio.Event()

    def __repr__(self) -> str:
        return f"AgentDaemon(config={self.config!r})"

    @property
    def metrics_port(self) -> int | None:
        return self._metrics_server.bound_port if self._metrics_server else None

    # -- sinks -------------------------------------------------------------------
    async def _spool_scheduled(self, records: list[ProbeRecord]) -> None:
        await self.spool.append([encode(r) for r in records], PRIO_SCHEDULED)
        self.metrics.spool_records.set(self.spool.count)
        if self.spool.count >= self.config.agent.batch_max_records:
            self.pusher.push_soon()

    async def _spool_job(self, records: list[ProbeRecord]) -> None:
        await self.spool.append([encode(r) for r in records], PRIO_JOB)
        self.metrics.spool_records.set(self.spool.count)
        self.pusher.push_soon()

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        a = self.config.agent
        await self.spool.open()
        self.metrics.spool_records.set(self.spool.count)
        for probe in self.probes.values():
            start = getattr(probe, "start", None)
            if start is not None:
                await start()
        if a.metrics_listen:
            self._metrics_server = MetricsServer(self.metrics, a.metrics_listen)
            await self._metrics_server.start()
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        self._session = aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True),
        )
        if not a.inventory:
            cached = decode_cached(await self.spool.get_meta(ASSIGNMENT_META_KEY))
            if cached is not None:
                self._set_targets(cached.targets, "cached assignment", cached.headends)
        await self.scheduler.start()
        if self.headend_scheduler is not None:
            await self.headend_scheduler.start()
        await self.pusher.start()
        self._assignment_task = asyncio.create_task(self._assignment_loop(), name="assignment")
        self._poller = JobPoller(
            self._session, self.jobs, collector_url=a.collector_url, agent=a.name,
            wait_s=a.job_wait_s, backoff_max_s=a.push_backoff_max_s,
        )
        await self._poller.start()
        # Long-lived from here (modules, pysnmp's MIB tables, targets, schedule): keep
        # the cyclic GC's full collections, which every few hundred polls' garbage
        # triggers, from walking them again (~10 % of a full DOCSIS poll's CPU).
        gc.collect()
        gc.freeze()
        log.info(
            "agent %s started: interval %g s, concurrency %d, spool %s (%d records held)",
            a.name, a.interval_s, a.concurrency, a.spool_path, self.spool.count,
        )

    async def stop(self) -> None:
        a = self.config.agent
        log.info("agent %s stopping", a.name)
        if self._poller is not None:
            await self._poller.stop()
        if self._assignment_task is not None:
            self._assignment_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._assignment_task
        await asyncio.gather(
            self.scheduler.stop(a.shutdown_grace_s), self.jobs.stop(a.shutdown_grace_s),
            *([self.headend_scheduler.stop(a.shutdown_grace_s)]
              if self.headend_scheduler is not None else []),
        )
        await self.spool.flush()
        await self.pusher.stop(final_push_s=a.final_push_s)
        held = self.spool.count
        await self.spool.close()
        if self._own_probes:
            for probe in self.probes.values():
                with contextlib.suppress(Exception):
                    await probe.aclose()
        if self._session is not None:
            await self._session.close()
        if self._metrics_server is not None:
            await self._metrics_server.stop()
        log.info("agent %s stopped; %d records left in the spool for next time", a.name, held)

    # -- targets -----------------------------------------------------------------
    def _set_targets(
        self, targets: list[Target], source: str, headends: list[Headend] | None = None
    ) -> None:
        self.scheduler.set_targets(targets)
        if self.headend_scheduler is not None and headends is not None:
            self.headend_scheduler.set(headends, targets)
        self.targets_loaded.set()
        log.info("%d targets%s from %s", len(targets),
                 f" and {len(headends)} headends" if headends else "", source)

    async def refresh_targets(self) -> None:
        a = self.config.agent
        if a.inventory:
            targets = await load_local(a.inventory, a.name)
            headends = self.config.headend.inventory
            self._set_targets(
                targets, a.inventory,
                await load_local_headends(headends, a.name) if headends else [],
            )
            return
        assert self._session is not None
        assignment = await fetch_assignment(self._session, a.collector_url, a.name)
        self._set_targets(assignment.targets, "collector assignment", assignment.headends)
        await self.spool.set_meta(ASSIGNMENT_META_KEY, encode_assignment(assignment))

    async def _assignment_loop(self) -> None:
        a = self.config.agent
        retry = 1.0
        while True:
            try:
                await self.refresh_targets()
            except AssignmentError as exc:
                log.warning("%s (keeping %d targets)", exc, len(self.scheduler.targets))
                await asyncio.sleep(min(retry, a.assignment_refresh_s))
                retry = min(retry * 2, 60.0)
                continue
            retry = 1.0
            await asyncio.sleep(a.assignment_refresh_s)
