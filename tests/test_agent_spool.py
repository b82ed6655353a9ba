"""The agent spool: order, cap with counted drops, stable batch ids, crash safety."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.config import ConfigError, parse_config
from agent.spool import GROUP_COMMIT_ROWS, PRIO_JOB, Spool

REPO = Path(__file__).resolve().parent.parent


def rec(i: int) -> bytes:
    return b'{"n":%d}' % i


@pytest.fixture
async def spool(tmp_path: Path):
    s = Spool(str(tmp_path / "spool.db"), max_records=1000)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_batches_come_out_in_append_order(spool: Spool) -> None:
    await asyncio.gather(*(spool.append([rec(i)]) for i in range(10)))
    await spool.append([rec(i) for i in range(10, 25)])
    seen: list[bytes] = []
    while (batch := await spool.next_batch(7)) is not None:
        assert len(batch.bodies) <= 7
        seen.extend(batch.bodies)
        await spool.ack(batch.batch_id)
    assert seen == [rec(i) for i in range(25)]
    assert spool.count == 0
    assert await spool.accepted_total() == 25


async def test_job_records_jump_the_backlog(spool: Spool) -> None:
    await spool.append([rec(i) for i in range(5)])
    await spool.append([b'{"job":1}'], prio=PRIO_JOB)
    assert spool.has_job_records
    batch = await spool.next_batch(3)
    assert batch is not None
    assert batch.bodies == [b'{"job":1}', rec(0), rec(1)]
    assert not spool.has_job_records


async def test_unacked_batch_is_resent_with_the_same_id(spool: Spool) -> None:
    await spool.append([rec(i) for i in range(5)])
    first = await spool.next_batch(3)
    await spool.append([rec(99)])
    again = await spool.next_batch(3)  # push failed: same batch, same id, same records
    assert first is not None and again is not None
    assert again.batch_id == first.batch_id
    assert again.bodies == first.bodies
    await spool.ack(first.batch_id)
    rest = await spool.next_batch(10)
    assert rest is not None and rest.batch_id != first.batch_id
    assert rest.bodies == [rec(3), rec(4), rec(99)]


async def test_cap_drops_oldest_and_counts(tmp_path: Path) -> None:
    drops: list[int] = []
    s = Spool(str(tmp_path / "cap.db"), max_records=10, on_drop=drops.append)
    await s.open()
    try:
        await s.append([rec(i) for i in range(8)])
        await s.append([rec(i) for i in range(8, 15)])
        assert s.count == 10
        assert s.dropped == 5 and sum(drops) == 5
        batch = await s.next_batch(100)
        assert batch is not None
        assert batch.bodies == [rec(i) for i in range(5, 15)]
    finally:
        await s.close()


async def test_batch_id_survives_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "restart.db")
    s = Spool(path, max_records=100)
    await s.open()
    await s.append([rec(i) for i in range(6)])
    formed = await s.next_batch(4)
    await s.close()

    s2 = Spool(path, max_records=100)
    await s2.open()
    try:
        assert s2.count == 6
        again = await s2.next_batch(4)
        assert formed is not None and again is not None
        assert (again.batch_id, again.bodies) == (formed.batch_id, formed.bodies)
    finally:
        await s2.close()


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from agent.spool import Spool

    async def main():
        s = Spool(sys.argv[1], max_records=10**6)
        await s.open()
        i = 0
        while True:
            await s.append([b'{"n":%d}' % (i + k) for k in range(10)])
            i += 10
            print(i, flush=True)  # everything up to i is accepted (committed)

    asyncio.run(main())
    """
)


def _kill_writer_after(path: str, at_least: int) -> int:
    """Run the writer, SIGKILL it once it has reported ``at_least`` accepted records."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, path], stdout=subprocess.PIPE, text=True, env=env
    )
    accepted = 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            accepted = int(line)
            if accepted >= at_least:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    return accepted


async def test_records_accepted_before_a_kill_are_all_there(tmp_path: Path) -> None:
    """SIGKILL a writer mid-stream: every record it reported as accepted survives."""
    path = str(tmp_path / "crash.db")
    accepted = await asyncio.to_thread(_kill_writer_after, path, 3000)
    assert accepted >= 3000
    s = Spool(path, max_records=10**6)
    await s.open()
    try:
        assert s.count >= accepted
        batch = await s.next_batch(10**6)
        assert batch is not None
        assert batch.bodies[:accepted] == [rec(i) for i in range(accepted)]
    finally:
        await s.close()


@contextlib.asynccontextmanager
async def delayed_spool(
    path: Path, delay_s: float, max_records: int = 1000
) -> AsyncIterator[tuple[Spool, list[int]]]:
    """An open spool with a commit delay, and the rows of each of its
    transactions in order (the real ``_append_sync``, counted)."""
    s = Spool(str(path), max_records=max_records, commit_delay_s=delay_s)
    await s.open()
    commits: list[int] = []
    real = s._append_sync

    def counted(rows: list[tuple[int, bytes]]) -> int:
        commits.append(len(rows))
        return real(rows)

    s._append_sync = counted  # type: ignore[method-assign]
    try:
        yield s, commits
    finally:
        await asyncio.wait_for(s.close(), 10)


async def test_scheduled_results_share_a_commit_within_the_delay(tmp_path: Path) -> None:
    async with delayed_spool(tmp_path / "group.db", 0.5) as (s, commits):

        async def one(i: int) -> None:
            await asyncio.sleep(i * 0.002)  # arriving one by one, as polls finish
            await s.append([rec(i)])

        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(40))), 10)
        assert commits == [40]  # one transaction, not forty
        assert s.count == 40
        batch = await s.next_batch(100)
        assert batch is not None and batch.bodies == [rec(i) for i in range(40)]


async def test_a_full_group_commits_without_waiting_out_the_delay(tmp_path: Path) -> None:
    async with delayed_spool(tmp_path / "full.db", 60, max_records=10_000) as (s, commits):
        rows = [rec(i) for i in range(GROUP_COMMIT_ROWS)]
        await asyncio.wait_for(s.append(rows), 10)  # bounded: the 60 s delay would fail it
        assert commits == [GROUP_COMMIT_ROWS]


async def test_jobs_and_flush_do_not_wait_out_the_delay(tmp_path: Path) -> None:
    async with delayed_spool(tmp_path / "hurry.db", 60) as (s, commits):
        waiting = asyncio.create_task(s.append([rec(1)]))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # a scheduled result waits for company
        # an on-demand result goes now, and takes the waiting one with it
        await asyncio.wait_for(s.append([b'{"job":1}'], prio=PRIO_JOB), 10)
        await asyncio.wait_for(waiting, 10)
        assert commits == [2]
        late = asyncio.create_task(s.append([rec(2)]))
        await asyncio.sleep(0.05)
        await asyncio.wait_for(s.flush(), 10)  # the pusher's flush ends the delay too
        assert late.done() and commits == [2, 1]
        assert s.count == 3


def test_the_commit_delay_is_configured_and_bounded() -> None:
    assert parse_config({"agent": {"name": "a"}}).agent.spool_commit_delay_s == 0.1
    got = parse_config({"agent": {"name": "a", "spool_commit_delay_s": 0}})
    assert got.agent.spool_commit_delay_s == 0
    for bad in (-0.1, 5):
        with pytest.raises(ConfigError, match="spool_commit_delay_s"):
            parse_config({"agent": {"name": "a", "spool_commit_delay_s": bad}})
