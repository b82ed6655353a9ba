"""The SQLite batch writer as a process of its own (``sqlite_writer = "process"``).

Why: the collector is one Python process bound by its GIL. Committing a batch
costs as much CPU as judging it (building rows, SQLite's B-tree work, the WAL
checkpoints), and in a thread it fights the HTTP loop, the decode and the
engine for that one lock. Here it runs beside them on the other core: the
collector sends each accepted batch body as received (already validated) with
the verdicts, events and node states judged from it; this process decodes the
body itself, derives the records' JSON and history points, writes all of it in
one transaction and answers "committed" (or "duplicate", or the error).

Protocol over the child's stdin/stdout: frames of a 4-byte big-endian length
and a msgpack ``WriteRequest`` / ``WriteReply``. Requests are handled strictly
in order and answered in order, so commits land in the order the engine judged.
The child exits when its stdin closes (after finishing what it holds) — also
when the collector dies. A child that dies fails every batch in flight with
``WriterUnavailable`` (the collector answers 503, the agent retries, the batch
id keeps the retry from landing twice) and is started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sqlite3
import struct
import sys
from pathlib import Path

import msgspec

from collector.keymetrics import history_point
from collector.model import Event, Verdict
from collector.store.base import BatchWrite, HistoryPoint, NodeState
from collector.store.sqlite_common import Checkpointer, bound_wal, connect, write_batch
from probes.model import Batch, decode_batch, record_slices

log = logging.getLogger(__name__)

_LEN = struct.Struct(">I")
# Where the ``collector`` package lives: the child imports it from there too.
_ROOT = str(Path(__file__).resolve().parent.parent.parent)
# A restarted child gets this long to open the database and say it is ready.
START_TIMEOUT_S = 30.0
# Pause between restarts of a child that keeps dying (not a busy loop).
RESTART_DELAY_S = 1.0


class WriteRequest(msgspec.Struct, array_like=True, kw_only=True):
    """One batch to commit. ``body``: the batch JSON as the agent sent it, in
    content coding ``encoding`` (size-checked by the collector already).
    ``history`` None: derive the history points from the body's records."""

    seq: int
    batch_id: str
    agent: str
    received_at: float
    body: bytes
    encoding: str = "identity"
    history: list[HistoryPoint] | None = None
    verdicts: list[Verdict] = []
    events: list[Event] = []
    node_states: list[NodeState] = []
    interval_s: float | None = None  # the agent's poll cycle (kept with its last push)


class WriteReply(msgspec.Struct, array_like=True, kw_only=True):
    seq: int
    fresh: bool = False
    error: str | None = None


class WriterUnavailable(RuntimeError):
    """The writer process is not running (died, restarting): retry later (503)."""


class WriterError(RuntimeError):
    """The writer process could not commit a batch (the message says why)."""


# --- the child ------------------------------------------------------------------------


def _serve(path: str) -> None:
    """Child main loop: read requests from stdin, commit, answer on stdout."""
    # ^C or SIGTERM to the whole group (a terminal, systemd): the collector
    # drains and closes our stdin, which is when we exit; so do we if it dies.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    conn = connect(path)
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer thread does it
    checkpointer = Checkpointer(path)
    checkpointer.start()
    req_decoder = msgspec.msgpack.Decoder(WriteRequest)
    encoder = msgspec.msgpack.Encoder()

    def send(reply: WriteReply) -> None:
        frame = encoder.encode(reply)
        out.write(_LEN.pack(len(frame)) + frame)
        out.flush()

    try:
        send(WriteReply(seq=0, fresh=True))  # ready
        while True:
            head = inp.read(4)
            if len(head) < 4:
                return  # stdin closed: the collector stops (or died)
            frame = inp.read(_LEN.unpack(head)[0])
            req = req_decoder.decode(frame)
            try:
                fresh = _commit(conn, req)
                bound_wal(conn, path)
                send(WriteReply(seq=req.seq, fresh=fresh))
            except Exception as exc:  # answered, never fatal: the batch is not acknowledged
                send(WriteReply(seq=req.seq, error=f"{type(exc).__name__}: {exc}"))
    finally:
        checkpointer.stop()
        conn.close()


def _commit(conn: sqlite3.Connection, req: WriteRequest) -> bool:
    from collector.inflate import inflate_checked

    body = inflate_checked(req.body, req.encoding)
    batch: Batch = decode_batch(body)
    history = req.history
    if history is None:
        history = [p for r in batch.records if (p := history_point(r)) is not None]
    write = BatchWrite(
        batch_id=req.batch_id, agent=req.agent, received_at=req.received_at,
        records=batch.records, history=history, verdicts=req.verdicts, events=req.events,
        node_states=req.node_states, record_json=record_slices(body),
        interval_s=req.interval_s,
    )
    conn.execute("BEGIN IMMEDIATE")
    try:
        fresh = write_batch(conn, write)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return fresh


