"""The collector's aiohttp application: ``build_app(config)``.

Lifecycle through ``cleanup_ctx``: the store is opened and migrated, the
engine is warmed from it, then the tick and prune tasks (and, on a shared
PostgreSQL store, the peer sync of ``collector.sync``) run until shutdown,
when long polls are released first and the store is closed last.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import math
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from aiohttp import web

from collector import logfilter
from collector.appkeys import AUTH_LIMITER, TOKENS
from collector.auth import TokenCache
from collector.calls import CallerWatch
from collector.config import CollectorConfig
from collector.metrics import CollectorMetrics
from collector.outages import WATCH_INTERVAL_S, OutageWatch
from collector.ratelimit import AuthFailureLimiter
from collector.routes.common import (
    COLLECTOR,
    CONFIG,
    METRICS,
    PRINCIPAL,
    ApiError,
    Handler,
    error_answer,
)
from collector.routes.table import ROUTES
from collector.service import Collector
from collector.store.factory import open_store
from collector.sync import PeerSync
from collector.webhooks import WEBHOOKS, Webhooks

log = logging.getLogger("linewatch.collector")

_ROLES = {(r.method, r.path): r.roles for r in ROUTES}
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})
_INGEST = "/v1/ingest"
# The first prune waits this long, so a restart loop does not prune on every start.
FIRST_PRUNE_DELAY_S = 60.0


def _is_api(path: str) -> bool:
    return path.startswith("/v1/") or path in ("/healthz", "/metrics") or path == "/v1"


def _template(request: web.Request) -> str:
    """Route template for labels and auth; never the raw path (unbounded)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


_store_log = {"at": 0.0}


def _log_store_unavailable(method: str, template: str, exc: BaseException) -> None:
    """At most one warning per 10 s while the store is away."""
    now = time.monotonic()
    if now - _store_log["at"] >= 10.0:
        _store_log["at"] = now
        log.warning("store unavailable on %s %s (answering 503): %s: %s",
                    method, template, type(exc).__name__, exc)


@web.middleware
async def observe_and_answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors become ``{"error": reason}``; every request is counted and timed."""
    metrics = request.app[METRICS]
    template = _template(request)
    method = request.method if request.method in _METHODS else "other"
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except ApiError as exc:
        status = exc.status
        if template == _INGEST:
            metrics.ingest_error(exc.metric)
        headers = dict(exc.headers or {})
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="linewatch"'
        return error_answer(exc.status, exc.reason, headers or None)
    except web.HTTPException as exc:  # 404/405 from routing, 413 from aiohttp
        status = exc.status
        if exc.status < 400 or not _is_api(request.path):
            raise  # redirects, and the console's own (HTML) errors, pass unchanged
        return error_answer(exc.status, exc.reason)
    except asyncio.CancelledError:
        status = 499  # client went away
        raise
    except Exception as exc:
        collector = request.app.get(COLLECTOR)
        if collector is not None and collector.store.unavailable(exc):
            # The database is away (restart, failover): the client retries,
            # an agent keeps the batch in its spool. One line, not a traceback.
            _log_store_unavailable(method, template, exc)
            if template == _INGEST:
                metrics.ingest_error("store_unavailable")
            status = 503
            return error_answer(503, "store unavailable, retry later", {"Retry-After": "1"})
        log.exception("internal error on %s %s", method, template)
        if template == _INGEST:
            metrics.ingest_error("internal")
        status = 500
        return error_answer(500, "internal error")
    finally:
        metrics.http_requests.labels(template, method, str(status)).inc()
        metrics.http_duration.labels(template).observe(time.perf_counter() - started)


@web.middleware
async def authorize(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 without a valid token, 403 for the wrong role; admin passes everywhere."""
    template = _template(request)
    if template == "unmatched":
        return await handler(request)
    key = (request.method, template)
    if key not in _ROLES:
        return await handler(request)  # aiohttp answers 405 itself
    roles = _ROLES[key]
    if roles is None:
        return await handler(request)
    limiter = request.app[AUTH_LIMITER]
    client = request.remote or "unknown"
    wait_s = limiter.retry_after(client)
    if wait_s > 0:
        request.app[METRICS].auth_failures.labels("rate_limited").inc()
        raise ApiError(429, "too many failed authentications from this client; retry later",
                       "rate_limited", {"Retry-After": str(math.ceil(wait_s))})
    authorization = request.headers.get("Authorization")
    who = await request.app[TOKENS].principal(authorization)
    if who is None:
        limiter.failed(client)
        request.app[METRICS].auth_failures.labels(
            "missing" if authorization is None else "invalid").inc()
        raise ApiError(401, "missing or invalid bearer token", "unauthorized")
    if not who.allowed(roles):
        raise ApiError(403, f"role {who.role} may not call this route", "forbidden")
    request[PRINCIPAL] = who
    return await handler(request)


