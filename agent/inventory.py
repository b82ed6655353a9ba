"""Where the agent's targets come from: the collector's assignment or a local CSV.

The last good assignment is kept in the spool database, so an agent restarted
while the collector is away keeps polling the same targets.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp

from probes.inventory import InventoryError, parse_headends, parse_inventory
from probes.model import Assignment, Headend, Target, WireError, decode_as, encode

log = logging.getLogger(__name__)

ASSIGNMENT_META_KEY = "assignment"


class AssignmentError(RuntimeError):
    """The targets could not be loaded this time (the previous set stays in use)."""


def _read_csv(path: str, agent: str) -> list[Target]:
    text = Path(path).read_text(encoding="utf-8")
    return [t for t in parse_inventory(text) if t.agent in (None, "", agent)]


async def load_local(path: str, agent: str) -> list[Target]:
    """Targets from a local inventory CSV (rows for another agent are skipped)."""
    try:
        return await asyncio.to_thread(_read_csv, path, agent)
    except OSError as exc:
        raise AssignmentError(f"cannot read inventory {path}: {exc.strerror}") from None
    except InventoryError as exc:
        raise AssignmentError(f"inventory {path}: {exc}") from None


def _read_headends(path: str, agent: str) -> list[Headend]:
    text = Path(path).read_text(encoding="utf-8-sig")
    return [h for h in parse_headends(text) if h.agent in (None, "", agent)]


async def load_local_headends(path: str, agent: str) -> list[Headend]:
    """Headends from a local headends CSV (rows for another agent are skipped)."""
    try:
        return await asyncio.to_thread(_read_headends, path, agent)
    except OSError as exc:
        raise AssignmentError(f"cannot read headends {path}: {exc.strerror}") from None
    except InventoryError as exc:
        raise AssignmentError(f"headends {path}: {exc}") from None


async def fetch_assignment(
    session: aiohttp.ClientSession, collector_url: str, agent: str, timeout_s: float = 30.0
) -> Assignment:
    url = f"{collector_url.rstrip('/')}/v1/agents/{agent}/assignment"
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise AssignmentError(
                    f"assignment: HTTP {resp.status}: {body[:200].decode('utf-8', 'replace')}"
                )
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise AssignmentError(f"assignment: {type(exc).__name__}: {exc}") from None
    try:
        return decode_as(body, Assignment)
    except WireError as exc:
        raise AssignmentError(str(exc)) from None


def encode_assignment(assignment: Assignment) -> bytes:
    return encode(assignment)


def decode_cached(body: bytes | None) -> Assignment | None:
    if not body:
        return None
    try:
        return decode_as(body, Assignment)
    except WireError:
        log.warning("ignoring unreadable cached assignment")
        return None
