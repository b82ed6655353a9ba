"""Auth under attack, against a real collector on loopback (aiohttp test server,
real TCP): repeated failures are limited per client address (API and console
sign-in), other clients are unaffected, the limit ends with its window, the
refusals are counted by reason, and the route table and the role matrix agree.

Clients get distinct source addresses (127.0.0.2, 127.0.0.3, ...) by binding
their sockets, so "per client" is the collector's real view of the peer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from collector_harness import Running, fresh_db, running_collector, target
from test_collector_api import MATRIX
from test_console_http import _console

from collector.ratelimit import AuthFailureLimiter
from collector.routes.table import ROUTES

LIMIT = 5
WINDOW_S = 2.0


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Running]:
    async with fresh_db("sqlite", tmp_path) as db, running_collector(
        db, auth_failure_limit=LIMIT, auth_failure_window_s=WINDOW_S
    ) as running:
        yield running


async def _get(
    running: Running, source: str, path: str, token: str | None
) -> aiohttp.ClientResponse:
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(connector=connector) as session:
        resp = await session.get(f"{running.base_url}{path}", headers=headers)
        await resp.read()
        return resp


def _counter(text: str, reason: str) -> float:
    match = re.search(rf'^linewatch_auth_failures_total{{reason="{reason}"}} (\S+)$', text, re.M)
    assert match, f"no auth failure counter for {reason}"
    return float(match.group(1))


async def test_failures_are_limited_per_client_and_the_limit_ends_with_its_window(
    api: Running,
) -> None:
    support = api.tokens["support"]
    for _ in range(LIMIT):
        assert (await _get(api, "127.0.0.2", "/v1/nodes", "guess-" + "x" * 40)).status == 401
    blocked = await _get(api, "127.0.0.2", "/v1/nodes", "guess-again")
    assert blocked.status == 429
    assert 1 <= int(blocked.headers["Retry-After"]) <= WINDOW_S + 1
    # While blocked, even a valid token is refused: otherwise 429 vs 200 would
    # tell a guesser which guess was right.
    assert (await _get(api, "127.0.0.2", "/v1/nodes", support)).status == 429
    # Another client is not affected, and a missing token counts as a failure.
    assert (await _get(api, "127.0.0.3", "/v1/nodes", support)).status == 200
    assert (await _get(api, "127.0.0.3", "/v1/nodes", None)).status == 401
    # Public routes stay open to the blocked client (probes, scrapes).
    assert (await _get(api, "127.0.0.2", "/healthz", None)).status == 200

    metrics = await (await api.client.get("/metrics")).text()
    assert _counter(metrics, "invalid") == LIMIT
    assert _counter(metrics, "missing") == 1
    assert _counter(metrics, "rate_limited") == 2
    assert "guess-" not in metrics  # nothing of the token reaches the metrics

    await asyncio.sleep(WINDOW_S + 0.2)
    assert (await _get(api, "127.0.0.2", "/v1/nodes", support)).status == 200


async def test_console_sign_in_is_limited_too(tmp_path: Path) -> None:
    async for console in _console(
        tmp_path, {"auth_failure_limit": 3, "auth_failure_window_s": 30.0}, secure_cookies=False
    ):
        for _ in range(3):
            resp = await console.sign_in(token="not-a-token")
            assert resp.status == 401
        resp = await console.sign_in(role="support")  # the right token, too late
        assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
        assert "Too many failed sign-ins" in await resp.text()
        assert "lw_console" not in resp.cookies


def test_limiter_memory_is_bounded_and_oldest_clients_are_forgotten() -> None:
    limiter = AuthFailureLimiter(max_failures=2, window_s=60.0, max_clients=100)
    for i in range(10_000):
        limiter.failed(f"10.0.{i // 256}.{i % 256}", now=float(i) * 1e-3)
    assert limiter.tracked() == 100
    limiter.failed("198.18.0.1", now=20.0)
    limiter.failed("198.18.0.1", now=20.0)
    assert limiter.retry_after("198.18.0.1", now=21.0) == pytest.approx(59.0)
    assert limiter.retry_after("198.18.0.1", now=80.1) == 0.0  # window over
    assert AuthFailureLimiter(0, 60.0).retry_after("x") == 0.0  # 0 = off


def test_every_route_in_the_table_has_a_row_in_the_role_matrix() -> None:
    """A new route without an entry in the matrix (and so without a tested
    answer for each role) fails here."""
    def template_re(path: str) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")

    missing, wrong_roles = [], []
    for route in ROUTES:
        pattern = template_re(route.path)
        rows = [(m, p, r) for m, p, r in MATRIX if m == route.method and
                pattern.match(p.split("?")[0])]
        if not rows:
            missing.append(f"{route.method} {route.path}")
            continue
        declared = set(route.roles) - {"admin"} if route.roles is not None else None
        if rows[0][2] != declared:
            wrong_roles.append(f"{route.method} {route.path}: {declared} vs {rows[0][2]}")
    assert not missing, f"routes missing from the role matrix: {missing}"
    assert not wrong_roles


async def test_every_account_read_leaves_one_audit_record_with_the_actor(api: Running) -> None:
    await api.put_inventory([target("AUD-1")])
    reads = [
        ("GET", "/v1/accounts/AUD-1", "support", None, "status"),
        ("GET", "/v1/accounts/AUD-1/history", "support", None, "history"),
        ("GET", "/v1/accounts/AUD-1/downtime", "admin", None, "downtime"),
        ("POST", "/v1/accounts/AUD-1/check", "support", {"timeout_s": 0.05}, "check"),
        ("POST", "/v1/precall", "ivr", {"account": "AUD-1"}, "precall"),
    ]
    for method, path, role, body, _ in reads:
        resp = await api.client.request(method, path, json=body, headers=api.auth(role))
        assert resp.status == 200, (path, await resp.text())
    audit = await api.collector.store.audit_log("AUD-1")
    got = sorted((a.actor, a.action) for a in audit)
    assert got == sorted((f"{role}-test", action) for _, _, role, _, action in reads)
    for entry in audit:  # the actor is the token's name, never the token
        assert all(token not in repr(entry) for token in api.tokens.values())
