"""Bearer tokens and roles.

Tokens are ``secrets.token_urlsafe(32)``: 256 random bits. The store keeps only
their SHA-256. A slow password hash (bcrypt, scrypt) exists to make guessing a
*low-entropy* secret expensive; nobody can enumerate 2**256 candidates, so a
fast hash loses nothing here and lets every request be checked with one
indexed lookup. A leaked database therefore does not leak usable tokens.

Constant time: a presented token is never compared with a stored one. It is
hashed first and the *hash* is the lookup key (an index / dict probe), so how
long a refusal takes does not depend on how many leading characters of a real
token were right; SHA-256 makes the hash of a near-miss unrelated to the real
one. Failed attempts are also limited per client (collector/ratelimit.py).

Tokens never appear in logs, metrics or answers (``linewatch token create``
prints a new token once, to stdout).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable

import msgspec

from collector.model import ROLES
from collector.store.base import Store

# The role that may do everything.
ADMIN = "admin"


class Principal(msgspec.Struct, frozen=True):
    """Who made a request: the token's name (actor in audit/notes) and role."""

    name: str
    role: str

    def allowed(self, roles: Iterable[str]) -> bool:
        return self.role == ADMIN or self.role in roles


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    """The token from an ``Authorization: Bearer TOKEN`` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 512:
        return None
    return token


async def authenticate(store: Store, authorization: str | None) -> Principal | None:
    token = bearer_token(authorization)
    if token is None:
        return None
    found = await store.role_for_token_hash(hash_token(token))
    if found is None:
        return None
    name, role = found
    return Principal(name=name, role=role)


async def create_token(store: Store, role: str, name: str | None = None) -> tuple[str, str]:
    """Store a new token's hash; returns (name, token). The token is shown once."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = new_token()
    name = name or f"{role}-{secrets.token_hex(3)}"
    await store.add_token(name, role, hash_token(token), time.time())
    return name, token


class TokenCache:
    """Remembers recent token-hash lookups for a few seconds, so a busy agent's
    pushes do not each cost a store query. Keys are hashes, never tokens.
    A token deleted from the store stops working within ``ttl_s``."""

    def __init__(self, store: Store, ttl_s: float = 10.0, max_entries: int = 10_000) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._max = max_entries
        self._entries: dict[str, tuple[Principal | None, float]] = {}

    async def principal(self, authorization: str | None) -> Principal | None:
        token = bearer_token(authorization)
        if token is None:
            return None
        key = hash_token(token)
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        found = await self._store.role_for_token_hash(key)
        found_principal = Principal(name=found[0], role=found[1]) if found else None
        if len(self._entries) >= self._max:
            self._entries.clear()  # simple bound; refills from the store
        # Unknown tokens are cached briefly too, so a flood of guesses costs few
        # store queries, while a token created a moment ago works at once.
        ttl = self._ttl_s if found_principal else min(self._ttl_s, 2.0)
        self._entries[key] = (found_principal, now + ttl)
        return found_principal
