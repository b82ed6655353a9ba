"""Unreachable modems the kernel reports, as on a real access network.

A simulated modem that merely stops answering is kinder than a real dark one:
on a real network the neighbour entry fails, routers and firewalls answer, and
the prober's sockets meet ICMP errors (issue 14: the agent died of exactly
those). So, as root, the fleet keeps an nftables table of its own whose
input-hook rules reject packets for the addresses its faults made unreachable,
each set with its own ICMP error:

- ``host-unreachable``: a dark modem (dead, powered off, node outage, cut drop):
  SNMP polls get EHOSTUNREACH, ping "Destination Host Unreachable" instead of
  the kernel's own loopback echo reply;
- ``admin-prohibited``: a firewall on the path (EHOSTUNREACH, ICMP code 13);
- ``port-unreachable``: the modem's SNMP agent is down (ECONNREFUSED); only
  the fleet's SNMP port, so ping still answers, as from a live modem.

IPv6 (a fleet with ``--ipv6-base``): each set has an ``ip6`` twin rejected with
the ICMPv6 counterpart (addr-unreachable, admin-prohibited, port-unreachable),
so a dark IPv6 modem is reported by the kernel as a dark IPv4 one is; neighbour
discovery is never rejected (the link to the fleet must keep resolving).

Input hook, not output: a reject in the output hook also fails the send itself
with EPERM, which no real network does; in the input hook the send succeeds
and the error arrives asynchronously through the error queue, as from a router
whose ARP for the modem failed (checked on loopback with IP_RECVERR sockets).
UDP to other ports passes untouched, so another fleet on the same 127.x
addresses (another test, the soak) keeps answering on its own port; ICMP and
TCP to an address rejected here are rejected for everyone on the host.

Lifecycle: ``start(port)`` creates the table (emptied if a crashed run of this
process id left one; tables of fleet processes that are gone are removed),
``set_rejected()`` makes the kernel's sets equal to the fleet's faults (one
``nft -f -`` transaction per change, as an asyncio subprocess, serialised),
``stop()`` deletes the table. Not root, or no ``nft``: ``mode="auto"`` logs
once and stays silent-only; ``mode="on"`` raises ``KernelFaultError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
from collections.abc import Iterable, Mapping

log = logging.getLogger(__name__)

ENV = "LINEWATCH_FLEET_KERNEL_FAULTS"
MODES = ("auto", "on", "off")
# ICMP reject types, strongest first: an address in several sets gets the first.
REJECT_TYPES = ("host-unreachable", "admin-prohibited", "port-unreachable")
# The ICMPv6 error for each (nft's "reject with icmpv6 type ..." names).
ICMPV6_REJECT = {"host-unreachable": "addr-unreachable",
                 "admin-prohibited": "admin-prohibited",
                 "port-unreachable": "port-unreachable"}
_PREFIX = "lwfleet"
_NFT_TIMEOUT_S = 10.0
_instances = 0


class KernelFaultError(RuntimeError):
    """Kernel-reported faults were asked for ("on") but cannot be set up."""


async def _run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run a command without blocking the loop; (returncode, stdout, stderr)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return 127, "", str(exc)
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), _NFT_TIMEOUT_S)
    except BaseException as exc:  # timed out, or cancelled: no nft outlives the call
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        if isinstance(exc, TimeoutError):
            return 1, "", f"{argv[0]} timed out"
        raise
    return (proc.returncode or 0, out.decode(errors="replace"),
            err.decode(errors="replace").strip())


async def _nft(script: str) -> tuple[int, str]:
    code, _out, err = await _run("nft", "-f", "-", stdin=script)
    return code, err


def _start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None if it is gone.

    Part of the table name, so a table whose process id was reused by another
    process is still recognised as stale."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _set_name(reject: str, v6: bool = False) -> str:
    return reject.replace("-", "_") + ("6" if v6 else "")


def _split(addresses: Iterable[str]) -> tuple[list[str], list[str]]:
    """(IPv4, IPv6) addresses, sorted: nft sets hold one family each."""
    v4, v6 = [], []
    for address in sorted(addresses):
        (v6 if ":" in address else v4).append(address)
    return v4, v6


def resolve_mode(mode: str | None) -> str:
    """The mode asked for, else $LINEWATCH_FLEET_KERNEL_FAULTS, else "auto"."""
    chosen = mode if mode is not None else os.environ.get(ENV, "auto")
    if chosen not in MODES:
        raise ValueError(f"kernel faults must be auto, on or off (--kernel-faults or ${ENV}), "
                         f"got {chosen!r}")
    return chosen


class KernelDarkness:
    """The fleet's unreachable addresses, rejected by the kernel with ICMP errors."""

    def __init__(self, mode: str | None = None) -> None:
        """``mode`` None: $LINEWATCH_FLEET_KERNEL_FAULTS, else "auto"."""
        global _instances
        self.mode = resolve_mode(mode)
        _instances += 1
        pid = os.getpid()
        # pid + start time + instance: unique per fleet, even several in one process.
        self.table = f"{_PREFIX}{pid}_{_start_time(pid) or 0}_{_instances}"
        self.enabled = False
        self.port = 0
        self._sets: dict[str, frozenset[str]] = {t: frozenset() for t in REJECT_TYPES}
        self._stale_state = False  # the kernel may differ from _sets: rebuild next time
        self._lock = asyncio.Lock()
        self.errors = 0
        self.why_off = "off" if self.mode == "off" else ""

    async def start(self, port: int) -> None:
        """Create the table for a fleet answering SNMP on ``port``."""
        if self.mode == "off":
            return
        why = ""
        if os.geteuid() != 0:
            why = "not root"
        elif shutil.which("nft") is None:
            why = "nft not installed"
        if why:
            self.why_off = why
            if self.mode == "on":
                raise KernelFaultError(f"kernel-reported faults need root and nft: {why}")
            log.info("fleet: unreachable modems stay silent only (%s); kernel errors off", why)
            return
        self.port = port
        await self._remove_stale()
        code, err = await _nft(self._table_script())
        if code != 0:
            self.why_off = f"nft failed: {err}"
            if self.mode == "on":
                raise KernelFaultError(f"nft: {err}")
            log.warning("fleet: kernel errors off, nft failed: %s", err)
            return
        self.enabled = True
        log.info("fleet: unreachable modems rejected by the kernel (nft table inet %s)",
                 self.table)

    def _table_script(self) -> str:
        """The whole table with the current sets, replacing any table of that name."""
        t, port = self.table, self.port
        lines = [f"add table inet {t}", f"delete table inet {t}", f"add table inet {t}"]
        for reject in REJECT_TYPES:
            lines.append(f"add set inet {t} {_set_name(reject)} {{ type ipv4_addr; }}")
            lines.append(f"add set inet {t} {_set_name(reject, True)} {{ type ipv6_addr; }}")
        lines += [
            f"add chain inet {t} reject_in {{ type filter hook input priority 0; }}",
            # Other UDP ports belong to other programs (another fleet on these addresses).
            f"add rule inet {t} reject_in udp dport != {port} return",
            f"add rule inet {t} reject_in ip daddr @host_unreachable "
            "reject with icmp type host-unreachable",
            f"add rule inet {t} reject_in ip daddr @admin_prohibited "
            "reject with icmp type admin-prohibited",
            f"add rule inet {t} reject_in ip daddr @port_unreachable udp dport {port} "
            "reject with icmp type port-unreachable",
            # Neighbour discovery for a rejected address must still work.
            f"add rule inet {t} reject_in icmpv6 type {{ nd-neighbor-solicit, "
            "nd-neighbor-advert, nd-router-solicit, nd-router-advert, nd-redirect } return",
            f"add rule inet {t} reject_in ip6 daddr @host_unreachable6 "
            "reject with icmpv6 type addr-unreachable",
            f"add rule inet {t} reject_in ip6 daddr @admin_prohibited6 "
            "reject with icmpv6 type admin-prohibited",
            f"add rule inet {t} reject_in ip6 daddr @port_unreachable6 udp dport {port} "
            "reject with icmpv6 type port-unreachable",
        ]
        for reject, addresses in self._sets.items():
            lines += self._elements("add", reject, addresses)
        return "\n".join(lines) + "\n"

    def _elements(self, verb: str, reject: str, addresses: Iterable[str]) -> list[str]:
        """nft commands adding / deleting ``addresses`` (either family) in a set."""
        return [f"{verb} element inet {self.table} {_set_name(reject, v6)} {{ {', '.join(part)} }}"
                for v6, part in zip((False, True), _split(addresses), strict=True)
                if part]

    async def _remove_stale(self) -> None:
        """Delete tables of fleet processes that died without cleaning up."""
        code, out, _err = await _run("nft", "list", "tables")
        if code != 0:
            return
        for name, pid, started in re.findall(
                rf"table inet ({_PREFIX}(\d+)(?:_(\d+)_\d+)?)$", out, re.MULTILINE):
            now = _start_time(int(pid))
            gone = now is None or (started not in ("", "0") and int(started) != now)
            if gone and name != self.table:
                if (await _nft(f"delete table inet {name}\n"))[0] == 0:
                    log.info("fleet: removed nft table %s of a fleet that is gone", name)

    async def set_rejected(self, wanted: Mapping[str, Iterable[str]]) -> None:
        """Make the kernel's sets equal ``wanted`` (reject type -> addresses).

        An address in several sets keeps only the strongest (REJECT_TYPES order).
        One atomic nft transaction for all changes; after a failed one the whole
        table is rebuilt at the next call, so kernel and faults cannot drift."""
        if not self.enabled:
            return
        taken: set[str] = set()
        new: dict[str, frozenset[str]] = {}
        for reject in REJECT_TYPES:
            addresses = frozenset(wanted.get(reject, ())) - taken
            taken |= addresses
            new[reject] = addresses
        async with self._lock:
            if not self.enabled:
                return
            old, self._sets = self._sets, new
            if self._stale_state:
                script = self._table_script()
            else:
                lines = []
                for reject in REJECT_TYPES:
                    lines += self._elements("add", reject, new[reject] - old[reject])
                    lines += self._elements("delete", reject, old[reject] - new[reject])
                if not lines:
                    return
                script = "\n".join(lines) + "\n"
            code, err = await _nft(script)
            if code != 0:
                self.errors += 1
                if not self._stale_state:
                    log.warning("fleet: nft could not update unreachable modems "
                                "(rebuilding the table next time): %s", err)
                self._stale_state = True
            elif self._stale_state:
                self._stale_state = False
                log.info("fleet: nft table %s rebuilt", self.table)

    async def set_dark(self, addresses: Iterable[str]) -> None:
        """Only host-unreachable addresses (dark modems), nothing else rejected."""
        await self.set_rejected({"host-unreachable": addresses})

    @property
    def dark(self) -> frozenset[str]:
        return self._sets["host-unreachable"]

    def summary(self) -> dict[str, object]:
        """For ``GET /fleet``: is the kernel reporting faults, and for how many modems."""
        return {
            "mode": self.mode, "enabled": self.enabled,
            "table": f"inet {self.table}" if self.enabled else None,
            "off_because": None if self.enabled else self.why_off or None,
            "rejected": {t: len(a) for t, a in self._sets.items()},
            "nft_errors": self.errors,
        }

    async def stop(self) -> None:
        async with self._lock:
            if not self.enabled:
                return
            self.enabled = False
            code, err = await _nft(f"delete table inet {self.table}\n")
            if code != 0:
                log.warning("fleet: nft table %s not removed: %s", self.table, err)
