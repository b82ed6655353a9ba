"""Account status through the real collector with 1,000,000 accounts in the store.

`bench_store` measures the store call; this measures what a support agent
waits for: `GET /v1/accounts/{account}` on a running `linewatch collector
serve` (auth, audit write, engine lookup, JSON), one request at a time, on
SQLite and PostgreSQL. The peer is the same three rows read straight from the
database in the same run, so the ratio shows what the service adds.

    .venv/bin/python -m bench.bench_status_http [--accounts 1000000] [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg

from bench.bench_store import account_name, load_pg, load_sqlite
from collector.auth import create_token
from collector.store.factory import open_store

PG_ADMIN = os.environ.get("LINEWATCH_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(ms: list[float]) -> tuple[float, float]:
    ms = sorted(ms)
    return ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))]


def _rss(pid: int) -> str:
    """VmRSS, split into anonymous memory (the heap) and mapped database file pages."""
    kb = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            kb[key] = int(rest.split()[0]) / 1024
    return (f"RSS {kb.get('VmRSS', 0):.0f} MB (anon {kb.get('RssAnon', 0):.0f} MB, "
            f"file {kb.get('RssFile', 0):.0f} MB; peak {kb.get('VmHWM', 0):.0f} MB)")


async def _prepare(db: str) -> str:
    """Migrate an empty store and make a support token (the bulk load comes next)."""
    store = open_store(db)
    await store.start()
    try:
        _, token = await create_token(store, "support", "bench")
        return token
    finally:
        await store.stop()


async def _serve_and_measure(db: str, token: str, accounts: int, requests: int,
                             peer: object) -> None:
    port = _free_port()
    started = time.perf_counter()
    proc = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "linewatch.cli", "collector", "serve", "--db", db,
         "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                try:
                    async with http.get(f"{base}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError("collector exited during start")
                await asyncio.sleep(0.5)
            print(f"  collector ready (process start + warm start) in "
                  f"{time.perf_counter() - started:.1f} s, {_rss(proc.pid)}")
            headers = {"Authorization": f"Bearer {token}"}
            rng = random.Random(7)
            sample = [account_name(rng.randrange(accounts)) for _ in range(requests)]
            for account in sample[:100]:  # warm the connection and caches
                async with http.get(f"{base}/v1/accounts/{account}", headers=headers) as r:
                    await r.read()
            api_ms: list[float] = []
            peer_ms: list[float] = []
            for account in sample:  # interleaved so both see the same machine load
                t0 = time.perf_counter()
                async with http.get(f"{base}/v1/accounts/{account}", headers=headers) as r:
                    await r.read()
                    assert r.status == 200, r.status
                api_ms.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                await peer(account)  # type: ignore[operator]
                peer_ms.append((time.perf_counter() - t0) * 1000)
            a50, a99 = _pct(api_ms)
            p50, p99 = _pct(peer_ms)
            print(f"  peer: the 3 rows read directly        p50 {p50:7.3f} ms  p99 {p99:7.3f} ms")
            print(f"  GET /v1/accounts/{{a}} (n={requests})    p50 {a50:7.3f} ms  p99 {a99:7.3f} ms"
                  f"   ratio p99 api/peer {a99 / p99:.1f}")
            print(f"  status p99 with {accounts:,} accounts: {a99:.2f} ms "
                  f"(target <= 5 ms: {'met' if a99 <= 5 else 'NOT met'})")
            print(f"  collector after the run: {_rss(proc.pid)}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def run_sqlite(accounts: int, requests: int) -> None:
    print(f"SQLite, {accounts:,} accounts")
    with tempfile.TemporaryDirectory(prefix="lw-bench-status-") as tmp:
        db = str(Path(tmp) / "collector.db")
        token = await _prepare(db)
        t0 = time.perf_counter()
        await asyncio.to_thread(load_sqlite, db, accounts, time.time() - 60)
        print(f"  bulk-loaded in {time.perf_counter() - t0:.0f} s")
        conn = sqlite3.connect(db, check_same_thread=False)

        async def peer(account: str) -> None:
            conn.execute("SELECT data FROM targets WHERE account = ?", (account,)).fetchone()
            conn.execute("SELECT data FROM verdicts WHERE account = ?", (account,)).fetchone()
            conn.execute("SELECT data FROM latest WHERE account = ?", (account,)).fetchall()

        try:
            await _serve_and_measure(db, token, accounts, requests, peer)
        finally:
            conn.close()


async def run_postgres(accounts: int, requests: int) -> None:
    print(f"PostgreSQL, {accounts:,} accounts")
    name = f"lw_bench_status_{os.getpid()}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        token = await _prepare(url)
        conn = await asyncpg.connect(url)
        t0 = time.perf_counter()
        await load_pg(conn, accounts, time.time() - 60)
        print(f"  bulk-loaded in {time.perf_counter() - t0:.0f} s")

        async def peer(account: str) -> None:
            await conn.fetchrow("SELECT data FROM targets WHERE account = $1", account)
            await conn.fetchrow("SELECT data FROM verdicts WHERE account = $1", account)
            await conn.fetch("SELECT data FROM latest WHERE account = $1", account)

        try:
            await _serve_and_measure(url, token, accounts, requests, peer)
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    args = ap.parse_args()
    if args.backend in ("sqlite", "all"):
        await run_sqlite(args.accounts, args.requests)
    if args.backend in ("postgres", "all"):
        await run_postgres(args.accounts, args.requests)


if __name__ == "__main__":
    asyncio.run(main())
