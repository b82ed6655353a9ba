"""Probes meet the kernel's errors on real links, on asyncio's loop and on uvloop.

A dark modem in a real network is not silent: its neighbour entry fails (ICMP
host unreachable), a route rejects (EHOSTUNREACH/EACCES at send), a firewall
answers admin-prohibited or port-unreachable. Before issue 14 the agent died
of SIGSEGV under uvloop within a minute of the first such error. Here the SNMP
and ping probes poll a healthy modem and a faulty one (namespaces behind real
veths, net-snmp snmpd in each) through every such fault; the healthy one must
be answered every time, the faulty one must get its error result, and the
errors must be counted by kind.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable

import pytest
from needs import need_binary, need_root

from lab.netns import Modem, NetnsLab, SnmpdConfig
from probes.model import PingResult, ProbeError, SnmpReading, Target
from probes.ping import PingProbe
from probes.snmp.credentials import SnmpCredentials
from probes.snmp.probe import SnmpProbe
from probes.snmp.transport import UdpTransport

pytestmark = [pytest.mark.root, pytest.mark.slow]

LOOPS = ["asyncio", "uvloop"]


def _run(loop_kind: str, main: Callable[[], Awaitable[None]]) -> None:
    if loop_kind == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        uvloop.run(main())
    else:
        asyncio.run(main())


def _target(modem: Modem) -> Target:
    return Target(account=f"acct-{modem.ns}", host=modem.addr, technology="ethernet",
                  node="n1", plan_down_mbps=100, plan_up_mbps=20)


async def _poll_until(probe: SnmpProbe, healthy: Modem, faulty: Modem, kind: str,
                      detail: str, seconds: float = 12.0) -> ProbeError:
    """Poll both modems side by side until the faulty one's result is the
    expected error; the healthy one must answer every single time."""
    deadline = time.monotonic() + seconds
    seen: list[object] = []
    while time.monotonic() < deadline:
        good, bad = await asyncio.gather(probe.run(_target(healthy)), probe.run(_target(faulty)))
        assert isinstance(good, SnmpReading), f"healthy modem not answered: {good}"
        seen.append(bad)
        if isinstance(bad, ProbeError) and bad.kind == kind and detail in bad.message:
            return bad
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {kind} ({detail}) for the faulty modem; got {seen[-5:]}")


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_snmp_and_ping_survive_every_kernel_error(loop_kind: str) -> None:
    need_root()
    need_binary("ip", "nft", "snmpd")

    async def main() -> None:
        async with NetnsLab() as lab:
            healthy = await lab.add_modem()
            faulty = await lab.add_modem()
            for modem in (healthy, faulty):
                await lab.start_snmpd(modem.ns, modem.addr, SnmpdConfig(community="public"))
            table = f"lwkerr{os.getpid()}"
            probe = SnmpProbe({"default": SnmpCredentials(community="public")},
                              timeout_s=1.0, retries=1)
            ping = PingProbe(count=3, interval_s=0.2, timeout_s=4.0)  # ARP fails in ~3 s
            await probe.start()
            await ping.start()
            try:
                assert isinstance(await probe.run(_target(faulty)), SnmpReading)

                # 1. The modem loses power: its address is gone, ARP fails, the
                #    kernel reports ICMP host unreachable once a resolution fails (~3 s).
                #    A fresh neighbour entry would first stay REACHABLE for 15-45 s and
                #    then probe for 8 s: flushed here, as after the modem has been dark a
                #    while (the agent's long run in test_agent_real_links meets the rest).
                await lab.ns_exec(faulty.ns, "ip", "addr", "del", f"{faulty.addr}/24",
                                  "dev", faulty.link.b_if)
                await lab.ns_exec(None, "ip", "neigh", "flush", "to", faulty.addr)
                await _poll_until(probe, healthy, faulty, "unreachable", "host unreachable")
                pinged = await ping.ping_many([healthy.addr, faulty.addr])
                assert pinged[healthy.addr].received == 3
                dark = pinged[faulty.addr]
                assert isinstance(dark, PingResult) and dark.received == 0
                assert dark.errors >= 1 and dark.error and "unreachable" in dark.error, dark
                await lab.ns_exec(faulty.ns, "ip", "addr", "add", f"{faulty.addr}/24",
                                  "dev", faulty.link.b_if)
                await lab.ns_exec(None, "ip", "neigh", "flush", "dev", faulty.link.a_if)

                # 2. A route that rejects: EHOSTUNREACH and EACCES straight from sendto.
                for route, detail in (("unreachable", "host unreachable"),
                                      ("prohibit", "rejected by a firewall or route")):
                    await lab.ns_exec(None, "ip", "route", "add", route, f"{faulty.addr}/32")
                    await _poll_until(probe, healthy, faulty, "unreachable", detail)
                    await lab.ns_exec(None, "ip", "route", "del", route, f"{faulty.addr}/32")

                # 3. A firewall rejecting with ICMP: admin-prohibited, then port unreachable.
                await lab.ns_exec(None, "nft", "add", "table", "inet", table)
                await lab.ns_exec(None, "nft", "add", "chain", "inet", table, "out",
                                  "{ type filter hook output priority 0 ; }")
                for reject, kind, detail in (
                    ("admin-prohibited", "unreachable", "administratively prohibited"),
                    ("port-unreachable", "refused", "port unreachable"),
                ):
                    await lab.ns_exec(None, "nft", "add", "rule", "inet", table, "out",
                                      "ip", "daddr", faulty.addr, "udp", "dport", "161",
                                      "reject", "with", "icmp", "type", reject)
                    await _poll_until(probe, healthy, faulty, kind, detail)
                    await lab.ns_exec(None, "nft", "flush", "chain", "inet", table, "out")

                # 4. The healthy link's MTU drops: polls still go through.
                await lab.ns_exec(healthy.ns, "ip", "link", "set", healthy.link.b_if,
                                  "mtu", "1280")
                for _ in range(5):
                    assert isinstance(await probe.run(_target(healthy)), SnmpReading)

                # 5. Everything cleared: the faulty modem answers again, same socket.
                assert isinstance(await probe.run(_target(faulty)), SnmpReading)
                errors = probe.net_errors
                assert errors["host_unreachable"] >= 2, errors
                assert errors["prohibited"] >= 2, errors
                assert errors["port_unreachable"] >= 1, errors
                assert probe.socket_reopens == 0
                assert ping.net_errors["host_unreachable"] >= 1, ping.net_errors
            finally:
                await lab.ns_exec(None, "nft", "delete", "table", "inet", table, check=False)
                await probe.aclose()
                await ping.aclose()

    _run(loop_kind, main)


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_a_socket_that_fails_is_reopened_and_its_polls_end(loop_kind: str) -> None:
    """The shared socket's descriptor closed under the transport (EBADF): the polls
    in flight end with an ``internal`` error, a new socket is opened and counted,
    and the next poll is answered. Served by a real UDP echo-less peer on
    loopback that never answers, so the polls are in flight when it breaks."""

    async def main() -> None:
        transport = UdpTransport()
        await transport.start()
        silent = await asyncio.get_running_loop().create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
        port = silent[0].get_extra_info("sockname")[1]
        try:
            from probes.snmp.ber import GET
            from probes.snmp.transport import SnmpRequestError
            oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
            polls = [asyncio.ensure_future(transport.request_oids(
                ("127.0.0.1", port), 1, b"public", GET, (oid,), timeout_s=5.0, retries=0))
                for _ in range(3)]
            await asyncio.sleep(0.05)
            assert transport._sock is not None
            os.close(transport._sock.fileno())
            # The next send meets the broken socket (EBADF) and reopens it.
            late = asyncio.ensure_future(transport.request_oids(
                ("127.0.0.1", port), 1, b"public", GET, (oid,), timeout_s=0.3, retries=0))
            results = await asyncio.gather(*polls, late, return_exceptions=True)
            kinds = [r.kind if isinstance(r, SnmpRequestError) else r for r in results]
            assert kinds[:3] == ["internal"] * 3, kinds
            assert transport.stats.reopens == 1
            with pytest.raises(SnmpRequestError) as again:
                await transport.request_oids(("127.0.0.1", port), 1, b"public", GET, (oid,),
                                             timeout_s=0.3, retries=0)
            assert again.value.kind == "timeout"  # a working socket, a silent peer
        finally:
            silent[0].close()
            await transport.aclose()

    _run(loop_kind, main)
