"""The webhook outbox survives a SIGKILL: a collector process killed with
undelivered events delivers every one after its restart, to a receiver that
was down meanwhile; a duplicate, if any, carries the same delivery id."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
SECRET = "restart-hook-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "LW_RESTART_HOOK_SECRET": SECRET}


def _token(db: str, role: str) -> str:
    made = subprocess.run(
        [sys.executable, "-m", "linewatch.cli", "token", "create", "--role", role, "--db", db],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=_env(), check=True,
    )
    return made.stdout.strip()


@contextmanager
def _collector(config: Path, db: str, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "linewatch.cli", "collector", "serve", "--config",
             str(config), "--db", db, "--listen", f"127.0.0.1:{port}"],
            cwd=REPO, env=_env(), stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


async def _up(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):  # bounded: 20 s
            assert proc.poll() is None, "collector exited"
            try:
                async with http.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("collector did not start")


async def test_events_in_the_outbox_are_delivered_after_a_sigkill_and_restart(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "collector.db")
    support, admin = _token(db, "support"), _token(db, "admin")
    hook_port, port = _free_port(), _free_port()
    config = tmp_path / "collector.toml"
    config.write_text(
        "sqlite_writer = \"thread\"\n"
        "[[webhooks]]\n"
        f"url = \"http://127.0.0.1:{hook_port}/hook\"\n"
        "secret_env = \"LW_RESTART_HOOK_SECRET\"\n"
        "events = [\"dispatch.requested\"]\n"
        "[webhook_delivery]\nbackoff_base_s = 0.1\nbackoff_max_s = 0.5\npoll_interval_s = 0.1\n"
    )
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "collector.log"
    made: list[str] = []
    with _collector(config, db, port, log) as proc:
        await _up(url, proc)
        async with aiohttp.ClientSession() as http:
            csv = "account,host,technology,node,plan_down_mbps,plan_up_mbps\n" + "".join(
                f"K{i},127.20.9.{i + 1},docsis,N-{i},100,10\n" for i in range(5))
            async with http.put(f"{url}/v1/inventory", data=csv, headers={
                    "Authorization": f"Bearer {admin}", "Content-Type": "text/csv"}) as resp:
                assert resp.status == 200
            for i in range(5):  # the receiver is down: all five stay in the outbox
                async with http.post(f"{url}/v1/accounts/K{i}/dispatches", json={}, headers={
                        "Authorization": f"Bearer {support}"}) as resp:
                    assert resp.status == 201
                    made.append((await resp.json())["dispatch"]["id"])
        await asyncio.sleep(0.5)  # a few failed attempts
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    seen: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append({"delivery": request.headers["X-Linewatch-Delivery"],
                     "id": json.loads(body)["id"]})
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    try:
        with _collector(config, db, port, log) as proc:
            await _up(url, proc)
            deadline = time.monotonic() + 20
            while {s["id"] for s in seen} != set(made):  # bounded by the deadline
                assert time.monotonic() < deadline, (seen, log.read_text()[-2000:])
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
    finally:
        await runner.cleanup()
    by_event: dict[str, set[str]] = {}
    for s in seen:
        by_event.setdefault(s["id"], set()).add(s["delivery"])
    assert all(len(ids) == 1 for ids in by_event.values()), "a duplicate has the same id"
    assert SECRET not in log.read_text()
