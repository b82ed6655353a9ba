"""Per-client limit on failed authentication.

Tokens carry 256 random bits, so guessing one is hopeless anyway; the limit is
there so a misconfigured agent or a scanner cannot turn the collector into a
free oracle, fill the logs, or cost a store lookup per guess. After
``max_failures`` failures from one client address within ``window_s`` that
client is refused with 429 for the rest of the window — *every* request that
carries credentials, valid ones included, because letting a valid token through
while blocked would answer the very question a guesser is asking.

The client is the socket peer; ``X-Forwarded-For`` is not trusted (a client
could name any address). Behind a proxy all clients share its address: raise
the limit there or set it to 0 (off). Memory is bounded: at most
``max_clients`` addresses are tracked, the oldest forgotten first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Window:
    started: float
    failures: int


class AuthFailureLimiter:
    def __init__(self, max_failures: int, window_s: float, max_clients: int = 65_536) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_clients = max_clients
        self._clients: OrderedDict[str, _Window] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.max_failures > 0

    def retry_after(self, client: str, now: float | None = None) -> float:
        """Seconds this client must wait, or 0.0 if it may try."""
        if not self.enabled:
            return 0.0
        window = self._clients.get(client)
        if window is None:
            return 0.0
        now = time.monotonic() if now is None else now
        left = window.started + self.window_s - now
        if left <= 0:
            del self._clients[client]
            return 0.0
        return left if window.failures >= self.max_failures else 0.0

    def failed(self, client: str, now: float | None = None) -> None:
        if not self.enabled:
            return
        now = time.monotonic() if now is None else now
        window = self._clients.get(client)
        if window is None or now - window.started >= self.window_s:
            window = _Window(started=now, failures=0)
        window.failures += 1
        self._clients[client] = window
        self._clients.move_to_end(client)
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)

    def tracked(self) -> int:
        return len(self._clients)
