"""Store benchmarks: ingest rate and account-status latency, SQLite and PostgreSQL.

    .venv/bin/python -m bench.bench_store [--accounts N] [--backend sqlite|postgres|all]

(a) Ingest: DOCSIS SnmpReading records (16 downstream channels) in batches of
    500 through ``Store.ingest_batch``, against a peer measured in the same
    run on the same rows: raw ``sqlite3`` executemany into plain tables
    (SQLite), raw asyncpg ``copy_records_to_table`` (PostgreSQL). Both sides
    encode the records; the peer skips idempotency, the newer-than check and
    indexes, so it is the floor. The two take turns every 10 batches, each turn
    ending with a WAL checkpoint on SQLite. Target: >= 20,000 readings/s.
(b) Status: with N accounts stored (targets, verdicts, latest snmp + ping;
    bulk-loaded through executemany/COPY), p50/p99 of one account status
    over random accounts: ``account_snapshot`` (one query; what the status
    route GET /v1/accounts/{account} calls, judged against the target), the
    three-call path (get_verdict + latest_records + get_target), and the same
    three queries run raw. Target: p99 <= 5 ms at 1,000,000.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator

import asyncpg

from collector.model import Evidence, Verdict
from collector.store.base import HistoryPoint, Store
from collector.store.codec import encode
from collector.store.postgres import PostgresStore
from collector.store.sqlite import SqliteStore
from collector.verdicts.messages import action_for, customer_message
from probes.model import (
    DocsisLine,
    DownstreamChannel,
    InterfaceStatus,
    PingResult,
    ProbeRecord,
    SnmpReading,
    Target,
    UpstreamChannel,
)

PG_URL = os.environ.get("LINEWATCH_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
BATCH = 500
NODES = 1000
PLACEHOLDER = "ACCOUNT-PLACEHOLDER"


def account_name(i: int) -> str:
    return f"acc-{i:07d}"


def snmp_record(account: str, started_at: float, rng: random.Random) -> ProbeRecord:
    downstream = [
        DownstreamChannel(
            index=i,
            frequency_hz=258_000_000 + 8_000_000 * i,
            power_dbmv=round(rng.uniform(-6, 8), 1),
            snr_db=round(rng.uniform(34, 41), 1),
            unerrored=rng.randrange(10**9),
            corrected=rng.randrange(10**5),
            uncorrectable=rng.randrange(100),
        )
        for i in range(1, 17)
    ]
    upstream = [
        UpstreamChannel(
            index=i,
            frequency_hz=20_000_000 + 6_400_000 * i,
            tx_power_dbmv=round(rng.uniform(38, 48), 1),
        )
        for i in range(1, 5)
    ]
    return ProbeRecord(
        account=account,
        probe="snmp",
        started_at=started_at,
        duration_s=round(rng.uniform(0.05, 0.4), 3),
        result=SnmpReading(
            sys_uptime_s=float(rng.randrange(10**6)),
            sys_descr="DOCSIS 3.0 Cable Modem <<HW_REV: 1.0; VENDOR: Lab; SW_REV: 9.1>>",
            interfaces=[
                InterfaceStatus(
                    index=1,
                    name="eth0",
                    role="lan",
                    oper_up=True,
                    in_octets=rng.randrange(10**12),
                    out_octets=rng.randrange(10**12),
                ),
                InterfaceStatus(index=2, name="cable-modem", role="wan", oper_up=True),
            ],
            line=DocsisLine(
                downstream=downstream,
                upstream=upstream,
                cm_status=12,
                t3_timeouts=rng.randrange(5),
                t4_timeouts=0,
            ),
        ),
    )


def history_point(record: ProbeRecord) -> HistoryPoint:
    line = record.result.line  # type: ignore[union-attr]
    powers = [c.power_dbmv for c in line.downstream]
    return HistoryPoint(
        account=record.account,
        at=record.started_at,
        metrics={
            "ds_power_dbmv_min": min(powers),
            "ds_power_dbmv_max": max(powers),
            "ds_snr_db_min": min(c.snr_db for c in line.downstream),
            "us_tx_power_dbmv_max": max(c.tx_power_dbmv for c in line.upstream),
        },
    )


def make_batches(
    n_batches: int, accounts: int
) -> list[tuple[list[ProbeRecord], list[HistoryPoint]]]:
    rng = random.Random(7)
    out = []
    t0 = 1_700_000_000.0
    for b in range(n_batches):
        recs = [
            snmp_record(account_name((b * BATCH + i) % accounts), t0 + b, rng) for i in range(BATCH)
        ]
        out.append((recs, [history_point(r) for r in recs]))
    return out


def rate_line(label: str, readings: int, seconds: float) -> float:
    rate = readings / seconds
    print(f"  {label:<44} {readings:>7} readings in {seconds:6.2f} s = {rate:>9,.0f} readings/s")
    return rate


# --- (a) ingest -------------------------------------------------------------------------------


Step = Callable[[int, list[ProbeRecord], list[HistoryPoint]], Awaitable[None]]


Flush = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


async def interleaved(
    batches: list,
    peer: Step,
    ours: Step,
    *,
    block: int = 10,
    peer_flush: Flush = _nothing,
    ours_flush: Flush = _nothing,
) -> tuple[float, float]:
    """Seconds spent by each side, taking turns every ``block`` batches (rotating
    who goes first) so both see the same load from whatever else runs here.
    Each turn ends with that side's flush (e.g. a WAL checkpoint), so work a
    side leaves for a background thread is paid inside its own turn."""
    spent = [0.0, 0.0]
    sides = [(0, peer, peer_flush), (1, ours, ours_flush)]
    for n, lo in enumerate(range(0, len(batches), block)):
        for side, step, flush in sides if n % 2 == 0 else sides[::-1]:
            t = time.perf_counter()
            for i in range(lo, min(lo + block, len(batches))):
                recs, points = batches[i]
                await step(i, recs, points)
            await flush()
            spent[side] += time.perf_counter() - t
    return spent[0], spent[1]


def sqlite_flush(path: str) -> Flush:
    """Wait until the WAL of ``path`` is copied into the database."""

    async def flush() -> None:
        def run() -> None:
            conn = sqlite3.connect(path, isolation_level=None, timeout=30)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                conn.close()

        await asyncio.to_thread(run)

    return flush


def store_step(store: Store, tag: str) -> Step:
    async def step(i: int, recs: list[ProbeRecord], points: list[HistoryPoint]) -> None:
        assert await store.ingest_batch(f"bench-{tag}-{i:06d}", "bench", 1.0, recs, points)

    return step


def sqlite_raw_step(path: str) -> tuple[Step, sqlite3.Connection]:
    """Plain executemany into index-free tables, on the calling thread: the floor."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE latest (account TEXT, probe TEXT, started_at REAL, data BLOB)")
    conn.execute("CREATE TABLE history (account TEXT, at REAL, metrics TEXT)")

    async def step(i: int, recs: list[ProbeRecord], points: list[HistoryPoint]) -> None:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO latest VALUES (?, ?, ?, ?)",
            [(r.account, r.probe, r.started_at, encode(r)) for r in recs],
        )
        conn.executemany(
            "INSERT INTO history VALUES (?, ?, ?)",
            [(p.account, p.at, encode(p.metrics).decode()) for p in points],
        )
        conn.execute("COMMIT")

    return step, conn


