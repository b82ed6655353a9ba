"""The HTTP API: one route table (method, path template, handler, roles)
that the auth middleware, the metrics and the OpenAPI test all read."""

from __future__ import annotations

from collector.routes import admin, agents, ops, outages, support
from collector.routes.common import Route

ROUTES: list[Route] = [
    *support.ROUTES, *outages.ROUTES, *agents.ROUTES, *admin.ROUTES, *ops.ROUTES
]

__all__ = ["ROUTES", "Route"]
