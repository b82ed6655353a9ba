"""Ship spooled records to the collector: in order, in batches, gzip, with backoff.

The pusher only reads from the spool; a batch leaves the spool when the
collector confirms it (accepted or duplicate) or refuses it for good (4xx for
the batch itself: logged, counted, dropped — retrying cannot help). Connection
errors, timeouts, 5xx and auth/rate answers (401/403/404/408/429, which are an
operator's problem, not the data's) are retried with exponential backoff and
full jitter, re-sending the same batch id.

Over https:// the collector's certificate is always verified (against
``ca_file`` or the system trust store). A certificate that does not verify is
a failure like a refused connection — the batch stays in the spool and is
retried — but it is logged as an error naming the TLS reason and counted in
``linewatch_agent_push_tls_errors_total``, since only an operator can fix it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import random
import ssl
import time
from dataclasses import dataclass

import aiohttp
import msgspec

try:  # ISA-L deflate: ~8x faster than zlib level 5, bodies ~20 % larger
    from isal import igzip as _gzip

    _GZIP_LEVEL = 2
except ImportError:  # optional speed-up (collector/inflate.py reads either)
    _gzip = gzip  # type: ignore[assignment]
    _GZIP_LEVEL = 5

from agent.metrics import AgentMetrics
from agent.spool import Spool, SpoolBatch
from probes.model import SCHEMA_VERSION

log = logging.getLogger(__name__)

_RETRY_STATUSES = frozenset({401, 403, 404, 408, 409, 425, 429})
_json = msgspec.json.Encoder()


def client_ssl_context(
    collector_url: str,
    ca_file: str | None = None,
    client_cert: str | None = None,
    client_key: str | None = None,
) -> ssl.SSLContext | None:
    """None for http://; for https:// a verifying context (hostname and chain),
    trusting ``ca_file`` if given, else the system store; optional client
    certificate for mutual TLS. Raises OSError (ssl.SSLError) on unusable files."""
    if not collector_url.lower().startswith("https://"):
        return None
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except OSError as exc:
        raise OSError(f"ca_file {ca_file}: {exc.strerror or exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_cert:
        try:
            context.load_cert_chain(client_cert, client_key)
        except OSError as exc:
            raise OSError(f"client_cert {client_cert}: {exc.strerror or exc}") from None
    return context


class PushAnswer(msgspec.Struct, kw_only=True):
    batch_id: str = ""
    accepted: int = 0
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class PushResult:
    outcome: str  # ok | duplicate | failed | rejected
    detail: str = ""
    tls: bool = False  # failed because the TLS handshake or certificate check failed


def batch_body(
    agent: str, batch: SpoolBatch, sent_at: float, interval_s: float | None = None
) -> bytes:
    """The Batch JSON, assembled from already-encoded records (no decode/re-encode).
    ``interval_s``: the agent's poll cycle, so the collector knows when it is silent."""
    interval = b',"interval_s":' + _json.encode(interval_s) if interval_s is not None else b""
    return b"".join(
        (
            b'{"batch_id":', _json.encode(batch.batch_id),
            b',"agent":', _json.encode(agent),
            b',"sent_at":', _json.encode(sent_at),
            b',"records":[', b",".join(batch.bodies),
            b'],"schema":', str(SCHEMA_VERSION).encode(), interval, b"}",
        )
    )