async def pg_raw_step(conn: asyncpg.Connection) -> Step:
    """Binary COPY into index-free tables, one transaction per batch: the floor."""
    try:  # the same TOAST compression as the store's latest table (migration 0002)
        await conn.execute(
            "CREATE TABLE raw_latest (account text, probe text, started_at float8, "
            "data bytea COMPRESSION lz4)"
        )
    except asyncpg.PostgresError:
        await conn.execute(
            "CREATE TABLE raw_latest (account text, probe text, started_at float8, data bytea)"
        )
    await conn.execute("CREATE TABLE raw_history (account text, at float8, metrics jsonb)")

    async def step(i: int, recs: list[ProbeRecord], points: list[HistoryPoint]) -> None:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "raw_latest", records=[(r.account, r.probe, r.started_at, encode(r)) for r in recs]
            )
            await conn.copy_records_to_table(
                "raw_history",
                records=[(p.account, p.at, encode(p.metrics).decode()) for p in points],
            )

    return step


def ingest_report(
    readings: int, peer_label: str, peer_s: float, ours_label: str, ours_s: float
) -> None:
    peer = rate_line(peer_label, readings, peer_s)
    ours = rate_line(ours_label, readings, ours_s)
    verdict = "met" if ours >= 20_000 else "NOT met"
    print(
        f"  ingest ratio store/peer = {ours / peer:.2f}   (target >= 20,000 readings/s: {verdict})"
    )


