"""On-demand checks: the broker between a support request and the owning agent.

``POST /v1/accounts/{account}/check`` submits a ``Job`` for the agent that owns
the account and waits on a future. The agent picks the job up on its long poll
(``GET /v1/agents/{agent}/jobs?wait=S``), runs the probes and pushes the
results through normal ingest with ``job_id`` set; ingest calls ``arrived``,
which resolves the future once every requested probe kind has reported.

State is in memory on purpose: a check is a conversation of at most a minute.
With several collectors behind a load balancer the agent's long poll and the
support request must reach the same collector (sticky routing by agent).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from probes.model import Job, ProbeKind

# Jobs nobody collected within this long are dropped (the check already timed out).
PENDING_TTL_S = 300.0
MAX_PENDING_PER_AGENT = 1000


@dataclass
class _Pending:
    job: Job
    agent: str
    waiting: set[str]
    done: asyncio.Future[None]
    picked_up: bool = False


@dataclass
class _AgentQueue:
    jobs: list[Job] = field(default_factory=list)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    last_poll: float = 0.0


class JobBroker:
    """Lifecycle: create inside the running loop; ``close()`` cancels all waiters."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}
        self._queues: dict[str, _AgentQueue] = {}

    def _queue(self, agent: str) -> _AgentQueue:
        queue = self._queues.get(agent)
        if queue is None:
            queue = self._queues[agent] = _AgentQueue()
        return queue

    def submit(self, agent: str, account: str, probes: Sequence[ProbeKind]) -> Job:
        self._expire()
        queue = self._queue(agent)
        if len(queue.jobs) >= MAX_PENDING_PER_AGENT:
            dropped = queue.jobs.pop(0)
            self._finish(dropped.job_id)
        job = Job(
            job_id=secrets.token_urlsafe(12),
            account=account,
            probes=list(dict.fromkeys(probes)),
            created_at=time.time(),
        )
        loop = asyncio.get_running_loop()
        self._pending[job.job_id] = _Pending(
            job=job, agent=agent, waiting=set(job.probes), done=loop.create_future()
        )
        queue.jobs.append(job)
        queue.wakeup.set()
        return job

    async def wait_result(self, job_id: str, timeout_s: float) -> str:
        """``fresh`` when every requested probe reported within the timeout,
        ``timeout`` when the agent took the job but did not finish, ``no_agent``
        when no agent collected it. The job is forgotten either way."""
        pending = self._pending.get(job_id)
        if pending is None:
            return "no_agent"
        try:
            await asyncio.wait_for(asyncio.shield(pending.done), timeout_s)
            return "fresh"
        except TimeoutError:
            return "timeout" if pending.picked_up else "no_agent"
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # our caller is being cancelled
            # close() on shutdown: answer with the last known verdict.
            return "timeout" if pending.picked_up else "no_agent"
        finally:
            self._finish(job_id)

    async def take(self, agent: str, wait_s: float) -> list[Job]:
        """Jobs for ``agent``; waits up to ``wait_s`` for one to arrive (long poll)."""
        queue = self._queue(agent)
        queue.last_poll = time.time()
        if not queue.jobs and wait_s > 0:
            queue.wakeup.clear()
            try:
                await asyncio.wait_for(queue.wakeup.wait(), wait_s)
            except TimeoutError:
                pass
        jobs, queue.jobs = queue.jobs, []
        queue.wakeup.clear()
        queue.last_poll = time.time()
        for job in jobs:
            pending = self._pending.get(job.job_id)
            if pending is not None:
                pending.picked_up = True
        return jobs

    def arrived(self, job_id: str, account: str, probes: Iterable[str]) -> None:
        """Ingest saw records for ``job_id``; resolve once all kinds are in.
        Records naming another account than the job's do not count."""
        pending = self._pending.get(job_id)
        if pending is None or pending.done.done() or pending.job.account != account:
            return
        pending.waiting.difference_update(probes)
        if not pending.waiting:
            pending.done.set_result(None)

    def last_poll(self, agent: str) -> float | None:
        queue = self._queues.get(agent)
        return queue.last_poll if queue and queue.last_poll else None

    def most_recent_agent(self) -> str | None:
        polled = [(q.last_poll, name) for name, q in self._queues.items() if q.last_poll]
        return max(polled)[1] if polled else None

    def _finish(self, job_id: str) -> None:
        pending = self._pending.pop(job_id, None)
        if pending is None:
            return
        if not pending.done.done():
            pending.done.cancel()
        queue = self._queues.get(pending.agent)
        if queue is not None:
            queue.jobs = [j for j in queue.jobs if j.job_id != job_id]

    def _expire(self) -> None:
        cutoff = time.time() - PENDING_TTL_S
        for job_id in [j for j, p in self._pending.items() if p.job.created_at < cutoff]:
            self._finish(job_id)

    def close(self) -> None:
        for job_id in list(self._pending):
            self._finish(job_id)
        for queue in self._queues.values():
            queue.wakeup.set()
