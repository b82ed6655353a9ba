"""Console sessions: a random id in a cookie -> (principal, CSRF token, expiry).

Sessions live in memory on purpose: a collector restart signs everyone out,
which is acceptable for a support console and keeps session ids out of the
store. The map is keyed by the SHA-256 of the id, so a memory dump or a debug
print never shows a usable cookie value. With several collectors behind a load
balancer, route the console stickily (or sign in again on the other one).

CSRF: every session has its own random token, sent in a hidden form field or
the ``X-CSRF-Token`` header and compared in constant time on every POST. The
sign-in form is protected too (no session yet): its hidden field is an HMAC of
a short-lived pre-session cookie, so a cross-site page cannot sign a victim in
under the attacker's token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from collector.auth import Principal

IDLE_TIMEOUT_S = 30 * 60.0  # a support shift step away from the desk signs out
ABSOLUTE_TIMEOUT_S = 12 * 3600.0  # and nobody stays signed in across shifts
MAX_SESSIONS = 10_000  # bound on memory; the oldest session is dropped beyond it


@dataclass
class Session:
    principal: Principal
    csrf: str
    created: float
    last_used: float
    # The console language the agent chose (None: Accept-Language, then config).
    language: str | None = None


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class SessionStore:
    """In-memory sessions with idle and absolute expiry."""

    def __init__(
        self,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        absolute_timeout_s: float = ABSOLUTE_TIMEOUT_S,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.absolute_timeout_s = absolute_timeout_s
        self._max = max_sessions
        self._sessions: dict[str, Session] = {}
        # Signs the pre-session (sign-in form) CSRF values; new per process.
        self._secret = secrets.token_bytes(32)

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, principal: Principal, now: float | None = None) -> tuple[str, Session]:
        """A new session; returns (cookie value, session). The id is 256 random bits."""
        now = time.time() if now is None else now
        self._expire(now)
        if len(self._sessions) >= self._max:
            oldest = min(self._sessions, key=lambda k: self._sessions[k].last_used)
            del self._sessions[oldest]
        session_id = secrets.token_urlsafe(32)
        session = Session(
            principal=principal, csrf=secrets.token_urlsafe(32), created=now, last_used=now
        )
        self._sessions[_key(session_id)] = session
        return session_id, session

    def get(self, session_id: str | None, now: float | None = None) -> Session | None:
        """The live session for a cookie value (touching its idle timer), else None."""
        if not session_id or len(session_id) > 128:
            return None
        now = time.time() if now is None else now
        key = _key(session_id)
        session = self._sessions.get(key)
        if session is None:
            return None
        if self._expired(session, now):
            del self._sessions[key]
            return None
        session.last_used = now
        return session

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(_key(session_id), None)

    def _expired(self, session: Session, now: float) -> bool:
        return (
            now - session.last_used > self.idle_timeout_s
            or now - session.created > self.absolute_timeout_s
        )

    def _expire(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]

    # --- sign-in form CSRF (before a session exists) --------------------------------
    def presession_token(self, pre_cookie: str) -> str:
        return hmac.new(self._secret, pre_cookie.encode("utf-8"), hashlib.sha256).hexdigest()

    def presession_ok(self, pre_cookie: str | None, field: str | None) -> bool:
        if not pre_cookie or not field or len(pre_cookie) > 128:
            return False
        return hmac.compare_digest(self.presession_token(pre_cookie), field)


def csrf_ok(session: Session, sent: str | None) -> bool:
    """Constant-time comparison of the sent CSRF token with the session's."""
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), (sent or "").encode())
