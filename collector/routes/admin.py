"""Admin routes: inventory import (CSV or JSON list of Targets)."""

from __future__ import annotations

from aiohttp import web

from collector.routes.common import COLLECTOR, ApiError, Route, answer, read_body
from collector.routes.types import InventoryAnswer
from probes.inventory import InventoryError, parse_inventory
from probes.model import Target, WireError, decode_as

ADMIN = ("admin",)


async def put_inventory(request: web.Request) -> web.Response:
    """Upserts by account (accounts absent from the upload are kept)."""
    collector = request.app[COLLECTOR]
    body = await read_body(request, collector.config)
    if request.content_type == "text/csv":
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ApiError(400, "CSV must be UTF-8") from None
        try:
            targets = parse_inventory(text)
        except InventoryError as exc:
            raise ApiError(422, str(exc)) from None
    elif request.content_type == "application/json":
        try:
            targets = decode_as(body, list[Target])
        except WireError as exc:
            raise ApiError(400 if "malformed" in str(exc).lower() else 422, str(exc)) from None
    else:
        raise ApiError(415, "Content-Type must be text/csv or application/json")
    written = await collector.import_inventory(targets)
    return answer(InventoryAnswer(targets=written))


ROUTES = [Route("PUT", "/v1/inventory", put_inventory, ADMIN)]