# --- (b) status -------------------------------------------------------------------------------


# The evidence the verdict engine gives a healthy, answering modem.
OK_EVIDENCE = [
    Evidence(fact="line_in_spec", value=True, detail="every line check passed"),
    Evidence(fact="modem_reachable", value=True),
]


def bulk_rows(
    accounts: int, chunk: int = 50_000, at: float = 1_700_000_000.0
) -> Iterator[tuple[list, list, list]]:
    """(targets, verdicts, latest) rows per chunk; records come from one encoded
    template per probe with the account swapped in, to keep the load fast.
    Records are taken at ``at``; verdicts are what the engine judges of them
    while fresh (ok), so a collector warm-starting on fresh rows rewrites none."""
    rng = random.Random(11)
    snmp_tpl = encode(snmp_record(PLACEHOLDER, at, rng))
    ping_tpl = encode(
        ProbeRecord(
            account=PLACEHOLDER,
            probe="ping",
            started_at=at,
            duration_s=4.0,
            result=PingResult(sent=5, received=5, rtt_min_ms=7.1, rtt_avg_ms=8.3, rtt_max_ms=11.0),
        )
    )
    ph = PLACEHOLDER.encode()
    for lo in range(0, accounts, chunk):
        targets, verdicts, latest = [], [], []
        for i in range(lo, min(lo + chunk, accounts)):
            acc = account_name(i)
            node = f"N-{i % NODES:04d}"
            t = Target(
                account=acc,
                host=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                technology="docsis",
                node=node,
                plan_down_mbps=250,
                plan_up_mbps=25,
                agent=f"agent-{i % 10}",
            )
            v = Verdict(
                account=acc,
                node=node,
                verdict="ok",
                since=at,
                confidence=0.95,
                evidence=OK_EVIDENCE,
                action=action_for("ok", {"node": node}),
                customer_message=customer_message("ok", {"node": node}),
                updated_at=at,
            )
            targets.append((acc, t.agent, node, encode(t)))
            verdicts.append((acc, node, "ok", v.since, v.updated_at, encode(v)))
            accb = acc.encode()
            latest.append((acc, "snmp", at, snmp_tpl.replace(ph, accb)))
            latest.append((acc, "ping", at, ping_tpl.replace(ph, accb)))
        yield targets, verdicts, latest


def load_sqlite(path: str, accounts: int, at: float = 1_700_000_000.0) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    for targets, verdicts, latest in bulk_rows(accounts, at=at):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO targets VALUES (?, ?, ?, ?)", targets)
        conn.executemany(
            "INSERT INTO verdicts (account, node, verdict, since, updated_at, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            verdicts,
        )
        conn.executemany("INSERT INTO latest VALUES (?, ?, ?, ?)", latest)
        conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


