"""Scale-out: two collectors on one PostgreSQL database, one agent each, one node split.

Story: a 40-modem fleet on 4 nodes (10 modems each). Region "north" polls
NODE-01 and half of NODE-03, region "south" polls NODE-02, NODE-04 and the
other half of NODE-03. Agent north pushes to collector A, agent south to
collector B; both collectors share one fresh PostgreSQL database. The
inventory is uploaded once, through collector A (as a load balancer would).

Outage correlation is set to `min_share = 0.6`, so neither collector can call
the outage from its own agent's half of NODE-03 (5 of 10 = 0.5): only the
node's modems from both agents together (10 of 10) make an area outage. When
NODE-03 goes dark in the fleet:
- the outage is detected once: one node_state row (outage, since), exactly one
  area_outage verdict-history row per NODE-03 account, starting at that
  `since` (or at the account's own dark spell when that began later and was
  judged first: the engine never starts a verdict before the one it replaces);
- both collectors show it: `GET /v1/nodes` (same outage_since) and the status
  of a north and a south NODE-03 account is area_outage on both.
Each step waits at most 60 s (poll 0.5 s) and says which step failed.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from needs import IN_CI, need_root
from test_deploy_static import (
    LINEWATCH,
    collector_proc,
    create_token,
    fleet_proc,
    free_port,
    http_get,
    http_json,
    inject_fault,
    running,
    tail,
    wait_http,
    write_agent_config,
)

PG_ADMIN_URL = os.environ.get("LINEWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
POLL_S = 0.5
STEP_S = 60.0
SPLIT_NODE = "NODE-03"
REGION_OF_NODE = {"NODE-01": "north", "NODE-02": "south", "NODE-04": "south"}


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _query(url: str, sql: str, *args: object) -> list[dict]:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


@pytest.fixture
def pg_db() -> Iterator[str]:
    """A fresh database on the real server, dropped afterwards."""
    name = f"lw_scaleout_{os.getpid()}"
    try:
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        asyncio.run(_admin(f"CREATE DATABASE {name}"))
    except Exception as exc:  # OSError, TimeoutError or any asyncpg error: unusable
        reason = f"PostgreSQL at {PG_ADMIN_URL} unusable ({exc}); see ../shared/PEERS.md"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def split_inventory(text: str) -> tuple[str, dict[str, str]]:
    """The fleet's CSV with the `agent` column set by region; NODE-03 alternates."""
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and "agent" in rows[0]
    region: dict[str, str] = {}
    split = 0
    for row in rows:
        node = row["node"]
        if node == SPLIT_NODE:
            row["agent"] = "north" if split % 2 == 0 else "south"
            split += 1
        else:
            row["agent"] = REGION_OF_NODE[node]
        region[row["account"]] = row["agent"]
    assert split == 10, f"{SPLIT_NODE} has {split} modems, expected 10"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue(), region


def step(what: str, check: Callable[[], object], logs: list[Path]) -> object:
    end = time.monotonic() + STEP_S
    last: object = None
    while time.monotonic() < end:
        try:
            last = check()
        except AssertionError as exc:  # an HTTP error answer: keep polling, keep the reason
            last = exc
        else:
            if last:
                return last
        time.sleep(POLL_S)
    raise AssertionError(
        f"STEP FAILED after {STEP_S} s: {what}\nlast: {str(last)[:1500]}\n"
        + "\n".join(f"--- {p.name}\n{tail(p, 12)}" for p in logs if p.exists())
    )


def agent_targets(metrics_port: int) -> float:
    text = http_get(f"http://127.0.0.1:{metrics_port}/metrics").decode()
    m = re.search(r"^linewatch_agent_targets (\S+)$", text, re.M)
    return float(m.group(1)) if m else -1.0


def nodes_of(url: str, token: str) -> dict[str, dict]:
    answer = http_json("GET", f"{url}/v1/nodes", token=token)
    return {n["node"]: n for n in answer["nodes"]}  # type: ignore[index]


