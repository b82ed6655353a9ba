"""A real collector for tests: the aiohttp app on 127.0.0.1 (port 0) over a real
store (SQLite file, or a fresh PostgreSQL database created and dropped here),
with one token per role, plus builders for wire records."""

from __future__ import annotations

import gzip
import itertools
import os
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from needs import PG_ADMIN_URL, pg_admin

from collector.app import build_app
from collector.auth import create_token
from collector.config import CollectorConfig
from collector.model import ROLES
from collector.routes.common import COLLECTOR
from collector.service import Collector
from probes.model import (
    Batch,
    DocsisLine,
    DownstreamChannel,
    PingResult,
    ProbeError,
    ProbeRecord,
    SnmpReading,
    Target,
    UpstreamChannel,
    encode,
)

_db_seq = itertools.count()




@asynccontextmanager
async def fresh_db(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A ``--db`` string for an empty database of ``kind`` (sqlite | postgres)."""
    if kind == "sqlite":
        yield str(tmp_path / "collector.db")
        return
    admin = await pg_admin()
    name = f"lw_api_{os.getpid()}_{next(_db_seq)}"
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        yield f"{base}/{name}"
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


@dataclass
class Running:
    client: TestClient
    app: web.Application
    tokens: dict[str, str]  # role -> token; each token's name is "<role>-test"

    @property
    def collector(self) -> Collector:
        return self.app[COLLECTOR]

    @property
    def base_url(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def put_inventory(self, targets: Sequence[Target]) -> None:
        resp = await self.client.put(
            "/v1/inventory", data=msgspec.json.encode(list(targets)),
            headers={**self.auth("admin"), "Content-Type": "application/json"},
        )
        assert resp.status == 200, await resp.text()

    async def ingest(
        self, records: Sequence[ProbeRecord], batch_id: str | None = None, gzipped: bool = False
    ) -> dict[str, Any]:
        body = encode(batch(records, batch_id))
        headers = {**self.auth("agent"), "Content-Type": "application/json"}
        if gzipped:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        resp = await self.client.post("/v1/ingest", data=body, headers=headers)
        assert resp.status == 200, await resp.text()
        return await resp.json()


def collector_config(db: str, **overrides: Any) -> CollectorConfig:
    raw = {"db": db, "listen": "127.0.0.1:0", "tick_interval_s": 0.2, **overrides}
    return msgspec.convert(raw, CollectorConfig)


@asynccontextmanager
async def running_collector(db: str, **overrides: Any) -> AsyncIterator[Running]:
    app = build_app(collector_config(db, **overrides))
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    try:
        store = app[COLLECTOR].store
        tokens = {}
        for role in ROLES:
            _, tokens[role] = await create_token(store, role, f"{role}-test")
        yield Running(client=client, app=app, tokens=tokens)
    finally:
        await client.close()


# --- wire builders -------------------------------------------------------------------


def target(account: str, node: str = "N-1", agent: str | None = None) -> Target:
    return Target(
        account=account, host=f"127.20.{len(account)}.{sum(map(ord, account)) % 250 + 1}",
        technology="docsis", node=node, plan_down_mbps=250.0, plan_up_mbps=25.0, agent=agent,
    )


def batch(records: Sequence[ProbeRecord], batch_id: str | None = None) -> Batch:
    return Batch(
        batch_id=batch_id or secrets.token_hex(8), agent="default", sent_at=time.time(),
        records=list(records),
    )


def docsis_ok(account: str, at: float | None = None, job_id: str | None = None) -> ProbeRecord:
    channels = [
        DownstreamChannel(index=i, frequency_hz=300_000_000 + i * 8_000_000, power_dbmv=1.5,
                          snr_db=38.5, unerrored=100_000 * i, corrected=i, uncorrectable=0)
        for i in range(1, 9)
    ]
    return ProbeRecord(
        account=account, probe="snmp", started_at=at or time.time(), duration_s=0.1,
        job_id=job_id,
        result=SnmpReading(
            sys_uptime_s=86_400.0,
            line=DocsisLine(
                downstream=channels,
                upstream=[UpstreamChannel(index=1, tx_power_dbmv=44.0)],
                cm_status=12, t3_timeouts=0, t4_timeouts=0,
            ),
        ),
    )


def ping_ok(account: str, at: float | None = None, job_id: str | None = None) -> ProbeRecord:
    return ProbeRecord(
        account=account, probe="ping", started_at=at or time.time(), duration_s=1.0,
        job_id=job_id,
        result=PingResult(sent=5, received=5, rtt_min_ms=7.0, rtt_avg_ms=8.0, rtt_max_ms=9.0),
    )


def dark(account: str, at: float | None = None) -> list[ProbeRecord]:
    """What an unreachable modem looks like: SNMP timeout and no ping replies."""
    now = at or time.time()
    return [
        ProbeRecord(account=account, probe="snmp", started_at=now, duration_s=3.0,
                    result=ProbeError(kind="timeout", message="no SNMP answer")),
        ProbeRecord(account=account, probe="ping", started_at=now, duration_s=1.0,
                    result=PingResult(sent=5, received=0)),
    ]
