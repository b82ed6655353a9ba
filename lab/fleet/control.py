"""HTTP/JSON control endpoint of the fleet: state and fault injection.

Routes (no auth: bind it to loopback, it is a lab tool):
- ``GET /fleet``                summary and SNMP counters
- ``GET /nodes``                per node: technology, modems, outage, available_share/_mbps
- ``GET /headends``             each node's CMTS / DSLAM / OLT: id, kind, address, answering
- ``GET /modems?node=&limit=&offset=``   modem states (default limit 1000)
- ``GET /modems/{account}``     one modem's state
- ``GET /faults``               active faults; ``GET /faults/kinds`` kinds and defaults
- ``POST /faults`` ``{"kind", "node" | "account", ...params}`` -> 201 fault
- ``DELETE /faults`` (all; ``?node=`` / ``?account=`` only those) and ``DELETE /faults/{id}``

Congestion is not shaped (no customer traffic flows through the simulator):
its effect is ``available_share`` per node and ``available_mbps`` per modem,
for the lab/demo to feed into throughput checks.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from lab.fleet.faults import FAULT_KINDS, FaultError
from lab.fleet.fleet import Fleet

FLEET_KEY: web.AppKey[Fleet] = web.AppKey("fleet", Fleet)
MAX_BODY = 64 * 1024


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


async def get_fleet(request: web.Request) -> web.Response:
    return web.json_response(request.app[FLEET_KEY].summary())


async def get_headends(request: web.Request) -> web.Response:
    return web.json_response({"headends": request.app[FLEET_KEY].headends.summary()})


async def get_nodes(request: web.Request) -> web.Response:
    return web.json_response({"nodes": request.app[FLEET_KEY].node_summary()})


def _int_arg(request: web.Request, name: str, default: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise FaultError(f"{name} must be an integer") from None
    if not 0 <= value <= hi:
        raise FaultError(f"{name} must be between 0 and {hi}")
    return value


async def get_modems(request: web.Request) -> web.Response:
    fleet = request.app[FLEET_KEY]
    layout = fleet.layout
    try:
        limit = _int_arg(request, "limit", 1000, 100_000)
        offset = _int_arg(request, "offset", 0, layout.modems)
    except FaultError as exc:
        return _error(400, str(exc))
    node = request.query.get("node")
    if node is not None:
        k = layout.node_index(node)
        if k is None:
            return _error(404, f"unknown node {node!r}")
        indices = layout.node_range(k)
    else:
        indices = range(layout.modems)
    page = indices[offset : offset + limit]
    return web.json_response({
        "total": len(indices), "offset": offset,
        "modems": [fleet.modem_state(i) for i in page],
    })


async def get_modem(request: web.Request) -> web.Response:
    fleet = request.app[FLEET_KEY]
    i = fleet.layout.index_of_account(request.match_info["account"])
    if i is None:
        return _error(404, "unknown account")
    return web.json_response(fleet.modem_state(i))


async def get_faults(request: web.Request) -> web.Response:
    faults = request.app[FLEET_KEY].list_faults()
    return web.json_response({"faults": [f.as_dict() for f in faults]})


async def get_fault_kinds(request: web.Request) -> web.Response:
    return web.json_response({
        kind: {"technologies": sorted(techs) if techs else "all", "params": params}
        for kind, (techs, params) in FAULT_KINDS.items()
    })


async def post_fault(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _error(413, "body too large")
    try:
        body: Any = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return _error(400, "body must be JSON")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    kind = body.pop("kind", None)
    node = body.pop("node", None)
    account = body.pop("account", None)
    if not isinstance(kind, str):
        return _error(400, "kind is required")
    if not all(x is None or isinstance(x, str) for x in (node, account)):
        return _error(400, "node and account must be strings")
    try:
        fault = request.app[FLEET_KEY].inject(kind, node=node, account=account, **body)
    except FaultError as exc:
        return _error(422, str(exc))
    await request.app[FLEET_KEY].sync_kernel()
    return web.json_response(fault.as_dict(), status=201)


async def delete_faults(request: web.Request) -> web.Response:
    fleet = request.app[FLEET_KEY]
    node, account = request.query.get("node"), request.query.get("account")
    cleared = []
    for fault in fleet.list_faults():
        if (node is None or fault.node == node) and (account is None or fault.account == account):
            cleared += fleet.clear(fault.id)
    await fleet.sync_kernel()
    return web.json_response({"cleared": [f.as_dict() for f in cleared]})


async def delete_fault(request: web.Request) -> web.Response:
    try:
        fault_id = int(request.match_info["fault_id"])
    except ValueError:
        return _error(400, "fault id must be an integer")
    cleared = request.app[FLEET_KEY].clear(fault_id)
    if not cleared:
        return _error(404, "no such fault")
    await request.app[FLEET_KEY].sync_kernel()
    return web.json_response({"cleared": [f.as_dict() for f in cleared]})


def build_control_app(fleet: Fleet) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[FLEET_KEY] = fleet
    app.router.add_get("/fleet", get_fleet)
    app.router.add_get("/nodes", get_nodes)
    app.router.add_get("/headends", get_headends)
    app.router.add_get("/modems", get_modems)
    app.router.add_get("/modems/{account}", get_modem)
    app.router.add_get("/faults", get_faults)
    app.router.add_get("/faults/kinds", get_fault_kinds)
    app.router.add_post("/faults", post_fault)
    app.router.add_delete("/faults", delete_faults)
    app.router.add_delete("/faults/{fault_id}", delete_fault)
    return app


class ControlServer:
    """The control app on HOST:PORT with an explicit start/stop."""

    def __init__(self, fleet: Fleet, host: str = "127.0.0.1", port: int = 8471) -> None:
        self._runner = web.AppRunner(build_control_app(fleet), access_log=None)
        self._host, self._port = host, port
        self._site: web.TCPSite | None = None

    async def start(self) -> None:
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self._host, self._port)
        await self._site.start()

    @property
    def url(self) -> str:
        addresses = self._runner.addresses
        port = addresses[0][1] if addresses else self._port
        return f"http://{self._host}:{port}"

    async def stop(self) -> None:
        await self._runner.cleanup()
