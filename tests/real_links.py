"""Modems on real links, for long runs of real agents (issue 14).

A loopback simulator never shows what a dark modem does on a real network: the
kernel and the routers answer with errors. Here modem addresses live inside
network namespaces behind veths (lab.netns, 198.18.0.0/15), each answered by
snmpsim serving a recording of a real device; the faults are the kernel's own
(see ../shared/PEERS.md "Real faults on real links"):

- ``addr_gone``: the modem loses power, its address goes from its namespace;
  the host's neighbour entry fails 15-45 s later and sends then end in host
  unreachable (until then they time out);
- ``route``: ``ip route add unreachable ADDR/32`` on the host (EHOSTUNREACH at send);
- ``prohibited`` / ``port``: a host nftables rule rejects everything to the modem
  with ICMP admin-prohibited / port-unreachable (ping too, as a firewall would).

Used by tests/test_agent_real_links.py and the CI-sized soak (bench/soak.py).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from needs import SHARED
from peers import SNMPSIM_BOOT, snmpsim_recordings, wait_for_snmp

from lab.netns import PREFIX, Link, NetnsLab

# community -> (recording file, technology, the verdict its own levels give when it
# answers: tests/test_verdict_recordings.py judges each of them the same way).
RECORDINGS: dict[str, tuple[str, str, str]] = {
    "motorola": ("librenms-motorola-cm.snmprec", "docsis", "ok"),
    "thomson": ("librenms-thomson-cm.snmprec", "docsis", "line_fault"),  # US TX 31.2 dBmV
    "draytek": ("librenms-draytek_vdsl.snmprec", "dsl", "line_fault"),  # margin 0.5 dB
    "teldat": ("librenms-teldat_teldatvdsl2.snmprec", "dsl", "line_fault"),  # line down
    "linux": ("linux-full-walk.snmprec", "ethernet", "ok"),  # snmpsim's own walk
}
BUNDLED = frozenset({"linux"})  # ships with snmpsim; the others are in ../shared/snmprec
FAULT_KINDS = ("addr_gone", "route", "prohibited", "port")


@dataclass(frozen=True)
class LinkModem:
    """One modem address inside a namespace, answered by snmpsim on port 161."""

    name: str
    addr: str
    link: Link  # host <-> its namespace
    community: str  # picks the recording (and the agent's credential set of that name)

    @property
    def technology(self) -> str:
        return RECORDINGS[self.community][1]


def shared_recordings() -> Path | None:
    """../shared/snmprec, or None where it is absent (it lives beside the project;
    its recordings are not ours to copy, so callers fall back to snmpsim's own)."""
    path = SHARED / "snmprec"
    return path if path.is_dir() else None


def recordings(shared: Path | None) -> dict[str, Path]:
    """community -> recording file; the ../shared ones only when ``shared`` is given."""
    out = {}
    for community, (file, _tech, _verdict) in RECORDINGS.items():
        if community in BUNDLED:
            out[community] = snmpsim_recordings() / file
        elif shared is not None:
            out[community] = shared / file
    return out


async def start_snmpsim(lab: NetnsLab, ns: str, addrs: list[str],
                        files: dict[str, Path]) -> None:
    """snmpsim in ``ns`` on port 161 of each address, one community per recording.
    It drops to nobody before binding, so the namespace lets anyone bind low ports;
    its data and cache live in the lab's temp dir (readable by nobody)."""
    await lab.ns_exec(ns, "sysctl", "-qw", "net.ipv4.ip_unprivileged_port_start=0")
    data = lab.tmpdir / f"snmpsim-data-{ns}"
    cache = lab.tmpdir / f"snmpsim-cache-{ns}"
    data.mkdir()
    cache.mkdir()
    for community, path in files.items():
        shutil.copy(path, data / f"{community}.snmprec")
        (data / f"{community}.snmprec").chmod(0o644)
    data.chmod(0o755)
    cache.chmod(0o777)
    argv = [sys.executable, "-c", SNMPSIM_BOOT, f"--data-dir={data}", f"--cache-dir={cache}",
            *(f"--agent-udpv4-endpoint={a}:161" for a in addrs)]
    if os.geteuid() == 0:
        argv += ["--process-user=nobody", "--process-group=nogroup"]
    log = lab.tmpdir / f"snmpsim-{ns}.log"
    await lab.spawn(ns, "sh", "-c", f"exec {shlex.join(argv)} >{log} 2>&1")
    community = next(iter(files))
    for addr in addrs:
        await asyncio.to_thread(wait_for_snmp, addr, 161, community, 30.0)


async def add_modems(lab: NetnsLab, groups: list[list[tuple[str, str]]],
                     shared: Path | None, *, quick_arp: bool = False) -> dict[str, LinkModem]:
    """One namespace per group behind its own veth; in it one /32 address per
    (modem name, community), from .10 up, all served by one snmpsim.
    ``quick_arp``: brisk neighbour timers on the host's ends (quick_neighbour_timers)."""
    files = recordings(shared)
    out: dict[str, LinkModem] = {}
    for group in groups[:8]:
        ns_modem = await lab.add_modem()
        link = ns_modem.link
        assert link.b_ns is not None
        if quick_arp:  # before the first neighbour entry is made
            await quick_neighbour_timers(lab, link)
        base = ns_modem.addr.rsplit(".", 1)[0]
        for k, (name, community) in enumerate(group[:200]):
            if community not in files:
                raise ValueError(f"no recording for community {community!r}")
            out[name] = LinkModem(name, f"{base}.{10 + k}", link, community)
            await lab.ns_exec(link.b_ns, "ip", "addr", "add", f"{base}.{10 + k}/32",
                              "dev", link.b_if)
        await start_snmpsim(lab, link.b_ns, [out[n].addr for n, _ in group[:200]],
                            {c: files[c] for c in sorted({c for _, c in group})})
    return out


async def quick_neighbour_timers(lab: NetnsLab, link: Link) -> None:
    """Let the host give up on a gone modem's address within a second, not a minute.

    With the kernel's defaults a removed address stays REACHABLE for 15-45 s, then
    a failed resolution takes 3 s after each send: past a 1 s SNMP timeout the
    host-unreachable error is counted but the poll has already timed out. On this
    link's host end (an access router with brisk ARP timers): reachable 2.5-7.5 s,
    first probe after 1 s, and two 0.2 s solicitations."""
    for key, value in (("base_reachable_time_ms", 5000), ("delay_first_probe_time", 1),
                       ("retrans_time_ms", 200), ("ucast_solicit", 2), ("mcast_solicit", 2)):
        await lab.ns_exec(link.a_ns, "sysctl", "-qw",
                          f"net.ipv4.neigh.{link.a_if}.{key}={value}")


class Faults:
    """The kernel-visible faults, undone by ``aclose`` (the nft table and the
    routes live in the host namespace and outlive the lab's namespaces)."""

    def __init__(self, lab: NetnsLab) -> None:
        self.lab = lab
        # Named like the lab's own tables, so a crashed run's table is removed by
        # the next lab (lab.netns.cleanup_stale).
        self.table = f"{PREFIX}{os.getpid()}z"
        self._table_made = False
        self._routes: list[str] = []

    async def inject(self, kind: str, modem: LinkModem) -> None:
        lab = self.lab
        if kind == "addr_gone":
            await lab.ns_exec(modem.link.b_ns, "ip", "addr", "del", f"{modem.addr}/32",
                              "dev", modem.link.b_if)
        elif kind == "route":
            await lab.ns_exec(None, "ip", "route", "add", "unreachable", f"{modem.addr}/32")
            self._routes.append(modem.addr)
        elif kind in ("prohibited", "port"):
            if not self._table_made:
                await lab.ns_exec(None, "nft", "add", "table", "inet", self.table)
                self._table_made = True
                await lab.ns_exec(None, "nft", "add", "chain", "inet", self.table, "out",
                                  "{ type filter hook output priority 0 ; policy accept ; }")
            icmp = "admin-prohibited" if kind == "prohibited" else "port-unreachable"
            await lab.ns_exec(None, "nft", "add", "rule", "inet", self.table, "out", "ip",
                              "daddr", modem.addr, "reject", "with", "icmp", "type", icmp)
        else:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")

    async def set_mtu(self, link: Link, mtu: int) -> None:
        """The modem side of ``link`` (as a smaller MTU on the access line)."""
        await self.lab.ns_exec(link.b_ns, "ip", "link", "set", link.b_if, "mtu", str(mtu))

    async def aclose(self) -> None:
        if self._table_made:
            await self.lab.ns_exec(None, "nft", "delete", "table", "inet", self.table,
                                   check=False)
            self._table_made = False
        for addr in self._routes:
            await self.lab.ns_exec(None, "ip", "route", "del", "unreachable", f"{addr}/32",
                                   check=False)
        self._routes.clear()
