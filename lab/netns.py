"""A throwaway network of kernel namespaces for tests and demos.

Real links, not mocks: namespaces joined by veth pairs, addressed from
198.18.0.0/15 (RFC 2544 benchmarking space, never routed), with net-snmp
``snmpd`` and ``iperf3 -s`` running inside. Faults are kernel features:
``tc tbf`` shapes a link, an nftables table owned by the lab drops a share of
packets (``numgen random``), ``ip link set down`` cuts a link. netem is not
available here (see ../shared/PEERS.md), so there is no injected delay.

Every name starts with ``lwlab<pid>`` so parallel runs never collide and
``cleanup_stale()`` can remove what a crashed run left behind. Everything runs
as asyncio subprocesses; ``__aexit__`` always tears down, also after a failure.

    async with NetnsLab() as lab:
        modem = await lab.add_modem()                  # host <-> modem ns
        await lab.start_iperf3(modem.ns, modem.addr)
        await lab.shape(modem.link, rate_mbit=50)
        await lab.drop(modem.link, percent=20)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import os
import re
import signal
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

PREFIX = "lwlab"
_CMD_TIMEOUT_S = 10.0
_READY_TIMEOUT_S = 5.0
# 198.18.0.0/15 holds 512 /24s; each lab gets a window of 8 picked by pid,
# moved on if the root namespace already routes one of them.
_SLOTS = 512
_SLOTS_PER_LAB = 8
_LAB_SEQ = itertools.count()
# IPv6 links: fd00:4c77:<slot>::/64 (a ULA, fd00::/8; "4c77" = "Lw"), slot as for IPv4.
IPV6_BASE = "fd00:4c77"


class LabError(RuntimeError):
    """A lab command failed; the message holds the command and its stderr."""


@dataclass(frozen=True)
class Link:
    """One veth pair. ``a_ns``/``b_ns`` None means the root (host) namespace."""

    name: str
    a_ns: str | None
    a_if: str
    a_addr: str
    b_ns: str | None
    b_if: str
    b_addr: str
    prefix_len: int = 24
    # IPv6 (issue 16), when the link was made with ipv6=True: a ULA /64 from
    # fd00::/8 with the same slot as the IPv4 /24, a end ::1, b end ::2.
    a_addr6: str | None = None
    b_addr6: str | None = None

    def subnet(self) -> str:
        base = self.a_addr.rsplit(".", 1)[0]
        return f"{base}.0/{self.prefix_len}"

    def subnet6(self) -> str | None:
        return f"{self.a_addr6.rsplit('::', 1)[0]}::/64" if self.a_addr6 else None


@dataclass(frozen=True)
class Modem:
    """A namespace standing in for a customer modem, reached over ``link``."""

    ns: str
    addr: str
    link: Link

    @property
    def addr6(self) -> str | None:
        """The modem's IPv6 address when its link has one."""
        return self.link.b_addr6


@dataclass(frozen=True)
class Chain:
    """host -> router ns -> modem ns, with forwarding and routes both ways."""

    router_ns: str
    router_addr: str  # the router's address on the host side
    modem_ns: str
    modem_addr: str
    uplink: Link  # host <-> router
    downlink: Link  # router <-> modem

    @property
    def modem_addr6(self) -> str | None:
        return self.downlink.b_addr6


@dataclass
class SnmpdConfig:
    """What snmpd answers: a v2c community and optionally one v3 authPriv user."""

    community: str = "public"
    v3_user: str | None = None
    auth_protocol: str = "SHA"
    auth_key: str = ""
    priv_protocol: str = "AES"
    priv_key: str = ""
    sys_descr: str = "linewatch netns lab modem"
    extra_lines: list[str] = field(default_factory=list)


