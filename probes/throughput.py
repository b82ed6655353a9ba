"""Throughput to the modem with the real ``iperf3`` client.

iperf3 is the tool support staff and peers (perfSONAR) already trust, so the
probe runs it as an asyncio subprocess with ``--json`` rather than
re-implementing it: one run with ``-R`` (download: server sends) and one
without (upload). Its own failures — server busy, refused, unreachable,
timed out — come back in the JSON ``error`` field and become a ``ProbeError``
carrying iperf3's message. The subprocess is killed on timeout or cancel.
At most one test per node at a time is the scheduler's rule (THRESHOLDS.md,
perfSONAR's exclusive class), not this module's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
from dataclasses import dataclass
from typing import Any

from probes.model import ErrorKind, ProbeError, Target, ThroughputResult
from probes.resolve import Resolver, Unresolved, default_resolver

log = logging.getLogger(__name__)

MAX_DURATION_S = 60.0
MAX_STREAMS = 128
_CONNECT_TIMEOUT_MS = 3000
_OUTPUT_LIMIT = 4 << 20  # iperf3 JSON for a 60 s, 128-stream run stays well below

# iperf3 3.x error texts (src/iperf_error.c) -> our error kinds; first match wins.
_ERROR_KINDS: tuple[tuple[str, ErrorKind], ...] = (
    ("server is busy", "busy"),
    ("connection refused", "refused"),
    ("no route to host", "unreachable"),
    ("network is unreachable", "unreachable"),
    ("host is unreachable", "unreachable"),
    ("name or service not known", "config"),
    ("temporary failure in name resolution", "config"),
    ("timed out", "timeout"),
    ("operation now in progress", "timeout"),
    ("connection reset", "refused"),
)


@dataclass(frozen=True)
class _Run:
    mbps: float
    retransmits: int | None


def classify_error(message: str) -> ErrorKind:
    """Map an iperf3 error message to a ProbeError kind."""
    low = message.lower()
    for needle, kind in _ERROR_KINDS:
        if needle in low:
            return kind
    return "internal"


def parse_report(doc: dict[str, Any]) -> _Run | ProbeError:
    """Take the receiver's rate and the sender's retransmits out of iperf3 JSON."""
    error = doc.get("error")
    if error:
        return ProbeError(kind=classify_error(str(error)), message=f"iperf3: {error}"[:2048])
    end = doc.get("end") or {}
    received = end.get("sum_received") or {}
    bps = received.get("bits_per_second")
    if not isinstance(bps, int | float) or bps < 0:
        return ProbeError(
            kind="decode", message="iperf3 JSON has no end.sum_received.bits_per_second"
        )
    retr = (end.get("sum_sent") or {}).get("retransmits")
    return _Run(
        mbps=float(bps) / 1e6,
        retransmits=int(retr) if isinstance(retr, int) and retr >= 0 else None,
    )


class ThroughputProbe:
    """Download then upload with iperf3 against the target's iperf server."""

    kind = "throughput"

    def __init__(
        self,
        duration_s: float = 5.0,
        streams: int = 1,
        timeout_s: float | None = None,
        directions: tuple[str, ...] = ("down", "up"),
        binary: str = "iperf3",
        resolver: Resolver | None = None,
    ) -> None:
        if not 1.0 <= duration_s <= MAX_DURATION_S:
            raise ValueError(f"duration_s must be 1..{MAX_DURATION_S}")
        if not 1 <= streams <= MAX_STREAMS:
            raise ValueError(f"streams must be 1..{MAX_STREAMS}")
        if not directions or any(d not in ("down", "up") for d in directions):
            raise ValueError("directions must be a non-empty subset of ('down', 'up')")
        self.duration_s = duration_s
        self.streams = streams
        # Per direction: the test itself, connect, and iperf3's end-of-test exchange.
        self.timeout_s = timeout_s if timeout_s is not None else duration_s + 10.0
        self.directions = directions
        self.binary = binary
        self.resolver = resolver or default_resolver()

    async def start(self) -> None:
        """Nothing long-lived: each run is its own subprocess."""

    async def aclose(self) -> None:
        """Runs kill their own subprocesses; nothing to release."""

    async def run(self, target: Target) -> ThroughputResult | ProbeError:
        if shutil.which(self.binary) is None:
            return ProbeError(kind="config", message=f"{self.binary} is not installed")
        server = target.iperf_host or target.host
        try:  # a name: our cached lookup, so a dead name is ``unresolved`` like elsewhere
            address = (await self.resolver.resolve(server))[1]
        except Unresolved as exc:
            return ProbeError(kind="unresolved", message=str(exc)[:2048])
        rates: dict[str, float] = {}
        retransmits: int | None = None
        for direction in self.directions:
            outcome = await self._run_once(address, target.iperf_port,
                                           reverse=direction == "down")
            if isinstance(outcome, ProbeError):
                return outcome
            rates[direction] = outcome.mbps
            if outcome.retransmits is not None:
                retransmits = (retransmits or 0) + outcome.retransmits
        return ThroughputResult(
            down_mbps=rates.get("down"),
            up_mbps=rates.get("up"),
            retransmits=retransmits,
            duration_s=self.duration_s,
            streams=self.streams,
            server=(f"[{server}]:" if ":" in server else f"{server}:")[:250]
            + str(target.iperf_port),
        )

    async def _run_once(self, server: str, port: int, *, reverse: bool) -> _Run | ProbeError:
        argv = [
            self.binary, "-c", server, "-p", str(port), "-J",
            "-t", f"{self.duration_s:g}", "-P", str(self.streams),
            "--connect-timeout", str(_CONNECT_TIMEOUT_MS),
        ] + (["-R"] if reverse else [])  # fmt: skip
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=_OUTPUT_LIMIT,
            )
        except OSError as exc:
            return ProbeError(kind="config", message=f"cannot start {self.binary}: {exc}")
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout_s)
        except TimeoutError:
            return ProbeError(
                kind="timeout",
                message=f"iperf3 to {server}:{port} did not finish within {self.timeout_s:g}s",
            )
        finally:
            # Runs on timeout and on cancel: never leave an iperf3 behind.
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(Exception):
                    await asyncio.shield(proc.wait())
        try:
            doc = json.loads(out[:_OUTPUT_LIMIT] or b"{}")
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or (not doc and proc.returncode != 0):
            text = err.decode(errors="replace").strip() or f"exit {proc.returncode}"
            return ProbeError(kind=classify_error(text), message=f"iperf3: {text}"[:2048])
        return parse_report(doc)
