"""What every handler shares: the route table type, app keys, JSON answers,
bounded body reading (size limit, gzip with a decompressed-size limit)."""

from __future__ import annotations

import asyncio
import re
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import msgspec
from aiohttp import web

from collector.auth import Principal
from collector.config import CollectorConfig
from collector.metrics import CollectorMetrics
from collector.service import Collector

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

COLLECTOR = web.AppKey("collector", Collector)
CONFIG = web.AppKey("config", CollectorConfig)
METRICS = web.AppKey("metrics", CollectorMetrics)
PRINCIPAL = web.RequestKey("principal", Principal)

ACCOUNT_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_encoder = msgspec.json.Encoder()
T = TypeVar("T")


@dataclass(frozen=True)
class Route:
    """One API route. ``roles`` None = public; admin may call every route."""

    method: str
    path: str
    handler: Handler
    roles: tuple[str, ...] | None


class ApiError(Exception):
    """Becomes ``{"error": reason}`` with ``status``; ``metric`` is the ingest
    error reason when the route counts rejections."""

    def __init__(
        self, status: int, reason: str, metric: str = "schema",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.metric = metric
        self.headers = headers


def answer(obj: object, status: int = 200) -> web.Response:
    return web.Response(
        body=_encoder.encode(obj), status=status, content_type="application/json"
    )


def error_answer(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_encoder.encode({"error": reason}),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def account_param(request: web.Request) -> str:
    account = request.match_info["account"]
    if not ACCOUNT_RE.match(account):
        raise ApiError(400, "account must be 1-64 of A-Z a-z 0-9 . _ : -")
    return account


def time_range(request: web.Request, default_span_s: float = 7 * 86400.0) -> tuple[float, float]:
    """``since``/``until`` query parameters (unix seconds); default the last week."""
    now = time.time()
    try:
        until = float(request.query.get("until", now))
        since = float(request.query.get("since", until - default_span_s))
    except ValueError:
        raise ApiError(400, "since and until must be unix seconds") from None
    if not (0 <= since <= 1e11 and 0 <= until <= 1e11) or since > until:
        raise ApiError(400, "need 0 <= since <= until")
    return since, until


async def read_body(request: web.Request, config: CollectorConfig) -> bytes:
    """The request body, bounded on the wire and after decompression.

    aiohttp's own decompression is off (``auto_decompress=False``) so a gzip
    bomb is stopped here, chunk by chunk, at ``max_decompressed_bytes``.
    """
    raw, encoding = await read_wire_body(request, config)
    return inflate_body(raw, encoding, config.max_decompressed_bytes)


async def read_wire_body(request: web.Request, config: CollectorConfig) -> tuple[bytes, str]:
    """The body as sent (bounded by ``max_body_bytes``) and its content coding
    ("identity", "gzip" or "deflate"); ``inflate_body`` decodes it (blocking:
    a handler may run it in a thread)."""
    limit = config.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"body larger than {limit} bytes", "too_large")
    chunks: list[bytes] = []
    size = 0
    # A client dribbling its body (slowloris) would hold a handler, a socket
    # and a buffer for as long as it likes; the whole body has a deadline.
    try:
        async with asyncio.timeout(config.body_read_timeout_s):
            async for chunk in request.content.iter_chunked(65536):
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, f"body larger than {limit} bytes", "too_large")
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(
            408, f"body not received within {config.body_read_timeout_s:g} s", "too_slow"
        ) from None
    raw = b"".join(chunks)
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw, "identity"
    if encoding not in ("gzip", "deflate"):
        raise ApiError(415, f"unsupported Content-Encoding {encoding!r}", "json")
    return raw, encoding


def inflate_body(raw: bytes, encoding: str, limit: int) -> bytes:
    """``raw`` decoded per ``read_wire_body``'s coding, at most ``limit`` bytes."""
    if encoding == "identity":
        return raw
    return _inflate(raw, encoding, limit)


def _inflate(raw: bytes, encoding: str, limit: int) -> bytes:
    # wbits: 31 = gzip header, 15 = zlib (HTTP "deflate"); max_length bounds
    # each step so the output never exceeds the limit in memory.
    inflater = zlib.decompressobj(31 if encoding == "gzip" else 15)
    out: list[bytes] = []
    size = 0
    data = raw
    try:
        while data:
            part = inflater.decompress(data, 1 << 20)
            size += len(part)
            if size > limit:
                raise ApiError(413, f"decompressed body larger than {limit} bytes", "too_large")
            out.append(part)
            data = inflater.unconsumed_tail
            if inflater.eof:
                break
        if not inflater.eof:
            raise ApiError(400, f"truncated {encoding} body", "json")
    except zlib.error as exc:
        raise ApiError(400, f"bad {encoding} body: {exc}", "json") from None
    return b"".join(out)


def require_json(request: web.Request) -> None:
    if request.content_type != "application/json":
        raise ApiError(415, "Content-Type must be application/json", "json")


def decode_json(body: bytes, type_: type[T]) -> T:
    """Decode a request body; 400 for malformed JSON, 422 for wrong shape."""
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        raise ApiError(422, f"invalid body: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc}", "json") from None
    except RecursionError:
        raise ApiError(400, "malformed JSON: nested too deeply", "json") from None
