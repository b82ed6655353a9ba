"""Dark modems the kernel reports, as on a real access network.

A simulated modem that merely stops answering is kinder than a real dark one:
on a real network the neighbour entry fails, routers and firewalls answer, and
the prober's sockets meet ICMP errors (issue 14: the agent died of exactly
those). So, as root, the fleet keeps an nftables table of its own whose input
rule rejects every packet arriving for a dark modem's address with ICMP
host-unreachable (``dead_modem``, ``node_outage``): the send succeeds and the
error comes back asynchronously, as from a router whose ARP for the modem
failed, so SNMP polls get EHOSTUNREACH through the error queue and pings an
ICMP error, like a modem that lost power. (An output-hook reject would fail
the send itself with EPERM, which no real network does.)

Lifecycle: ``start()`` creates the table (removing tables of fleets that died
without cleaning up), ``set_dark()`` makes the kernel's set equal to the
fleet's dark addresses (one ``nft -f -`` call per change, serialised),
``stop()`` deletes the table. Not root, or no ``nft``: ``mode="auto"`` logs
once and stays silent-only; ``mode="on"`` raises.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
from collections.abc import Iterable

log = logging.getLogger(__name__)

_PREFIX = "lwfleet"
_NFT_TIMEOUT_S = 10.0


class KernelFaultError(RuntimeError):
    """Kernel-reported faults were asked for ("on") but cannot be set up."""


async def _nft(script: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "nft", "-f", "-",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _out, err = await asyncio.wait_for(proc.communicate(script.encode()), _NFT_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return 1, "nft timed out"
    return proc.returncode or 0, err.decode(errors="replace").strip()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class KernelDarkness:
    """The fleet's dark addresses, rejected by the kernel with host-unreachable."""

    def __init__(self, mode: str = "auto") -> None:
        if mode not in ("auto", "on", "off"):
            raise ValueError("kernel faults mode must be auto, on or off")
        self.mode = mode
        self.table = f"{_PREFIX}{os.getpid()}"
        self.enabled = False
        self._dark: set[str] = set()
        self._lock = asyncio.Lock()
        self.errors = 0

    async def start(self) -> None:
        if self.mode == "off":
            return
        why = None
        if os.geteuid() != 0:
            why = "not root"
        elif shutil.which("nft") is None:
            why = "nft not installed"
        if why is not None:
            if self.mode == "on":
                raise KernelFaultError(f"kernel-reported faults need root and nft: {why}")
            log.info("fleet: dark modems stay silent only (%s); kernel errors off", why)
            return
        await self._remove_stale()
        code, err = await _nft(
            f"add table inet {self.table}\n"
            f"add set inet {self.table} dark {{ type ipv4_addr; }}\n"
            f"add chain inet {self.table} dark_in {{ type filter hook input priority 0; }}\n"
            f"add rule inet {self.table} dark_in ip daddr @dark "
            "reject with icmp type host-unreachable\n"
        )
        if code != 0:
            if self.mode == "on":
                raise KernelFaultError(f"nft: {err}")
            log.warning("fleet: kernel errors off, nft failed: %s", err)
            return
        self.enabled = True
        log.info("fleet: dark modems rejected by the kernel (nft table inet %s)", self.table)

    async def _remove_stale(self) -> None:
        proc = await asyncio.create_subprocess_exec(
            "nft", "list", "tables", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await proc.communicate()
        for pid in re.findall(rf"table inet {_PREFIX}(\d+)", out.decode()):
            if int(pid) != os.getpid() and not _alive(int(pid)):
                await _nft(f"delete table inet {_PREFIX}{pid}\n")

    async def set_dark(self, addresses: Iterable[str]) -> None:
        """Make the kernel's dark set equal ``addresses``."""
        if not self.enabled:
            return
        async with self._lock:
            wanted = set(addresses)
            add, remove = wanted - self._dark, self._dark - wanted
            if not add and not remove:
                return
            lines = []
            if add:
                lines.append(f"add element inet {self.table} dark {{ {', '.join(sorted(add))} }}")
            if remove:
                lines.append(
                    f"delete element inet {self.table} dark {{ {', '.join(sorted(remove))} }}"
                )
            code, err = await _nft("\n".join(lines) + "\n")
            if code != 0:
                self.errors += 1
                log.warning("fleet: nft could not update dark modems: %s", err)
                return
            self._dark = wanted

    @property
    def dark(self) -> frozenset[str]:
        return frozenset(self._dark)

    async def stop(self) -> None:
        if not self.enabled:
            return
        self.enabled = False
        code, err = await _nft(f"delete table inet {self.table}\n")
        if code != 0:
            log.warning("fleet: nft table %s not removed: %s", self.table, err)
