"""Tokens: random, stored only as SHA-256, created by `linewatch token create`,
never logged; roles enforced per route (the full matrix is in test_collector_api)."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from collector_harness import running_collector

from collector.auth import Principal, bearer_token, hash_token, new_token

REPO = Path(__file__).resolve().parent.parent


def test_tokens_are_256_bit_random_and_hashed_with_sha256() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 43 for t in tokens)
    token = next(iter(tokens))
    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer", None),
     ("", None), (None, None), ("Bearer " + "x" * 600, None)],
)
def test_bearer_header_parsing(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_admin_may_do_everything_others_only_their_roles() -> None:
    assert Principal("a", "admin").allowed(("agent",))
    assert Principal("s", "support").allowed(("support",))
    assert not Principal("s", "support").allowed(("ivr",))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linewatch.cli", *args], capture_output=True, text=True,
        timeout=60, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _db_bytes(db: Path) -> bytes:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(FULL)")
    return b"".join(p.read_bytes() for p in db.parent.iterdir() if p.is_file())


async def test_token_create_prints_the_token_once_and_stores_only_its_hash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "c.db"
    made = _cli("token", "create", "--role", "support", "--name", "desk-7", "--db", str(db))
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert len(token) >= 43 and token not in made.stderr
    raw = _db_bytes(db)
    assert token.encode() not in raw
    assert hash_token(token).encode() in raw or bytes.fromhex(hash_token(token)) in raw

    bad = _cli("token", "create", "--role", "root", "--db", str(db))
    assert bad.returncode != 0

    caplog.set_level(logging.DEBUG)
    async with running_collector(str(db)) as api:
        resp = await api.client.get("/v1/nodes", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 200
        resp = await api.client.get("/v1/nodes", headers={"Authorization": "Bearer wrong-x"})
        assert resp.status == 401
        resp = await api.client.post("/v1/precall", json={"account": "x"},
                                     headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 403
        assert "support" in (await resp.json())["error"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in logged and "wrong-x" not in logged


def test_example_config_loads_and_unknown_keys_fail(tmp_path: Path) -> None:
    from collector.config import CollectorConfig, ConfigError, load_config

    example = load_config(REPO / "deploy/examples/collector.toml")
    assert example.listen == "127.0.0.1:8470"
    defaults = CollectorConfig()
    for field in ("max_body_bytes", "max_decompressed_bytes", "tick_interval_s",
                  "check_timeout_s", "jobs_wait_max_s", "retention"):
        assert getattr(example, field) == getattr(defaults, field), field
    bad = tmp_path / "bad.toml"
    bad.write_text('listen = "127.0.0.1:8470"\nstalenes_s = 3\n')
    with pytest.raises(ConfigError, match="stalenes_s"):
        load_config(bad)
    bad.write_text('listen = "nowhere"\n')
    with pytest.raises(ConfigError, match="HOST:PORT"):
        load_config(bad)
    assert (example.console.language, example.console.timezone) == ("sv", "Europe/Stockholm")
    console = tmp_path / "console.toml"
    console.write_text('[console]\ntimezone = "Europe/Stockholmm"\n')
    with pytest.raises(ConfigError, match=r"\[console\] timezone: unknown time zone"):
        load_config(console)
    console.write_text('[console]\nlanguage = "de"\n')
    with pytest.raises(ConfigError, match=r"console\.language"):
        load_config(console)
    served = _cli("collector", "serve", "--config", str(bad))
    assert served.returncode == 2 and "HOST:PORT" in served.stderr
