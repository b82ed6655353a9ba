"""Unauthenticated operational routes: health, metrics, the OpenAPI document."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from collector.metrics import CONTENT_TYPE
from collector.openapi import openapi_document_bytes
from collector.routes.common import COLLECTOR, METRICS, Route, answer
from collector.routes.types import HealthAnswer

log = logging.getLogger("linewatch.collector")


async def get_healthz(request: web.Request) -> web.Response:
    """200 while the store answers within 2 s, else 503 (load balancers drain us)."""
    try:
        await asyncio.wait_for(request.app[COLLECTOR].store.count_targets(), 2.0)
    except Exception as exc:  # any store failure means "not healthy", never a crash
        log.warning("health check: store unavailable: %s", type(exc).__name__)
        return answer(HealthAnswer(status="unavailable", detail="store unavailable"), 503)
    return answer(HealthAnswer(status="ok"))


async def get_metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


async def get_openapi(request: web.Request) -> web.Response:
    return web.Response(body=openapi_document_bytes(), content_type="application/json")


ROUTES = [
    Route("GET", "/healthz", get_healthz, None),
    Route("GET", "/metrics", get_metrics, None),
    Route("GET", "/v1/openapi.json", get_openapi, None),
]
