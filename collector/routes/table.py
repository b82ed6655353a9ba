"""The HTTP API's one route table (method, path template, handler, roles)
that the auth middleware, the metrics and the OpenAPI test all read.

A module of its own, not the package's ``__init__``: collector/openapi.py and
collector/lineview.py import ``collector.routes.types``, and a package that
imported every handler module on the way would import them back."""

from __future__ import annotations

from collector.routes import admin, agents, ops, outages, support
from collector.routes.common import Route

ROUTES: list[Route] = [
    *support.ROUTES, *outages.ROUTES, *agents.ROUTES, *admin.ROUTES, *ops.ROUTES
]

__all__ = ["ROUTES", "Route"]
