"""On-demand checks: long-poll the collector for jobs and run each at once.

Jobs have their own concurrency lane (they never wait behind the schedule's
semaphore) and their results are spooled with job priority and pushed straight
away, so a support agent waiting on the phone sees a fresh answer in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections.abc import Awaitable, Callable, Mapping

import aiohttp

from agent.metrics import AgentMetrics
from agent.scheduler import ProbeRunner
from probes.model import Job, JobList, ProbeError, ProbeRecord, Target, WireError, decode_as

log = logging.getLogger(__name__)

JobSink = Callable[[list[ProbeRecord]], Awaitable[None]]
_ACCOUNT = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class JobRunner:
    """Runs jobs against the current targets in a lane of ``concurrency``."""

    def __init__(
        self,
        runner: ProbeRunner,
        targets: Callable[[], Mapping[str, Target]],
        sink: JobSink,
        metrics: AgentMetrics,
        concurrency: int,
        clock: Callable[[], float],
    ) -> None:
        self.runner = runner
        self.targets = targets
        self.sink = sink
        self.metrics = metrics
        self.clock = clock
        self._sem = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self.seen: set[str] = set()  # job ids already started (a long poll may repeat one)

    def submit(self, job: Job) -> None:
        if job.job_id in self.seen:
            return
        if len(self.seen) > 100_000:
            self.seen.clear()
        self.seen.add(job.job_id)
        task = asyncio.create_task(self._run(job), name=f"job-{job.job_id[:16]}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job) -> None:
        if not _ACCOUNT.match(job.account) or len(job.job_id) > 256:
            log.warning("ignoring malformed job %r", job.job_id[:64])
            self.metrics.jobs.labels("invalid").inc()
            return
        target = self.targets().get(job.account)
        async with self._sem:
            if target is None:
                now = self.clock()
                records = [
                    ProbeRecord(
                        account=job.account, probe=kind, started_at=now, duration_s=0.0,
                        result=ProbeError(kind="config", message="account not assigned to agent"),
                        job_id=job.job_id,
                    )
                    for kind in job.probes
                ]
                outcome = "unknown_account"
            else:
                records = await self.runner.run_many(list(job.probes), target, job.job_id)
                outcome = "ok"
            await self.sink(records)
        self.metrics.jobs.labels(outcome).inc()

    async def stop(self, grace_s: float) -> None:
        if not self._tasks:
            return
        _, pending = await asyncio.wait(list(self._tasks), timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5.0)


class JobPoller:
    """``GET /v1/agents/{agent}/jobs?wait=S`` in a loop; start() / stop()."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        jobs: JobRunner,
        *,
        collector_url: str,
        agent: str,
        wait_s: float = 25.0,
        backoff_max_s: float = 10.0,
    ) -> None:
        self.session = session
        self.jobs = jobs
        self.url = f"{collector_url.rstrip('/')}/v1/agents/{agent}/jobs"
        self.wait_s = wait_s
        self.backoff_max_s = backoff_max_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="job-poller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def poll_once(self) -> list[Job]:
        timeout = aiohttp.ClientTimeout(total=self.wait_s + 15)
        async with self.session.get(
            self.url, params={"wait": f"{self.wait_s:g}"}, timeout=timeout
        ) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {body[:200].decode('utf-8', 'replace')}")
        return decode_as(body, JobList).jobs

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                jobs = await self.poll_once()
            except (aiohttp.ClientError, TimeoutError, OSError, RuntimeError, WireError) as exc:
                log.debug("job poll failed: %s", exc)
                await asyncio.sleep(random.uniform(backoff / 2, backoff))
                backoff = min(self.backoff_max_s, backoff * 2)
                continue
            backoff = 0.5
            for job in jobs:
                self.jobs.submit(job)