async def load_pg(
    conn: asyncpg.Connection, accounts: int, at: float = 1_700_000_000.0
) -> None:
    for targets, verdicts, latest in bulk_rows(accounts, at=at):
        await conn.copy_records_to_table(
            "targets", records=targets, columns=("account", "agent", "node", "data")
        )
        await conn.copy_records_to_table(
            "verdicts",
            records=verdicts,
            columns=("account", "node", "verdict", "since", "updated_at", "data"),
        )
        await conn.copy_records_to_table(
            "latest", records=latest, columns=("account", "probe", "started_at", "data")
        )
    await conn.execute("VACUUM ANALYZE targets")
    await conn.execute("VACUUM ANALYZE verdicts")
    await conn.execute("VACUUM ANALYZE latest")


async def status(store: Store, account: str) -> None:
    v = await store.get_verdict(account)
    latest = await store.latest_records(account)
    t = await store.get_target(account)
    assert v is not None and t is not None and len(latest) == 2


async def snapshot(store: Store, account: str) -> None:
    snap = await store.account_snapshot(account)
    assert snap.verdict is not None and snap.target is not None and len(snap.latest) == 2


Lookup = Callable[[str], Awaitable[None]]


async def interleaved_lookups(sample: list[str], fns: list[Lookup]) -> list[list[float]]:
    """Milliseconds per lookup for each fn, taking turns per account (rotating who
    goes first) so that all see the same machine load and the same cache state."""
    out: list[list[float]] = [[] for _ in fns]
    for n, acc in enumerate(sample):
        for k in range(len(fns)):
            j = (n + k) % len(fns)
            t = time.perf_counter()
            await fns[j](acc)
            out[j].append((time.perf_counter() - t) * 1000)
    return out


def status_report(accounts: int, rows: list[tuple[str, list[float]]]) -> None:
    p99 = 0.0
    for label, ms in rows:
        _, p99_row = pct_line(label, ms)
        if ".account_snapshot" in label:  # what GET /v1/accounts/{account} calls
            p99 = p99_row
    verdict = "met" if p99 <= 5 else "NOT met"
    print(f"  status p99 at {accounts:,} accounts: {p99:.3f} ms, account_snapshot as the "
          f"status route reads it (target <= 5 ms: {verdict})")