async def _every(
    interval_s: float,
    step: Callable[[], Awaitable[object]],
    name: str,
    store_unavailable: Callable[[BaseException], bool] = lambda exc: False,
) -> None:
    """Run ``step`` every ``interval_s`` until cancelled; a failing step is logged
    and retried next round, never fatal (the database being away: a short
    warning at most every 10 s instead of a traceback per round)."""
    last_warning = 0.0
    while True:
        await asyncio.sleep(interval_s)
        try:
            await step()
        except Exception as exc:
            if not store_unavailable(exc):
                log.exception("%s failed; retrying in %.0f s", name, interval_s)
            elif time.monotonic() - last_warning >= 10.0:
                last_warning = time.monotonic()
                log.warning("%s: store unavailable (%s); retrying", name, type(exc).__name__)


async def _collector_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    store = open_store(config.db, sqlite_writer=config.sqlite_writer)
    await store.start()
    collector = Collector(config, store, app[METRICS])
    tasks: list[asyncio.Task[None]] = []
    sync = PeerSync(collector) if store.shared else None
    try:
        if sync is not None:
            await sync.prime()  # before the warm load: nothing written meanwhile is missed
        await collector.start()
        app[COLLECTOR] = collector
        app[TOKENS] = TokenCache(store)
        retention = config.retention

        async def prune() -> None:
            removed = await store.prune(time.time(), retention.keep_raw_s, retention.keep_s)
            log.info("pruned %d history rows", removed)

        async def first_prune_then_every() -> None:
            await asyncio.sleep(FIRST_PRUNE_DELAY_S)
            await _every(retention.prune_interval_s, prune, "prune", store.unavailable)

        tasks = [
            asyncio.create_task(
                _every(config.tick_interval_s, collector.tick, "tick", store.unavailable)
            ),
            asyncio.create_task(first_prune_then_every()),
        ]
        if sync is not None:
            tasks.append(
                asyncio.create_task(
                    _every(config.tick_interval_s, sync.step, "peer sync", store.unavailable)
                )
            )
        webhooks = Webhooks(config, store, app[METRICS].registry)
        app[WEBHOOKS] = webhooks
        if webhooks.enabled:
            tasks.append(asyncio.create_task(webhooks.run()))
            callers = CallerWatch(collector, webhooks)
            tasks.append(asyncio.create_task(
                _every(config.tick_interval_s, callers.step, "caller watch", store.unavailable)
            ))
        watch = OutageWatch(collector, webhooks)  # outage history for billing (issue 17)
        # Every few seconds (O(nodes) under the judge lock); a fast-ticking test
        # collector (tick < 1 s) follows as fast as it ticks.
        outage_watch_s = WATCH_INTERVAL_S if config.tick_interval_s >= 1.0 else 0.0
        tasks.append(
            asyncio.create_task(
                _every(max(config.tick_interval_s, outage_watch_s), watch.step,
                       "outage history", store.unavailable)
            )
        )
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await collector.stop()
        await store.stop()


async def _release_long_polls(app: web.Application) -> None:
    """On shutdown, answer waiting agents now instead of after their wait."""
    collector = app.get(COLLECTOR)
    if collector is not None:
        collector.broker.close()


Extension = Callable[[web.Application], None]


def _console_extension() -> Extension | None:
    """The web console mounts itself when ``collector.console`` offers ``setup_console(app)``.

    Its routes are not in the API role table: the auth middleware lets them
    through to the console's own session checks.
    """
    if importlib.util.find_spec("collector.console") is None:
        return None
    return getattr(importlib.import_module("collector.console"), "setup_console", None)


def build_app(
    config: CollectorConfig, *, extensions: Sequence[Extension] | None = None
) -> web.Application:
    """The collector app. ``extensions`` get the app before it starts (to add
    routes, cleanup contexts); default: the web console, when present."""
    # auto_decompress off: read_body inflates gzip itself with a size limit.
    # client_max_size is the wire limit; read_body enforces it with a clear 413.
    app = web.Application(
        middlewares=[observe_and_answer_errors, authorize],
        client_max_size=config.max_body_bytes,
        handler_args={"auto_decompress": False},
    )
    app[CONFIG] = config
    app[METRICS] = CollectorMetrics()
    app[AUTH_LIMITER] = AuthFailureLimiter(config.auth_failure_limit, config.auth_failure_window_s)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    app.cleanup_ctx.append(_collector_ctx)
    app.on_shutdown.append(_release_long_polls)
    if extensions is None:
        console = _console_extension()
        extensions = [console] if console is not None else []
    for extend in extensions:
        extend(app)
    return app


def run(config: CollectorConfig, *, ssl_context: ssl.SSLContext | None = None) -> None:
    """Serve until SIGINT/SIGTERM; requests in flight get ``shutdown_timeout_s``.
    ``ssl_context``: HTTPS (``collector.tls.server_context``)."""
    host, port = config.listen_host_port()
    logfilter.install()
    web.run_app(
        build_app(config),
        host=host,
        port=port,
        ssl_context=ssl_context,
        shutdown_timeout=config.shutdown_timeout_s,
        access_log=None,
        print=lambda msg: log.info("%s", msg),
        loop=_new_loop(),
    )


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed: cheaper socket, pipe and thread wake-ups, which
    the ingest path makes several of per batch."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