# --- the parent's handle ----------------------------------------------------------------


class WriterProcess:
    """Lifecycle: ``await start()``, ``submit(...)`` any number, ``await drain()``,
    ``await stop()``. Restarts the child by itself after it died."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._restart: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[bool]] = {}
        self._seq = 0
        self._stopping = False
        self._encoder = msgspec.msgpack.Encoder()
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> None:
        self._stopping = False
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "collector.store.sqlite_writer", self.path,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
        )
        assert proc.stdout is not None and proc.stdin is not None
        _widen_pipe(proc.stdin)
        try:
            ready = await asyncio.wait_for(_read_reply(proc.stdout), START_TIMEOUT_S)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        if ready is None or ready.seq != 0:
            await proc.wait()
            raise WriterUnavailable(f"SQLite writer process did not start (exit {proc.returncode})")
        self._proc = proc
        self._reader = asyncio.create_task(self._read_replies(proc))

    def submit(self, write: BatchWrite, *, derive: bool) -> asyncio.Future[bool]:
        """Queue ``write``; the future says whether the batch was new. ``derive``:
        the child takes history (and records' JSON) from ``write.body``."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            raise WriterUnavailable("SQLite writer process is not running")
        body, encoding = write.body, write.body_encoding
        if body is None:  # no body as received: send the records as a batch
            body = msgspec.json.encode(Batch(batch_id=write.batch_id, agent=write.agent,
                                             sent_at=write.received_at,
                                             records=list(write.records)))
            encoding, derive = "identity", False
        self._seq += 1
        req = WriteRequest(
            seq=self._seq, batch_id=write.batch_id, agent=write.agent,
            received_at=write.received_at, body=body, encoding=encoding,
            history=None if derive else list(write.history),
            verdicts=list(write.verdicts), events=list(write.events),
            node_states=list(write.node_states), interval_s=write.interval_s,
        )
        frame = self._encoder.encode(req)
        proc.stdin.write(_LEN.pack(len(frame)) + frame)
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending[self._seq] = fut
        return fut

    async def drain(self) -> None:
        """Wait until everything submitted so far is answered (or failed)."""
        if self._pending:
            await asyncio.gather(*self._pending.values(), return_exceptions=True)

    async def stop(self) -> None:
        self._stopping = True
        if self._restart is not None:
            self._restart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._restart
        await self.drain()
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._reader is not None:
            await self._reader

    async def _read_replies(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while True:
                reply = await _read_reply(proc.stdout)
                if reply is None:
                    break
                fut = self._pending.pop(reply.seq, None)
                if fut is None or fut.done():
                    continue
                if reply.error is not None:
                    fut.set_exception(WriterError(reply.error))
                else:
                    fut.set_result(reply.fresh)
        finally:
            code = await proc.wait()
            if self._proc is proc:
                self._proc = None
            lost, self._pending = self._pending, {}
            for fut in lost.values():
                if not fut.done():
                    fut.set_exception(WriterUnavailable(
                        f"SQLite writer process exited ({code}) before answering"))
            if not self._stopping:
                log.error("SQLite writer process exited (%s) with %d batches in flight; "
                          "restarting it", code, len(lost))
                self._restart = asyncio.create_task(self._start_again())

    async def _start_again(self) -> None:
        while not self._stopping:
            try:
                await self.start()
                self.restarts += 1
                log.info("SQLite writer process restarted (pid %s)", self.pid)
                return
            except Exception as exc:  # e.g. the database cannot be opened: keep trying
                log.error("SQLite writer process did not start again: %s", exc)
                await asyncio.sleep(RESTART_DELAY_S)


def _widen_pipe(stream: asyncio.StreamWriter) -> None:
    """Grow the pipe to the child to 1 MiB (Linux; default 64 KiB) so a batch
    goes over in one write: each 64 KiB step otherwise waits for the event loop,
    which the decode and engine threads hold the GIL from for ms at a time."""
    pipe = stream.transport.get_extra_info("pipe")
    if pipe is None or not hasattr(fcntl, "F_SETPIPE_SZ"):
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)


async def _read_reply(stream: asyncio.StreamReader) -> WriteReply | None:
    try:
        head = await stream.readexactly(4)
        frame = await stream.readexactly(_LEN.unpack(head)[0])
    except asyncio.IncompleteReadError:
        return None
    return _reply_decoder.decode(frame)


_reply_decoder = msgspec.msgpack.Decoder(WriteReply)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    _serve(sys.argv[1])