def test_two_collectors_detect_a_split_node_outage_once(tmp_path: Path, pg_db: str) -> None:
    need_root()  # the agents' ICMP sockets and the fleet's 127.20.x.y source addresses
    admin = create_token(pg_db, "admin", "scale-admin")
    support = create_token(pg_db, "support", "scale-support")
    tokens = {r: create_token(pg_db, "agent", r) for r in ("north", "south")}
    config = tmp_path / "collector.toml"
    config.write_text("[outage]\nmin_share = 0.6\nmin_count = 5\n")
    ports = {"north": free_port(), "south": free_port()}
    logs = [tmp_path / n for n in ("A.log", "B.log", "north.log", "south.log", "fleet.log")]

    with (
        fleet_proc(tmp_path, modems=40, nodes=4) as (control, fleet_csv),
        collector_proc(tmp_path, pg_db, "A", config=config) as col_a,
        collector_proc(tmp_path, pg_db, "B", config=config) as col_b,
    ):
        inventory, region = split_inventory(fleet_csv)
        http_json("PUT", f"{col_a}/v1/inventory", token=admin, body=inventory,
                  content_type="text/csv")
        split = sorted(a for a, r in region.items() if a in _node_accounts(fleet_csv))
        north_acc = next(a for a in split if region[a] == "north")
        south_acc = next(a for a in split if region[a] == "south")
        agents = []
        for name, url in (("north", col_a), ("south", col_b)):
            toml = tmp_path / f"{name}.toml"
            write_agent_config(toml, name=name, collector_url=url, metrics_port=ports[name],
                               interval_s=1.0, ping=False)
            agents.append(running([str(LINEWATCH), "agent", "run", "--config", str(toml)],
                                  tmp_path / f"{name}.log",
                                  env={"LINEWATCH_AGENT_TOKEN": tokens[name]}))
        with agents[0] as north, agents[1] as south:
            wait_http(f"http://127.0.0.1:{ports['north']}/metrics", north)
            wait_http(f"http://127.0.0.1:{ports['south']}/metrics", south)

            # 1. Each collector hands its agent its region (B never saw the PUT).
            step("agent north gets 15 targets from collector A",
                 lambda: agent_targets(ports["north"]) == 15, logs)
            step("agent south gets 25 targets from collector B (inventory PUT via A "
                 "must be visible to B through PostgreSQL)",
                 lambda: agent_targets(ports["south"]) == 25, logs)

            # 2. Baseline: both collectors know every node and judge NODE-03 healthy.
            def baseline(url: str) -> bool:
                nodes = nodes_of(url, support)
                n = nodes.get(SPLIT_NODE)
                if not (set(nodes) == {"NODE-01", "NODE-02", "NODE-03", "NODE-04"} and n
                        and n["accounts"] == 10 and not n["outage"]
                        and n["counts"].get("unknown", 0) == 0):
                    raise AssertionError(nodes)  # step() keeps it as the last answer
                return True

            for label, url in (("A", col_a), ("B", col_b)):
                step(f"collector {label} lists 4 nodes, {SPLIT_NODE} fully judged, no outage",
                     lambda url=url: baseline(url), logs)

            # 3. NODE-03 goes dark.
            inject_fault(control, "node_outage", SPLIT_NODE)

            def outage_on(url: str) -> object:
                n = nodes_of(url, support).get(SPLIT_NODE)
                return n if n and n["outage"] and n.get("outage_since") else None

            seen_a = step(f"collector A shows the {SPLIT_NODE} outage (its agent sees only "
                          "half the node: correlation must use both agents' data)",
                          lambda: outage_on(col_a), logs)
            seen_b = step(f"collector B shows the {SPLIT_NODE} outage",
                          lambda: outage_on(col_b), logs)
            assert seen_a["outage_since"] == seen_b["outage_since"], (seen_a, seen_b)  # type: ignore[index]
            for url in (col_a, col_b):
                others = [n for n, s in nodes_of(url, support).items() if s["outage"]]
                assert others == [SPLIT_NODE], others

            # 4. Account status on both collectors, for a north and a south account.
            for url in (col_a, col_b):
                for account in (north_acc, south_acc):
                    def area(url: str = url, account: str = account) -> object:
                        st = http_json("GET", f"{url}/v1/accounts/{account}", token=support)
                        return st if st["verdict"]["verdict"] == "area_outage" else None  # type: ignore[index]

                    status = step(f"{account} ({region[account]}) is area_outage on {url}",
                                  area, logs)
                    assert status["node"] == SPLIT_NODE  # type: ignore[index]

        # 5. In the database: detected once. (Agents stopped; collectors still up.)
        states = asyncio.run(_query(pg_db, "SELECT node, outage, since FROM node_state "
                                           "WHERE outage"))
        assert [s["node"] for s in states] == [SPLIT_NODE], states
        since = states[0]["since"]
        assert since == seen_a["outage_since"]  # type: ignore[index]
        rows = asyncio.run(_query(
            pg_db, "SELECT account, count(*) AS n, min(since) AS lo, max(since) AS hi "
                   "FROM verdict_history WHERE verdict = 'area_outage' GROUP BY account"))
        per_account = {r["account"]: r for r in rows}
        assert set(per_account) == set(split), sorted(per_account)
        dup = {a: r["n"] for a, r in per_account.items() if r["n"] != 1}
        assert not dup, f"area_outage recorded more than once: {dup}"
        # Each area_outage row starts at the outage's start, or later when the
        # modem was already judged dark after that (the engine never starts a
        # verdict before the one it replaces: since = max(outage since, previous
        # verdict's since), collector/verdicts/engine.py _build). The earliest
        # dark modem's row starts exactly at the node's `since`.
        changes = asyncio.run(_query(
            pg_db, "SELECT account, verdict, since FROM verdict_history "
                   "WHERE account = ANY($1::text[]) ORDER BY account, since, id", split))
        wrong = {}
        for account in split:
            seq = [c for c in changes if c["account"] == account]
            i = next(i for i, c in enumerate(seq) if c["verdict"] == "area_outage")
            before = seq[i - 1]["since"] if i else None
            expected = since if before is None else max(since, before)
            if seq[i]["since"] != expected:
                wrong[account] = [(c["verdict"], c["since"]) for c in seq]
        assert not wrong, f"area_outage since is neither the outage's nor the dark spell's: " \
                          f"node since {since}, {wrong}"
        assert min(r["lo"] for r in rows) == since, (since, rows)
        events = asyncio.run(_query(
            pg_db, "SELECT account, kind, at, count(*) AS n FROM events "
                   "GROUP BY account, kind, at HAVING count(*) > 1"))
        assert not events, f"events written twice (once per collector): {events}"


def _node_accounts(fleet_csv: str) -> set[str]:
    return {r["account"] for r in csv.DictReader(io.StringIO(fleet_csv))
            if r["node"] == SPLIT_NODE}
