"""Signed outbound webhooks from a durable outbox (issue 17, part 4).

Producers (the outage watch, the dispatch and call routes; never the ingest
path) put one outbox row per event and receiver into the store. The row's id
is the delivery id and is derived from the event's own identity, so the same
event offered by several collectors sharing a store is kept once. Senders on
every collector claim due rows in the store (a lease: a dead claimer's rows are
taken over), POST them signed, and delete them on a 2xx; anything else is
retried with exponential backoff and jitter under the same delivery id (at
least once). The outbox is bounded: past ``max_outbox`` new rows are dropped
and counted. A slow, down or failing receiver only occupies the senders."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import random
import secrets
import time
from typing import TYPE_CHECKING

import aiohttp
import msgspec
from aiohttp import web
from prometheus_client import Counter, Gauge

from collector.config import WEBHOOK_EVENTS, CollectorConfig, ConfigError, WebhookConfig

if TYPE_CHECKING:
    from collector.store.base import Store

log = logging.getLogger(__name__)

OUTCOMES = ("ok", "http_error", "timeout", "connect_error")
# Delivered rows are kept (without their body) this long, so an event offered
# again after its delivery (a second collector, a restart) is not sent twice.
DELIVERED_KEEP_S = 7 * 86400.0

WEBHOOKS: web.AppKey[Webhooks] = web.AppKey("webhooks")


class OutboxRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str  # the delivery id (X-Linewatch-Delivery), the same on every retry
    hook: str  # the receiver's URL
    event: str
    body: bytes
    created_at: float
    attempts: int = 0


class EventEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    """The body of every webhook POST."""

    event: str
    id: str  # the event's own id (an outage, a dispatch, a call)
    at: float
    data: object


def delivery_id(event: str, event_id: str, url: str) -> str:
    """Deterministic: one event to one receiver is one row, whoever offers it."""
    digest = hashlib.sha256(f"{event}\0{event_id}\0{url}".encode()).hexdigest()
    return f"wh-{digest[:32]}"


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookMetrics:
    def __init__(self, registry: object) -> None:
        r = registry
        self.deliveries = Counter(
            "linewatch_webhook_deliveries", "Webhook POST attempts by event and outcome",
            ["event", "outcome"], registry=r,  # type: ignore[arg-type]
        )
        self.dropped = Counter(
            "linewatch_webhook_dropped", "Webhook events not kept: the outbox was full",
            ["event"], registry=r,  # type: ignore[arg-type]
        )
        self.depth = Gauge(
            "linewatch_webhook_outbox_depth", "Undelivered webhook rows in the outbox",
            registry=r,  # type: ignore[arg-type]
        )
        self.oldest = Gauge(
            "linewatch_webhook_outbox_oldest_age_seconds",
            "Age of the oldest undelivered webhook row (0 when empty)",
            registry=r,  # type: ignore[arg-type]
        )
        # Every series exists from the start (at zero), with or without receivers
        # configured, so dashboards and alerts see 0 rather than no data.
        for event in WEBHOOK_EVENTS:
            self.dropped.labels(event)
            for outcome in OUTCOMES:
                self.deliveries.labels(event, outcome)


class Webhooks:
    """Outbox producer and sender for one collector (``app[WEBHOOKS]``)."""

    def __init__(self, config: CollectorConfig, store: Store, registry: object) -> None:
        self.config = config.webhook_delivery
        self.hooks = list(config.webhooks)
        self.store = store
        self.metrics = WebhookMetrics(registry)
        self.owner = secrets.token_hex(8)  # this collector, for claims
        self._secrets: dict[str, bytes] = {}
        for hook in self.hooks:
            value = os.environ.get(hook.secret_env)
            if not value:
                raise ConfigError(f"webhook {hook.url}: environment variable "
                                  f"{hook.secret_env} (secret_env) is not set")
            self._secrets[hook.url] = value.encode()
        self._wake = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return bool(self.hooks)

    def wants(self, event: str) -> bool:
        return any(event in h.events for h in self.hooks)

    async def emit(self, event: str, event_id: str, data: object, at: float | None = None) -> None:
        """Keep the event for every receiver that asked for it (never raises:
        a failed enqueue is logged, the caller's work goes on)."""
        hooks: list[WebhookConfig] = [h for h in self.hooks if event in h.events]
        if not hooks:
            return
        at = time.time() if at is None else at
        body = msgspec.json.encode(EventEnvelope(event=event, id=event_id, at=at, data=data))
        rows = [
            OutboxRow(id=delivery_id(event, event_id, h.url), hook=h.url, event=event, body=body,
                      created_at=at)
            for h in hooks
        ]
        try:
            dropped = await self.store.enqueue_webhooks(rows, self.config.max_outbox)
        except Exception:
            log.exception("webhook %s %s not kept", event, event_id)
            self.metrics.dropped.labels(event).inc(len(rows))
            return
        if dropped:
            self.metrics.dropped.labels(event).inc(dropped)
            log.warning("webhook outbox full: %d %s deliveries dropped", dropped, event)
        self._wake.set()

    async def run(self) -> None:
        """Send until cancelled: claim due rows, POST them, settle each."""
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        gauges = asyncio.create_task(self._gauges())
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                await self._send_loop(http)
        finally:
            gauges.cancel()

    async def _gauges(self) -> None:
        """Depth and oldest age on their own beat: senders may all be held by a
        slow receiver exactly when these matter."""
        while True:
            await self.refresh_gauges()
            await asyncio.sleep(max(self.config.poll_interval_s, 0.5))

    async def refresh_gauges(self) -> None:
        try:
            depth, oldest = await self.store.webhook_outbox_stats()
        except Exception as exc:
            log.warning("webhook outbox unavailable: %s", type(exc).__name__)
            return
        self.metrics.depth.set(depth)
        self.metrics.oldest.set(max(0.0, time.time() - oldest) if oldest is not None else 0.0)

    async def _send_loop(self, http: aiohttp.ClientSession) -> None:
        cfg = self.config
        while True:
            claimed = await self._step(http)
            if claimed < cfg.concurrency:  # caught up: wait for new rows or the poll
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), cfg.poll_interval_s)
                except TimeoutError:
                    pass

    async def _step(self, http: aiohttp.ClientSession) -> int:
        now = time.time()
        try:
            rows = await self.store.claim_webhooks(
                self.owner, now, self.config.lease_s, self.config.concurrency
            )
        except Exception as exc:
            log.warning("webhook outbox unavailable: %s", type(exc).__name__)
            return 0
        if rows:
            await asyncio.gather(*(self._send(http, row) for row in rows))
        return len(rows)

    async def _send(self, http: aiohttp.ClientSession, row: OutboxRow) -> None:
        secret = self._secrets.get(row.hook)
        outcome = "http_error"
        if secret is not None:  # a receiver no longer configured: kept for its return
            headers = {
                "Content-Type": "application/json",
                "X-Linewatch-Event": row.event,
                "X-Linewatch-Delivery": row.id,
                "X-Linewatch-Signature": signature(secret, row.body),
            }
            try:
                async with http.post(row.hook, data=row.body, headers=headers) as resp:
                    await resp.read()
                    outcome = "ok" if 200 <= resp.status < 300 else "http_error"
            except TimeoutError:
                outcome = "timeout"
            except aiohttp.ClientError:
                outcome = "connect_error"
        self.metrics.deliveries.labels(row.event, outcome).inc()
        try:
            if outcome == "ok":
                await self.store.finish_webhook(row.id)
            else:
                cfg = self.config
                delay = min(cfg.backoff_max_s, cfg.backoff_base_s * 2.0 ** min(row.attempts, 30))
                delay *= random.uniform(0.5, 1.5)
                await self.store.retry_webhook(row.id, time.time() + delay)
        except Exception as exc:  # the lease expires and the row is sent again
            log.warning("webhook %s not settled: %s", row.id, type(exc).__name__)
