"""The one interface every probe implements.

The scheduler knows nothing about SNMP and the SNMP probe knows nothing about
schedules: each probe module exposes an object with ``kind`` and ``run``.
A probe never raises for a bad peer; it returns a ``ProbeError``.
"""

from __future__ import annotations

from typing import Protocol

from probes.model import ProbeKind, Result, Target


class Probe(Protocol):
    kind: ProbeKind

    async def run(self, target: Target) -> Result:
        """Measure one target. Returns a reading or a ProbeError; exceptions are bugs."""
        ...

    async def aclose(self) -> None:
        """Release sockets, subprocesses and threads."""
        ...
