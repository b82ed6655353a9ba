"""The collector app's own keys (``app[TOKENS]``, ``app[AUTH_LIMITER]``), in a
module of their own so that the web console's views read them without
importing collector/app.py, which mounts the console. The API's keys
(``COLLECTOR``, ``CONFIG``, ``METRICS``, ``PRINCIPAL``) are in
collector/routes/common.py."""

from __future__ import annotations

from aiohttp import web

from collector.auth import TokenCache
from collector.ratelimit import AuthFailureLimiter

TOKENS = web.AppKey("tokens", TokenCache)
AUTH_LIMITER = web.AppKey("auth_limiter", AuthFailureLimiter)

__all__ = ["AUTH_LIMITER", "TOKENS"]