class Pusher:
    """Drains the spool to ``POST {collector_url}/v1/ingest``. start() / stop()."""

    def __init__(
        self,
        spool: Spool,
        metrics: AgentMetrics,
        *,
        agent: str,
        collector_url: str,
        token: str | None,
        batch_max_records: int = 5000,
        push_interval_s: float = 5.0,
        timeout_s: float = 30.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        interval_s: float | None = None,
    ) -> None:
        self.spool = spool
        self.metrics = metrics
        self.agent = agent
        self.url = collector_url.rstrip("/") + "/v1/ingest"
        self._token = token
        self.batch_max_records = batch_max_records
        self.push_interval_s = push_interval_s
        self.interval_s = interval_s  # the poll cycle, sent with every batch
        self.timeout_s = timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        if self.url.lower().startswith("https://") and ssl_context is None:
            ssl_context = client_ssl_context(self.url)  # system trust store, verifying
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._push_lock = asyncio.Lock()
        self._stopping = False
        self.delivered_records = 0
        self.rejected_records = 0

    def __repr__(self) -> str:
        return f"Pusher(agent={self.agent!r}, url={self.url!r}, token=***)"

    async def start(self) -> None:
        """Open the HTTP session and start the drain loop."""
        await self.open()
        self._task = asyncio.create_task(self._run(), name="pusher")

    async def open(self) -> None:
        """Open the HTTP session only (``push_once`` driven by the caller)."""
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        self._session = aiohttp.ClientSession(
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            connector=aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True),
        )
        self._stopping = False

    def push_soon(self) -> None:
        """Push now rather than at the next interval (on-demand results, full batch)."""
        self._wake.set()

    async def stop(self, final_push_s: float = 0.0) -> None:
        """Stop the loop; then, within ``final_push_s``, try to empty the spool once."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if final_push_s > 0 and self._session is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(final_push_s):
                    while True:
                        result = await self.push_once()
                        if result is None or result.outcome == "failed":
                            break
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def push_once(self) -> PushResult | None:
        """Push the next batch, if any. None when the spool is empty."""
        async with self._push_lock:  # one batch in flight: order and ack stay simple
            return await self._push_once()

    async def _push_once(self) -> PushResult | None:
        batch = await self.spool.next_batch(self.batch_max_records)
        if batch is None:
            return None
        result = await self._send(batch)
        self.metrics.pushes.labels(result.outcome).inc()
        if result.outcome in ("ok", "duplicate"):
            await self.spool.ack(batch.batch_id, result.outcome)
            self.delivered_records += len(batch.bodies)
        elif result.outcome == "rejected":
            log.error(
                "collector rejected batch %s (%d records) for good, dropping it: %s",
                batch.batch_id, len(batch.bodies), result.detail,
            )
            await self.spool.ack(batch.batch_id, "rejected")
            self.rejected_records += len(batch.bodies)
        else:
            self.metrics.push_failures.inc()
            if result.tls:
                self.metrics.push_tls_errors.inc()
        self.metrics.spool_records.set(self.spool.count)
        return result

    async def _send(self, batch: SpoolBatch) -> PushResult:
        assert self._session is not None
        body = await asyncio.to_thread(
            _gzip.compress, batch_body(self.agent, batch, time.time(), self.interval_s),
            _GZIP_LEVEL,
        )
        try:
            async with self._session.post(self.url, data=body) as resp:
                text = await resp.read()
                status = resp.status
        except aiohttp.ClientSSLError as exc:  # before ClientError: it is one
            return PushResult("failed", f"TLS: {_tls_reason(exc)}", tls=True)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return PushResult("failed", f"{type(exc).__name__}: {exc}")
        if 200 <= status < 300:
            try:
                answer = msgspec.json.decode(text, type=PushAnswer)
            except msgspec.DecodeError:
                answer = PushAnswer()
            return PushResult("duplicate" if answer.duplicate else "ok")
        detail = f"HTTP {status}: {text[:300].decode('utf-8', 'replace')}"
        if 400 <= status < 500 and status not in _RETRY_STATUSES:
            return PushResult("rejected", detail)
        return PushResult("failed", detail)

    def _log_failure(self, result: PushResult) -> None:
        if result.tls:
            log.error(
                "push to %s refused by TLS (records stay in the spool; check the "
                "collector's certificate and agent.ca_file): %s", self.url, result.detail,
            )
        else:
            log.warning("push to %s failed (will retry): %s", self.url, result.detail)

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()

    async def _run(self) -> None:
        backoff = self.backoff_initial_s
        last_failure_log = 0.0
        last_detail = ""
        while not self._stopping:
            try:
                result = await self.push_once()
            except Exception:  # a spool error must not end pushing for good
                log.exception("push failed unexpectedly")
                result = PushResult("failed", "internal")
            if result is None:
                self.metrics.spool_records.set(self.spool.count)
                await self._wait(self.push_interval_s)
                continue
            if result.outcome == "failed":
                now = time.monotonic()
                # every 30 s, and at once when the reason changes (e.g. TLS)
                if now - last_failure_log > 30 or result.detail != last_detail:
                    self._log_failure(result)
                    last_failure_log, last_detail = now, result.detail
                # full jitter (AWS architecture blog, "Exponential Backoff And Jitter")
                await asyncio.sleep(random.uniform(0, backoff))
                backoff = min(self.backoff_max_s, backoff * 2)
                continue
            backoff = self.backoff_initial_s
            last_detail = ""
            # A full batch or on-demand results waiting: go again at once; otherwise
            # let records accumulate for push_interval_s (fewer, bigger batches).
            if self.spool.count >= self.batch_max_records or self.spool.has_job_records:
                continue
            await self._wait(self.push_interval_s)


def _tls_reason(exc: aiohttp.ClientSSLError) -> str:
    """The verifier's own words (e.g. "IP address mismatch, certificate is not
    valid for '127.0.0.1'", "certificate has expired"); no header or token."""
    cert_error = getattr(exc, "certificate_error", None)
    if isinstance(cert_error, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {cert_error.verify_message}"
    cause = getattr(exc, "os_error", None) or exc
    return f"{type(cause).__name__}: {cause}"
