"""Admin routes: inventory import (CSV or JSON: lines, or headends)."""

from __future__ import annotations

from aiohttp import web

from collector.routes.common import COLLECTOR, ApiError, Route, answer, read_body
from collector.routes.types import InventoryAnswer, InventoryUpload
from collector.service import Collector
from probes.inventory import InventoryError, check_hosts, parse_inventory_document
from probes.model import Headend, Target, WireError, decode_as

ADMIN = ("admin",)


async def put_inventory(request: web.Request) -> web.Response:
    """Upserts by account / headend id (rows absent from the upload are kept).
    CSV: the lines CSV, or the headends CSV (told apart by its header). JSON: a
    list of Targets, or {"targets": [...], "headends": [...]}."""
    collector = request.app[COLLECTOR]
    body = await read_body(request, collector.config)
    targets: list[Target]
    headends: list[Headend]
    if request.content_type == "text/csv":
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ApiError(400, "CSV must be UTF-8") from None
        try:
            targets, headends = parse_inventory_document(text)
        except InventoryError as exc:
            raise ApiError(422, str(exc)) from None
    elif request.content_type == "application/json":
        try:
            if body.lstrip()[:1] == b"{":
                upload = decode_as(body, InventoryUpload)
                targets, headends = upload.targets, upload.headends
            else:
                targets, headends = decode_as(body, list[Target]), []
        except WireError as exc:
            raise ApiError(400 if "malformed" in str(exc).lower() else 422, str(exc)) from None
        try:  # as the CSV's hosts: bad ones refused now, not unresolved at poll time
            targets, headends = check_hosts(targets, headends)
        except InventoryError as exc:
            raise ApiError(400, str(exc)) from None
    else:
        raise ApiError(415, "Content-Type must be text/csv or application/json")
    await _check_ids(collector, targets, headends)
    written = await collector.import_inventory(targets) if targets or not headends else 0
    headends_written = await collector.import_headends(headends) if headends else 0
    return answer(InventoryAnswer(targets=written, headends=headends_written))


async def _check_ids(
    collector: Collector, targets: list[Target], headends: list[Headend]
) -> None:
    """A headend's readings are stored under its id as if it were an account, so
    the two name spaces must not meet (422 naming the id)."""
    if not targets and not headends:
        return
    headend_ids = {h.headend for h in headends}
    if targets:
        headend_ids |= {h.headend for h in await collector.store.list_headends()}
    both = sorted(headend_ids & ({t.account for t in targets} | collector.targets.keys()))
    if both:
        raise ApiError(422, f"headend id {both[0]} is also an account")


ROUTES = [Route("PUT", "/v1/inventory", put_inventory, ADMIN)]