async def run_cmd(*argv: str, check: bool = True, timeout_s: float = _CMD_TIMEOUT_S) -> str:
    """Run one command to completion; return stdout. Bounded in time."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if check and proc.returncode != 0:
        raise LabError(
            f"{' '.join(argv)}: exit {proc.returncode}: {err.decode(errors='replace').strip()}"
        )
    return out.decode(errors="replace")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class NetnsLab:
    """Owner of every namespace, link, nft table and process it creates."""

    def __init__(self, *, prefix: str = PREFIX) -> None:
        # lwlab<pid><lab letter>: several labs in one process never share names,
        # and a veth name (tag + link letter + side) stays within IFNAMSIZ (15).
        self.tag = f"{prefix}{os.getpid()}{chr(ord('a') + next(_LAB_SEQ) % 26)}"
        self._namespaces: list[str] = []
        self._links: list[Link] = []
        self._procs: list[asyncio.subprocess.Process] = []
        self._root_tables: list[str] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._ns_count = 0
        self._link_count = 0
        self._slots: list[int] = []
        self._tables: dict[str | None, str] = {}

    # --- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> NetnsLab:
        if os.geteuid() != 0:
            raise LabError("the netns lab needs root")
        try:
            # Leftovers of dead runs, and of an earlier lab with our very tag
            # whose teardown was cut short (e.g. cancelled).
            await cleanup_stale(also=self.tag)
            self._tmp = tempfile.TemporaryDirectory(prefix=f"{self.tag}-")
            # Make the temp dir usable by snmpd if it ever drops privileges.
            os.chmod(self._tmp.name, 0o755)
            self._slots = await self._free_slots()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Tear everything down; each step runs even when an earlier one fails."""
        steps: list[Callable[[], Awaitable[object]]] = []
        steps += [functools.partial(_stop_process, p) for p in reversed(self._procs)]
        steps += [
            functools.partial(run_cmd, "nft", "delete", "table", "inet", t, check=False)
            for t in self._root_tables
        ]
        steps += [functools.partial(_delete_namespace, ns) for ns in reversed(self._namespaces)]
        steps += [
            functools.partial(run_cmd, "ip", "link", "del", link.a_if, check=False)
            for link in self._links
            if link.a_ns is None
        ]
        self._procs.clear()
        self._root_tables.clear()
        self._namespaces.clear()
        self._links.clear()
        self._tables.clear()
        for step in steps:
            try:
                await step()
            except Exception as exc:  # keep tearing down; report what stayed
                log.warning("netns lab teardown step failed: %s", exc)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def tmpdir(self) -> Path:
        assert self._tmp is not None, "use NetnsLab inside `async with`"
        return Path(self._tmp.name)

    # --- topology -------------------------------------------------------------------

    async def add_namespace(self) -> str:
        """A fresh namespace with loopback up; named ``lwlab<pid><letter>``."""
        if self._ns_count >= 26:
            raise LabError("at most 26 namespaces per lab")
        name = f"{self.tag}{chr(ord('a') + self._ns_count)}"
        self._ns_count += 1
        await run_cmd("ip", "netns", "add", name)
        self._namespaces.append(name)
        await self.ns_exec(name, "ip", "link", "set", "lo", "up")
        return name

    async def add_link(
        self, a_ns: str | None, b_ns: str | None, *, mtu: int | None = None, ipv6: bool = False
    ) -> Link:
        """A veth pair between two namespaces (None = host) on its own /24:
        the ``a`` end gets .1, the ``b`` end .2; with ``ipv6`` also
        ``fd00:4c77:<slot>::1`` / ``::2`` (/64, no DAD so they work at once)."""
        if self._link_count >= len(self._slots) or self._link_count >= 26:
            raise LabError("no free 198.18.0.0/15 subnet left for this lab")
        slot = self._slots[self._link_count]
        letter = chr(ord("a") + self._link_count)
        self._link_count += 1
        base = f"198.{18 + slot // 256}.{slot % 256}"
        link = Link(
            name=f"{self.tag}{letter}",
            a_ns=a_ns,
            a_if=f"{self.tag}{letter}h",
            a_addr=f"{base}.1",
            b_ns=b_ns,
            b_if=f"{self.tag}{letter}p",
            b_addr=f"{base}.2",
            a_addr6=f"{IPV6_BASE}:{slot:x}::1" if ipv6 else None,
            b_addr6=f"{IPV6_BASE}:{slot:x}::2" if ipv6 else None,
        )
        await run_cmd("ip", "link", "add", link.a_if, "type", "veth", "peer", "name", link.b_if)
        self._links.append(link)
        for ns, ifname, addr in ((a_ns, link.a_if, link.a_addr), (b_ns, link.b_if, link.b_addr)):
            if ns is not None:
                await run_cmd("ip", "link", "set", ifname, "netns", ns)
            if mtu is not None:
                await self.ns_exec(ns, "ip", "link", "set", ifname, "mtu", str(mtu))
            await self.ns_exec(ns, "ip", "addr", "add", f"{addr}/{link.prefix_len}", "dev", ifname)
        for ns, ifname, addr6 in ((a_ns, link.a_if, link.a_addr6), (b_ns, link.b_if, link.b_addr6)):
            if addr6 is not None:
                await self.ns_exec(ns, "sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=0")
                await self.ns_exec(ns, "ip", "-6", "addr", "add", f"{addr6}/64", "dev", ifname,
                                   "nodad")
        for ns, ifname in ((a_ns, link.a_if), (b_ns, link.b_if)):
            await self.ns_exec(ns, "ip", "link", "set", ifname, "up")
        return link

    async def add_modem(self, *, mtu: int | None = None, ipv6: bool = False) -> Modem:
        """host (198.18.x.1) <-> a new "modem" namespace (198.18.x.2); with ``ipv6``
        also fd00:4c77:<slot>::1 <-> ::2."""
        ns = await self.add_namespace()
        link = await self.add_link(None, ns, mtu=mtu, ipv6=ipv6)
        return Modem(ns=ns, addr=link.b_addr, link=link)

    async def add_chain(self, *, ipv6: bool = False) -> Chain:
        """host -> router ns -> modem ns; the router forwards, routes set both ways
        (IPv6 too with ``ipv6``: Chain.modem_addr6).

        The router answers ICMP without rate limit so traceroute/MTU tests see
        every reply (Linux limits ICMP errors per peer, burst 6, by default).
        """
        router = await self.add_namespace()
        modem = await self.add_namespace()
        up = await self.add_link(None, router, ipv6=ipv6)
        down = await self.add_link(router, modem, ipv6=ipv6)
        await self.ns_exec(router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        await self.ns_exec(router, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")
        await self.ns_exec(None, "ip", "route", "add", down.subnet(), "via", up.b_addr)
        await self.ns_exec(modem, "ip", "route", "add", "default", "via", down.a_addr)
        if ipv6 and up.b_addr6 and down.a_addr6:
            await self.ns_exec(router, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
            await self.ns_exec(router, "sysctl", "-qw", "net.ipv6.icmp.ratelimit=0")
            await self.ns_exec(None, "ip", "-6", "route", "add", str(down.subnet6()),
                               "via", up.b_addr6)
            await self.ns_exec(modem, "ip", "-6", "route", "add", "default", "via",
                               down.a_addr6)
        return Chain(
            router_ns=router,
            router_addr=up.b_addr,
            modem_ns=modem,
            modem_addr=down.b_addr,
            uplink=up,
            downlink=down,
        )

    # --- faults ---------------------------------------------------------------------

    async def shape(self, link: Link, rate_mbit: float, *, both: bool = True) -> None:
        """Token-bucket limit on the ``a`` end's egress (and the ``b`` end's with
        ``both``), so both directions through the link see ``rate_mbit``.
        Burst/latency as measured in ../shared/PEERS.md (50mbit -> 47.8 Mbit/s)."""
        ends = [(link.a_ns, link.a_if)] + ([(link.b_ns, link.b_if)] if both else [])
        for ns, ifname in ends:
            await self.ns_exec(
                ns, "tc", "qdisc", "replace", "dev", ifname, "root", "tbf",
                "rate", f"{rate_mbit}mbit", "burst", "64kbit", "latency", "50ms",
            )  # fmt: skip

    async def unshape(self, link: Link) -> None:
        for ns, ifname in ((link.a_ns, link.a_if), (link.b_ns, link.b_if)):
            await self.ns_exec(ns, "tc", "qdisc", "del", "dev", ifname, "root", check=False)

    async def drop(self, link: Link, percent: int, *, at: str = "b", direction: str = "in") -> None:
        """Drop ``percent``% of packets at one end of ``link`` (default the ``b``/modem
        end). ``direction`` "in" (default) drops what arrives there, so a round
        trip loses ``percent``%; "out" what leaves; "both" each way."""
        if not 0 <= percent <= 100:
            raise ValueError("percent must be 0..100")
        if direction not in ("in", "out", "both"):
            raise ValueError("direction must be in, out or both")
        ns, ifname = (link.b_ns, link.b_if) if at == "b" else (link.a_ns, link.a_if)
        table = await self._table(ns)
        chains = {"in": ("lw_in",), "out": ("lw_out",), "both": ("lw_in", "lw_out")}[direction]
        # nft's `numgen random mod 100` yields 0..99: "< 100" is out of range.
        share = [] if percent >= 100 else ["numgen", "random", "mod", "100", "<", str(percent)]
        for chain in chains:
            key = "iifname" if chain == "lw_in" else "oifname"
            await self.ns_exec(
                ns,
                "nft",
                "add",
                "rule",
                "inet",
                table,
                chain,
                key,
                ifname,
                *share,
                "counter",
                "drop",
            )

    async def dropped_packets(self, link: Link, *, at: str = "b") -> int:
        """Packets the lab's drop rules at that end have dropped so far."""
        ns = link.b_ns if at == "b" else link.a_ns
        table = self._tables.get(ns)
        if table is None:
            return 0
        out = await self.ns_exec(ns, "nft", "list", "table", "inet", table)
        return sum(int(n) for n in re.findall(r"counter packets (\d+)", out))

    async def clear_drops(self, link: Link, *, at: str = "b") -> None:
        ns = link.b_ns if at == "b" else link.a_ns
        table = self._tables.get(ns)
        if table is not None:
            for chain in ("lw_in", "lw_out"):
                await self.ns_exec(ns, "nft", "flush", "chain", "inet", table, chain)

    async def set_link(self, link: Link, up: bool, *, at: str = "b") -> None:
        """Take one end of a link down (the peer loses carrier) or bring it up."""
        ns, ifname = (link.b_ns, link.b_if) if at == "b" else (link.a_ns, link.a_if)
        await self.ns_exec(ns, "ip", "link", "set", ifname, "up" if up else "down")

    # --- servers --------------------------------------------------------------------

    async def start_iperf3(
        self, ns: str, addr: str, port: int = 5201, *, one_off: bool = False
    ) -> asyncio.subprocess.Process:
        """``iperf3 -s`` bound to ``addr`` inside ``ns``; returns once it listens."""
        argv = ["iperf3", "-s", "-B", addr, "-p", str(port)] + (["-1"] if one_off else [])
        proc = await self.spawn(ns, *argv)
        await self._wait_listening(ns, proc, "tcp", port)
        return proc

    async def start_snmpd(
        self, ns: str, addr: str, config: SnmpdConfig | None = None, *, port: int = 161
    ) -> asyncio.subprocess.Process:
        """net-snmp ``snmpd`` in ``ns`` on ``addr:port`` with a private config and
        persistent dir (``-C`` ignores the system config)."""
        cfg = config or SnmpdConfig()
        # An IPv6 ``addr`` (issue 16) listens on udp6 and needs rocommunity6.
        v6 = ":" in addr
        lines = [
            f"agentAddress udp6:[{addr}]:{port}" if v6 else f"agentAddress udp:{addr}:{port}",
            f"rocommunity{'6' if v6 else ''} {cfg.community} default",
            f"sysDescr {cfg.sys_descr}",
            "sysLocation netns lab",
        ]
        if cfg.v3_user:
            lines.append(
                f'createUser {cfg.v3_user} {cfg.auth_protocol} "{cfg.auth_key}" '
                f'{cfg.priv_protocol} "{cfg.priv_key}"'
            )
            lines.append(f"rouser {cfg.v3_user} priv")
        lines.extend(cfg.extra_lines)
        workdir = self.tmpdir / f"snmpd-{ns}-{port}"
        workdir.mkdir(exist_ok=True)
        conf = workdir / "snmpd.conf"
        conf.write_text("\n".join(lines) + "\n")
        conf.chmod(0o600)  # holds the v3 keys
        env = {**os.environ, "SNMP_PERSISTENT_DIR": str(workdir), "MIBS": ""}
        proc = await self.spawn(
            ns, "snmpd", "-f", "-Lf", str(workdir / "snmpd.log"), "-C", "-c", str(conf),
            "-M", "/nonexistent", "-m", "", "-p", str(workdir / "snmpd.pid"), env=env,
        )  # fmt: skip
        await self._wait_listening(ns, proc, "udp", port)
        return proc

    async def spawn(
        self, ns: str | None, *argv: str, env: dict[str, str] | None = None
    ) -> asyncio.subprocess.Process:
        """A long-running process in ``ns`` that the lab stops on exit."""
        full = (["ip", "netns", "exec", ns] if ns else []) + list(argv)
        proc = await asyncio.create_subprocess_exec(
            *full,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        self._procs.append(proc)
        return proc

    async def stop(self, proc: asyncio.subprocess.Process) -> None:
        await _stop_process(proc)
        if proc in self._procs:
            self._procs.remove(proc)

    async def ns_exec(self, ns: str | None, *argv: str, check: bool = True) -> str:
        """Run a short command in ``ns`` (None = host namespace)."""
        full = (["ip", "netns", "exec", ns] if ns else []) + list(argv)
        return await run_cmd(*full, check=check)

    # --- internals ------------------------------------------------------------------

    async def _table(self, ns: str | None) -> str:
        """The lab's own nftables table in ``ns``, created on first use."""
        if ns in self._tables:
            return self._tables[ns]
        table = self.tag
        await self.ns_exec(ns, "nft", "add", "table", "inet", table)
        if ns is None:
            self._root_tables.append(table)
        for chain, hook in (("lw_in", "input"), ("lw_out", "output"), ("lw_fwd", "forward")):
            await self.ns_exec(
                ns, "nft", "add", "chain", "inet", table, chain,
                f"{{ type filter hook {hook} priority 0 ; policy accept ; }}",
            )  # fmt: skip
        self._tables[ns] = table
        return table

    async def _wait_listening(
        self, ns: str, proc: asyncio.subprocess.Process, proto: str, port: int
    ) -> None:
        """Poll ``ss`` in the namespace until the port is bound (bounded)."""
        flag = "-ltnH" if proto == "tcp" else "-lunH"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _READY_TIMEOUT_S
        while loop.time() < deadline:
            if proc.returncode is not None:
                raise LabError(f"{proto}/{port} server in {ns} exited with {proc.returncode}")
            out = await self.ns_exec(ns, "ss", flag, "sport", "=", f":{port}")
            if out.strip():
                return
            await asyncio.sleep(0.05)
        raise LabError(f"{proto}/{port} server in {ns} did not start within {_READY_TIMEOUT_S}s")

    async def _free_slots(self) -> list[int]:
        """Pick /24s in 198.18.0.0/15 that the host namespace does not route yet."""
        routes = await run_cmd("ip", "-4", "route", "show", "table", "all")
        used = set()
        for m in re.finditer(r"\b198\.(18|19)\.(\d+)\.\d+", routes):
            used.add((int(m.group(1)) - 18) * 256 + int(m.group(2)))
        start = (os.getpid() % (_SLOTS // _SLOTS_PER_LAB)) * _SLOTS_PER_LAB
        slots = []
        for i in range(_SLOTS):
            slot = (start + i) % _SLOTS
            if slot not in used:
                slots.append(slot)
            if len(slots) == _SLOTS_PER_LAB * 2:
                break
        return slots


async def _stop_process(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, SIGKILL after 2 s; always reaps."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 2.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


async def _delete_namespace(ns: str) -> None:
    """Kill whatever still runs in ``ns`` then delete it (its veths go with it)."""
    out = await run_cmd("ip", "netns", "pids", ns, check=False)
    for token in out.split():
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(token), signal.SIGKILL)
    await run_cmd("ip", "netns", "del", ns, check=False)


async def cleanup_stale(prefix: str = PREFIX, *, also: str | None = None) -> list[str]:
    """Remove namespaces, host veths and nft tables named ``<prefix><pid>...``
    whose pid no longer runs (a crashed or killed test run). Returns what went."""
    removed: list[str] = []
    name_re = re.compile(rf"^{re.escape(prefix)}(\d+)[a-z]")
    table_re = re.compile(rf"^{re.escape(prefix)}(\d+)[a-z]$")

    def stale(name: str, regex: re.Pattern[str]) -> bool:
        if also is not None and name.startswith(also):
            return True
        m = regex.match(name)
        return bool(m) and not _pid_alive(int(m.group(1)))

    for line in (await run_cmd("ip", "netns", "list", check=False)).splitlines():
        ns = line.split()[0] if line.strip() else ""
        if ns and stale(ns, name_re):
            await _delete_namespace(ns)
            removed.append(ns)
    for line in (await run_cmd("ip", "-o", "link", "show", check=False)).splitlines():
        parts = line.split(":", 2)
        if len(parts) < 2:
            continue
        ifname = parts[1].strip().split("@", 1)[0]
        if stale(ifname, name_re):
            await run_cmd("ip", "link", "del", ifname, check=False)
            removed.append(ifname)
    for line in (await run_cmd("nft", "list", "tables", check=False)).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "table" and stale(parts[2], table_re):
            await run_cmd("nft", "delete", "table", parts[1], parts[2], check=False)
            removed.append(parts[2])
    if removed:
        log.info("removed stale lab leftovers: %s", ", ".join(removed))
    return removed


if __name__ == "__main__":
    # `python -m lab.netns`: remove what crashed lab runs left behind.
    for name in asyncio.run(cleanup_stale()):
        print(f"removed {name}")
