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
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import msgspec
from aiohttp import web

from collector.inflate import Corrupt, TooLarge, inflate
from collector.routes.common import (
    COLLECTOR,
    ApiError,
    Route,
    answer,
    read_wire_body,
    require_json,
)
from collector.routes.types import IngestAnswer
from collector.service import batch_history
from collector.store.base import HistoryPoint
from probes.model import Assignment, Batch, JobList, WireError, decode_batch, record_slices

AGENT = ("agent",)
log = logging.getLogger("linewatch.collector.ingest")
# Bodies up to this size (identity; a quarter of it gzip) are unpacked on the loop.
_INLINE_BYTES = 65536


class _Unpacked(NamedTuple):
    batch: Batch
    record_json: list[msgspec.Raw] | None
    history: list[HistoryPoint] | None
    body: bytes | None  # lean: the body as sent (still in its content coding)


# A large decoded batch is freed here, off the event loop: its ~40,000 objects
# (2,000 DOCSIS records) take ~3 ms to deallocate, a stall for every request.
_reaper = ThreadPoolExecutor(1, thread_name_prefix="lw-ingest-free")


def _unpack(raw: bytes, encoding: str, limit: int, lean: bool) -> _Unpacked:
    """Inflate, validate, slice out each record's JSON (stored as sent, not
    re-encoded) and make the history points: one blocking step, so a large
    batch costs the loop one thread hop instead of several. ``lean``: the
    store makes slices and history from the body itself (in its writer
    process): only inflate and validate here, and hand on the body as sent
    (gzip is ~5x smaller to pass on than the JSON)."""
    try:
        body = inflate(raw, encoding, limit)
    except TooLarge as exc:
        raise ApiError(413, str(exc), "too_large") from None
    except Corrupt as exc:
        raise ApiError(400, str(exc), "json") from None
    try:
        batch = decode_batch(body)
    except WireError as exc:
        reason = str(exc)
        if reason.startswith("malformed JSON"):
            raise ApiError(400, reason, "json") from None
        raise ApiError(422, reason, "schema") from None
    if lean:
        return _Unpacked(batch, None, None, raw)
    return _Unpacked(batch, record_slices(body), batch_history(batch), None)


async def post_ingest(request: web.Request) -> web.Response:
    """Errors raised here are counted in linewatch_ingest_errors_total by the
    error middleware (ApiError.metric)."""
    collector = request.app[COLLECTOR]
    require_json(request)
    raw, encoding = await read_wire_body(request, collector.config)
    started = time.perf_counter()
    limit = collector.config.max_decompressed_bytes
    lean = collector.wants_body
    # Large bodies (~20 us a DOCSIS record to unpack) go to a thread to keep the loop free.
    if len(raw) < (_INLINE_BYTES if encoding == "identity" else _INLINE_BYTES // 4):
        unpacked = _unpack(raw, encoding, limit, lean)
    else:
        unpacked = await asyncio.to_thread(_unpack, raw, encoding, limit, lean)
    result = await collector.ingest(
        unpacked.batch, record_json=unpacked.record_json, history=unpacked.history,
        body=unpacked.body, body_encoding=encoding,
    )
    if len(raw) >= _INLINE_BYTES // 4:
        box = [unpacked]  # the last reference: freed in the reaper thread
        del unpacked
        _reaper.submit(box.clear)
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
    return answer(Assignment(
        agent=agent, targets=collector.assignment(agent),
        headends=await collector.headend_assignment(agent),
    ))


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