def pct_line(label: str, ms: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(ms, n=100)
    p50, p99 = statistics.median(ms), q[98]
    print(f"  {label:<44} p50 {p50:6.3f} ms   p99 {p99:6.3f} ms   (n={len(ms)})")
    return p50, p99


def pick(accounts: int, n: int) -> list[str]:
    rng = random.Random(3)
    return [account_name(rng.randrange(accounts)) for _ in range(n)]


# --- runners ------------------------------------------------------------------------------------


async def run_sqlite(args: argparse.Namespace, batches: list) -> None:
    print("\nSQLite (WAL, synchronous=NORMAL)")
    tmp = tempfile.mkdtemp(prefix="lw-bench-")
    try:
        peer, raw = sqlite_raw_step(os.path.join(tmp, "raw.db"))
        store = SqliteStore(os.path.join(tmp, "ingest.db"))
        await store.start()
        peer_s, ours_s = await interleaved(
            batches,
            peer,
            store_step(store, "sqlite"),
            peer_flush=sqlite_flush(os.path.join(tmp, "raw.db")),
            ours_flush=sqlite_flush(os.path.join(tmp, "ingest.db")),
        )
        await store.stop()
        raw.close()
        ingest_report(
            len(batches) * BATCH,
            "peer: raw sqlite3 executemany, plain tables",
            peer_s,
            "SqliteStore.ingest_batch",
            ours_s,
        )

        path = os.path.join(tmp, "status.db")
        store = SqliteStore(path)
        await store.start()  # creates the schema
        await store.stop()
        t = time.perf_counter()
        await asyncio.to_thread(load_sqlite, path, args.accounts)
        print(
            f"  bulk-loaded {args.accounts:,} accounts (targets, verdicts, 2 latest each) "
            f"in {time.perf_counter() - t:.1f} s"
        )
        store = SqliteStore(path)
        await store.start()
        raw = sqlite3.connect(path)

        async def raw_status(acc: str) -> None:
            raw.execute("SELECT data FROM verdicts WHERE account = ?", (acc,)).fetchone()
            raw.execute("SELECT probe, data FROM latest WHERE account = ?", (acc,)).fetchall()
            raw.execute("SELECT data FROM targets WHERE account = ?", (acc,)).fetchone()

        fns = [raw_status, lambda a: status(store, a), lambda a: snapshot(store, a)]
        sample = pick(args.accounts, args.lookups)
        await interleaved_lookups(sample[:200], fns)  # warm up
        peer_ms, ours_ms, snap_ms = await interleaved_lookups(sample, fns)
        await store.stop()
        raw.close()
        status_report(
            args.accounts,
            [
                ("peer: 3 raw sqlite3 queries, blocking", peer_ms),
                ("SqliteStore status (verdict+latest+target)", ours_ms),
                ("SqliteStore.account_snapshot (one hop)", snap_ms),
            ],
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def run_postgres(args: argparse.Namespace, batches: list) -> None:
    print("\nPostgreSQL (asyncpg pool)")
    try:
        admin = await asyncpg.connect(PG_URL, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(f"  skipped: PostgreSQL at {PG_URL} unreachable ({exc})")
        return
    schema = f"lw_bench_{os.getpid()}"
    await admin.execute(f"CREATE SCHEMA {schema}")
    url = f"{PG_URL}?search_path={schema}"
    try:
        store = PostgresStore(url)
        await store.start()
        raw = await asyncpg.connect(url)
        peer = await pg_raw_step(raw)
        peer_s, ours_s = await interleaved(batches, peer, store_step(store, "pg"))
        ingest_report(
            len(batches) * BATCH,
            "peer: raw asyncpg COPY, plain tables",
            peer_s,
            "PostgresStore.ingest_batch",
            ours_s,
        )
        for table in ("latest", "history", "batches", "raw_latest", "raw_history"):
            await raw.execute(f"TRUNCATE {table}")

        t = time.perf_counter()
        await load_pg(raw, args.accounts)
        print(
            f"  bulk-loaded {args.accounts:,} accounts (targets, verdicts, 2 latest each) "
            f"in {time.perf_counter() - t:.1f} s"
        )

        async def raw_status(acc: str) -> None:
            await raw.fetchval("SELECT data FROM verdicts WHERE account = $1", acc)
            await raw.fetch("SELECT probe, data FROM latest WHERE account = $1", acc)
            await raw.fetchval("SELECT data FROM targets WHERE account = $1", acc)

        fns = [raw_status, lambda a: status(store, a), lambda a: snapshot(store, a)]
        sample = pick(args.accounts, args.lookups)
        await interleaved_lookups(sample[:200], fns)  # warm up
        peer_ms, ours_ms, snap_ms = await interleaved_lookups(sample, fns)
        await store.stop()
        await raw.close()
        status_report(
            args.accounts,
            [
                ("peer: 3 raw asyncpg queries, one connection", peer_ms),
                ("PostgresStore status (verdict+latest+target)", ours_ms),
                ("PostgresStore.account_snapshot (one query)", snap_ms),
            ],
        )
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=100, help=f"ingest batches of {BATCH}")
    parser.add_argument("--lookups", type=int, default=5000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    args = parser.parse_args()
    t = time.perf_counter()
    batches = make_batches(args.batches, accounts=min(args.accounts, 20_000))
    print(
        f"{len(batches)} batches x {BATCH} DOCSIS readings (16 DS + 4 US channels), "
        f"built in {time.perf_counter() - t:.1f} s; {os.cpu_count()} CPUs"
    )
    if args.backend in ("sqlite", "all"):
        await run_sqlite(args, batches)
    if args.backend in ("postgres", "all"):
        await run_postgres(args, batches)


if __name__ == "__main__":
    asyncio.run(main())
