"""The fleet: N simulated modems answering real SNMP on 127.x.y.z, with faults.

Lifecycle: ``Fleet(...)``, ``await fleet.start()``, ``await fleet.stop()`` (or
``async with``). The SNMP socket binds ``bind_host`` (0.0.0.0 by default, so
every 127.x.y.z reaches it) and answers only datagrams addressed to a modem
of this fleet; anything else is counted and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import msgspec

from lab.fleet.answers import Plans, answer, make_plan
from lab.fleet.faults import (
    FAULT_KINDS,
    KERNEL_REJECT,
    NODE_ONLY,
    Fault,
    FaultBook,
    FaultError,
    fault_params,
)
from lab.fleet.headends import Headends
from lab.fleet.kernel import KernelDarkness
from lab.fleet.layout import TECH_PATTERN, Layout, ModemSpec
from lab.fleet.mib import Template, build_templates
from lab.fleet.responder import Unsupported, respond
from lab.fleet.transport import PktinfoUdpServer
from lab.fleet.values import ModemView
from probes.inventory import format_headends, format_inventory
from probes.model import Headend, Target
from probes.snmp.ber import BerError, decode_message, encode_message

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FleetStats:
    """What the SNMP side did; exposed by ``GET /fleet``."""

    requests: int = 0
    responses: int = 0
    malformed: int = 0
    bad_community: int = 0
    unsupported: int = 0
    silent: int = 0  # dropped because the modem is down (fault)
    not_a_modem: int = 0
    internal_errors: int = 0


class Fleet:
    MEMO_MODEMS = 2048  # modems whose seeded constants are kept (the ones being polled now)

    def __init__(
        self,
        modems: int = 600,
        nodes: int = 12,
        seed: int = 1,
        port: int = 1161,
        base_address: str = "127.20.0.0",
        community: str = "public",
        bind_host: str = "0.0.0.0",
        clock: Callable[[], float] = time.time,
        docsis_channels: tuple[int, int] | None = None,
        technologies: tuple[str, ...] = TECH_PATTERN,
        kernel_faults: str | None = "off",
        ipv6_base: str | None = None,
    ) -> None:
        """``kernel_faults``: "auto"/"on" make modems a fault leaves unreachable (dark
        ones, firewall_reject, snmp_closed) rejected by the kernel with an ICMP error as
        root (lab/fleet/kernel.py); None: $LINEWATCH_FLEET_KERNEL_FAULTS, else "auto";
        "off" (the default for in-process fleets) leaves them only silent.
        ``ipv6_base`` (issue 16): the fleet also answers over IPv6, on the same port,
        address ipv6_base + k for base_address + k (modem i on ipv6_base + 1 + i, its
        headends likewise), and its CSVs list those; the range must be local (an
        AnyIP route, ``ip -6 route add local PREFIX dev lo``, in a namespace of the
        caller's). Kernel faults stay IPv4-only: an IPv6 dark modem is silent."""
        self.layout = Layout(modems, nodes, seed, base_address, port, docsis_channels,
                             technologies)
        self.seed = seed
        self.community = community.encode()
        self.faults = FaultBook()
        self.stats = FleetStats()
        self.templates: dict[str, Template] = build_templates()
        self._memos: dict[int, dict[tuple[int, int], float]] = {}
        self.plans = Plans()  # template-encoded answers per request shape (answers.py)
        self._clock = clock
        self.epoch = clock()
        self.fault_version = 0  # bumped by every inject / clear (headend snapshots follow)
        self.headends = Headends(self)  # a CMTS / DSLAM / OLT per node (headends.py)
        self._server = PktinfoUdpServer(self.handle_datagram, bind_host, port)
        self._v6_base = int(ipaddress.IPv6Address(ipv6_base)) if ipv6_base else None
        self._server6: PktinfoUdpServer | None = None
        self.kernel = KernelDarkness(kernel_faults)
        self._kernel_task: asyncio.Task[None] | None = None
        self._kernel_wake = asyncio.Event()
        self._started = False

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        await self._server.start()
        self.layout.port = self._server.port
        if self._v6_base is not None:
            self._server6 = PktinfoUdpServer(self._handle6, "::", self._server.port,
                                             family=socket.AF_INET6)
            try:
                await self._server6.start()
            except BaseException:
                await self._server.stop()
                raise
        try:
            await self.kernel.start(self.port)
        except BaseException:
            await self._server.stop()
            raise
        if self.kernel.enabled:
            self._kernel_task = asyncio.create_task(self._follow_kernel())
        self._started = True
        log.info("fleet: %d modems on %d nodes, SNMP on UDP %d from %s",
                 self.layout.modems, self.layout.nodes, self.port, self.layout.address(0))

    async def stop(self) -> None:
        self._started = False
        if self._kernel_task is not None:
            self._kernel_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._kernel_task
            self._kernel_task = None
        await self.kernel.stop()
        await self._server.stop()
        if self._server6 is not None:
            await self._server6.stop()

    async def __aenter__(self) -> Fleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._server.port

    # --- inventory -------------------------------------------------------------------

    def specs(self) -> Iterator[ModemSpec]:
        return (self.layout.spec(i) for i in range(self.layout.modems))

    def targets(self) -> list[Target]:
        targets = [self.layout.target(i) for i in range(self.layout.modems)]
        if self._v6_base is None:
            return targets
        return [msgspec.structs.replace(t, host=self.ipv6_address(t.host)) for t in targets]

    def ipv6_address(self, ipv4: str) -> str:
        """The IPv6 address answering for the fleet's IPv4 address ``ipv4``."""
        assert self._v6_base is not None, "the fleet has no ipv6_base"
        offset = int(ipaddress.IPv4Address(ipv4)) - (self.layout.first_address - 1)
        return str(ipaddress.IPv6Address(self._v6_base + offset))

    def _handle6(self, data: bytes, destination: int) -> bytes | None:
        """An IPv6 request: its address mapped onto the IPv4 one, then as ever."""
        assert self._v6_base is not None
        offset = destination - self._v6_base
        if not 0 <= offset < 1 << 24:
            self.stats.requests += 1
            self.stats.not_a_modem += 1
            return None
        return self.handle_datagram(data, self.layout.first_address - 1 + offset)

    def inventory_csv(self) -> str:
        return format_inventory(self.targets())

    def headend_inventory(self) -> list[Headend]:
        heads = self.headends.inventory()
        if self._v6_base is None:
            return heads
        return [msgspec.structs.replace(h, host=self.ipv6_address(h.host)) for h in heads]

    def headends_csv(self) -> str:
        """The headends CSV (``linewatch inventory import`` tells it by its header)."""
        return format_headends(self.headend_inventory())

    def clock(self) -> float:
        return self._clock()

    def node_names(self) -> list[str]:
        return [self.layout.spec(self.layout.node_range(k).start).node
                for k in range(self.layout.nodes)]

    # --- SNMP ------------------------------------------------------------------------

    def view(self, index: int, now: float | None = None) -> ModemView:
        now = self._clock() if now is None else now
        spec = self.layout.spec(index)
        fx = self.faults.effects(index, spec.node_index, now)
        memo = self._memos.get(index)
        if memo is None:
            if len(self._memos) >= self.MEMO_MODEMS:
                self._memos.clear()
            memo = self._memos[index] = {}
        return ModemView(spec, self.seed, now, fx, self.epoch,
                         self.faults.boot_override.get(index), memo)

    def handle_datagram(self, data: bytes, destination: int) -> bytes | None:
        """One request in, one reply (or None: no answer). Never raises."""
        stats = self.stats
        stats.requests += 1
        try:
            index = self.layout.index_of_address(destination)
            if index is None:
                node = self.layout.index_of_headend_address(destination)
                if node is not None:
                    return self.headends.handle(node, data)
                stats.not_a_modem += 1
                return None
            tpl = self.templates[self.layout.spec(index).template_key]
            found = Plans.key(tpl, data)
            plan = self.plans.get(found[0]) if found is not None else None
            if plan is not None and found is not None:  # a known shape: no decode
                view = self.view(index)
                if view.fx.silent:
                    stats.silent += 1
                    return None
                self.plans.hits += 1
                stats.responses += 1
                return answer(plan, tpl, view, found[1])
            try:
                msg = decode_message(data)
            except BerError:
                stats.malformed += 1
                return None
            if msg.community != self.community:
                stats.bad_community += 1  # real agents stay silent (and count it)
                return None
            view = self.view(index)
            if view.fx.silent:
                stats.silent += 1
                return None
            try:
                reply = respond(msg, tpl, view)
            except Unsupported:
                stats.unsupported += 1
                return None
            out = encode_message(reply)
            if found is not None and (made := make_plan(msg, tpl, reply)) is not None:
                self.plans.put(found[0], made)
            stats.responses += 1
            return out
        except Exception:  # a bug must cost one reply, not the loop
            stats.internal_errors += 1
            log.exception("fleet: internal error answering a request")
            return None

    # --- faults ----------------------------------------------------------------------

    def inject(
        self, kind: str, *, node: str | None = None, account: str | None = None,
        **params: Any,
    ) -> Fault:
        """Start a fault on a node or one account. Raises FaultError with a reason."""
        if (node is None) == (account is None):
            raise FaultError("give exactly one of node or account")
        checked = fault_params(kind, params)
        techs = FAULT_KINDS[kind][0]
        node_index = modem_index = None
        if node is not None:
            node_index = self.layout.node_index(node)
            if node_index is None:
                raise FaultError(f"unknown node {node!r}")
            tech = self.layout.node_technology(node_index)
        else:
            if kind in NODE_ONLY:
                raise FaultError(f"{kind} applies to a node, not an account")
            modem_index = self.layout.index_of_account(str(account))
            if modem_index is None:
                raise FaultError(f"unknown account {account!r}")
            tech = self.layout.spec(modem_index).technology
        if techs is not None and tech not in techs:
            raise FaultError(f"{kind} applies to {'/'.join(sorted(techs))}, "
                             f"{node or account} is {tech}")
        fault = Fault(0, kind, self._clock(), node=node, account=account, params=checked)
        subset = None
        if kind == "tap_failure" and node_index is not None:
            nodes = self.layout.node_range(node_index)
            subset = nodes[: int(checked["count"])]
        added = self.faults.add(fault, node_index, modem_index, subset)
        self.fault_version += 1
        self._kernel_wake.set()
        return added

    def clear(self, fault_id: int | None = None) -> list[Fault]:
        """Clear one fault (by id) or all of them; returns what was cleared."""
        ids = list(self.faults.faults) if fault_id is None else [fault_id]
        now = self._clock()
        cleared = []
        for fid in ids:
            fault = self.faults.faults.get(fid)
            if fault is None:
                continue
            if fault.account is not None:
                i = self.layout.index_of_account(fault.account)
                affected = range(i, i + 1) if i is not None else range(0)
            else:
                k = self.layout.node_index(str(fault.node))
                affected = self.layout.node_range(k) if k is not None else range(0)
            removed = self.faults.remove(fid, affected, now)
            if removed is not None:
                cleared.append(removed)
        self.fault_version += 1
        self._kernel_wake.set()
        return cleared

    def rejected_addresses(self) -> dict[str, set[str]]:
        """Addresses the kernel should reject, by ICMP reject type (KERNEL_REJECT);
        with an IPv6 range, each address's IPv6 twin too."""
        out: dict[str, set[str]] = {}
        now = self._clock()
        for fault in self.faults.faults.values():
            reject = KERNEL_REJECT.get(fault.kind)
            if reject is None:
                continue
            if fault.kind == "drop_cut" and now - fault.started_at < fault.params["degrade_s"]:
                continue  # still degrading: it answers
            if fault.kind == "headend_dark":
                k = self.layout.node_index(str(fault.node))
                if k is not None:
                    out.setdefault(reject, set()).add(self.layout.headend_address(k))
                continue
            if fault.kind == "tap_failure":
                k = self.layout.node_index(str(fault.node))
                indices = (self.layout.node_range(k)[: int(fault.params["count"])]
                           if k is not None else range(0))
            elif fault.account is not None:
                i = self.layout.index_of_account(fault.account)
                indices = range(i, i + 1) if i is not None else range(0)
            else:
                k = self.layout.node_index(str(fault.node))
                indices = self.layout.node_range(k) if k is not None else range(0)
            out.setdefault(reject, set()).update(self.layout.address(i) for i in indices)
        if self._v6_base is not None:  # the IPv6 twins are as unreachable
            for addresses in out.values():
                addresses.update([self.ipv6_address(a) for a in addresses])
        return out

    def dark_addresses(self) -> set[str]:
        """Addresses of modems a fault has made dark (host-unreachable)."""
        return self.rejected_addresses().get("host-unreachable", set())

    async def _follow_kernel(self) -> None:
        """Keep the kernel's sets equal to the faults: at once after an inject or
        clear made in-process, and each second for faults that turn dark with
        time (a drop cut)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kernel_wake.wait(), 1.0)
            self._kernel_wake.clear()
            try:
                await self.sync_kernel()
            except Exception:  # a bug must not end the kernel's sync for good
                log.exception("fleet: kernel sync failed")

    async def sync_kernel(self) -> None:
        """Make the kernel's sets follow the faults now (the control API awaits it
        after each inject / clear, so its answer means the kernel agrees)."""
        await self.kernel.set_rejected(self.rejected_addresses())

    def list_faults(self) -> list[Fault]:
        return list(self.faults.faults.values())

    def available_share(self, node: str) -> float:
        k = self.layout.node_index(node)
        if k is None:
            raise FaultError(f"unknown node {node!r}")
        return self.faults.available_share(k)

    def available_mbps(self, account: str) -> float:
        """Downstream capacity a throughput test would find (plan x the node's share)."""
        i = self.layout.index_of_account(account)
        if i is None:
            raise FaultError(f"unknown account {account!r}")
        spec = self.layout.spec(i)
        return spec.plan_down_mbps * self.faults.available_share(spec.node_index)

    # --- state for the control API ---------------------------------------------------

    def modem_state(self, index: int, now: float | None = None) -> dict[str, Any]:
        view = self.view(index, now)
        s = view.spec
        share = self.faults.available_share(s.node_index)
        return {
            "account": s.account, "host": s.host, "port": self.port, "node": s.node,
            "technology": s.technology, "plan_down_mbps": s.plan_down_mbps,
            "plan_up_mbps": s.plan_up_mbps, "answering": not view.fx.silent,
            "uptime_s": round(view.uptime_s, 2), "lan_up": not view.fx.lan_down,
            "available_mbps": round(s.plan_down_mbps * share, 3),
            "faults": [f.id for f in (*self.faults.node_faults(s.node_index),
                                      *self.faults.modem_faults(index))],
        }

    def node_summary(self) -> list[dict[str, Any]]:
        out = []
        for k in range(self.layout.nodes):
            r = self.layout.node_range(k)
            share = self.faults.available_share(k)
            plans = sorted(self.layout.spec(i).plan_down_mbps for i in r)
            out.append({
                "node": self.layout.spec(r.start).node,
                "technology": self.layout.node_technology(k),
                "modems": len(r),
                "first_host": self.layout.address(r.start),
                "last_host": self.layout.address(r.stop - 1),
                "outage": any(f.kind == "node_outage" for f in self.faults.node_faults(k)),
                "available_share": share,
                # What a throughput test to a median-plan modem would see.
                "available_mbps": round(plans[len(plans) // 2] * share, 3),
                "faults": [f.id for f in self.faults.node_faults(k)],
            })
        return out

    def summary(self) -> dict[str, Any]:
        techs: dict[str, int] = {}
        for k in range(self.layout.nodes):
            t = self.layout.node_technology(k)
            techs[t] = techs.get(t, 0) + len(self.layout.node_range(k))
        return {
            "modems": self.layout.modems, "nodes": self.layout.nodes, "seed": self.seed,
            "port": self.port, "first_host": self.layout.address(0),
            "last_host": self.layout.address(self.layout.modems - 1),
            "technologies": techs, "faults": len(self.faults.faults),
            "headends": self.headends.summary(),
            "kernel_faults": self.kernel.summary(),
            "stats": {**asdict(self.stats), "send_errors": self._server.send_errors,
                      "headend_requests": self.headends.requests,
                      "headend_responses": self.headends.responses,
                      "headend_silent": self.headends.silent},
        }
