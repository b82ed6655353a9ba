"""Agent routes: ingest, assignment, job long poll.

Any ``agent`` token may act for any agent name. Agents are fleet
infrastructure run by the operator (not customers or support staff), and
binding names would make a token rotation or an agent rename a two-place
change; ``Batch.agent`` still records which agent sent what. An operator who
wants separation runs one collector per trust domain.

Rows without an ``agent`` column are in every agent's assignment unless the
config names a ``default_agent`` (see collector/config.py).
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from collector.routes.common import (
    COLLECTOR,
    ApiError,
    Route,
    answer,
    read_body,
    require_json,
)
from collector.routes.types import IngestAnswer
from probes.model import Assignment, JobList, WireError, decode_batch

AGENT = ("agent",)
log = logging.getLogger("linewatch.collector.ingest")


async def post_ingest(request: web.Request) -> web.Response:
    """Errors raised here are counted in linewatch_ingest_errors_total by the
    error middleware (ApiError.metric)."""
    collector = request.app[COLLECTOR]
    require_json(request)
    body = await read_body(request, collector.config)
    started = time.perf_counter()
    try:
        # Large bodies decode in a thread (~35 us a DOCSIS record) to keep the loop free.
        batch = decode_batch(body) if len(body) < 65536 else await asyncio.to_thread(
            decode_batch, body
        )
    except WireError as exc:
        reason = str(exc)
        if reason.startswith("malformed JSON"):
            raise ApiError(400, reason, "json") from None
        raise ApiError(422, reason, "schema") from None
    result = await collector.ingest(batch)
    collector.metrics.ingest_duration.observe(time.perf_counter() - started)
    return answer(
        IngestAnswer(batch_id=result.batch_id, accepted=result.accepted, duplicate=result.duplicate)
    )


def _agent_param(request: web.Request) -> str:
    agent = request.match_info["agent"]
    if not 1 <= len(agent) <= 256:
        raise ApiError(400, "agent name must be 1-256 characters")
    return agent


async def get_assignment(request: web.Request) -> web.Response:
    collector = request.app[COLLECTOR]
    agent = _agent_param(request)
    return answer(Assignment(agent=agent, targets=collector.assignment(agent)))


async def get_jobs(request: web.Request) -> web.Response:
    collector = request.app[COLLECTOR]
    agent = _agent_param(request)
    try:
        wait = float(request.query.get("wait", "0"))
    except ValueError:
        raise ApiError(400, "wait must be seconds") from None
    if not 0 <= wait < float("inf"):
        raise ApiError(400, "wait must be >= 0")
    wait = min(wait, collector.config.jobs_wait_max_s)
    jobs = await collector.broker.take(agent, wait)
    return answer(JobList(jobs=jobs))


ROUTES = [
    Route("POST", "/v1/ingest", post_ingest, AGENT),
    Route("GET", "/v1/agents/{agent}/assignment", get_assignment, AGENT),
    Route("GET", "/v1/agents/{agent}/jobs", get_jobs, AGENT),
]
