"""PathProbe on a real routed chain: host -> router namespace -> modem namespace.

The router forwards between two veth links; the tests cut the far link, set a
smaller MTU on it, and open/close a TCP port on the modem."""

from __future__ import annotations

import os

import pytest
from needs import need_binary, need_root

from lab.netns import Chain, NetnsLab
from probes.model import PathResult, ProbeError, Target
from probes.path import PathProbe


def target(host: str) -> Target:
    return Target(
        account="acct-1",
        host=host,
        technology="docsis",
        node="n1",
        plan_down_mbps=100,
        plan_up_mbps=20,
    )


@pytest.fixture
async def chain():
    need_root()
    need_binary("ip", "ss", "iperf3")
    async with NetnsLab() as lab:
        chain = await lab.add_chain()
        yield lab, chain


async def test_traceroute_names_both_hops_and_reaches_the_modem(
    chain: tuple[NetnsLab, Chain],
) -> None:
    _, c = chain
    result = await PathProbe(max_hops=8, timeout_s=1.0, measure_mtu=False).run(target(c.modem_addr))
    assert isinstance(result, PathResult), result
    assert [h.address for h in result.hops] == [c.router_addr, c.modem_addr]
    assert result.reached and result.last_responding_hop == c.modem_addr
    assert all(h.rtt_ms is not None for h in result.hops)


async def test_last_responding_hop_is_the_router_when_the_modem_link_is_down(
    chain: tuple[NetnsLab, Chain],
) -> None:
    lab, c = chain
    await lab.set_link(c.downlink, up=False)  # the modem side goes dark
    result = await PathProbe(max_hops=6, timeout_s=0.5).run(target(c.modem_addr))
    assert isinstance(result, PathResult), result
    assert not result.reached
    assert result.last_responding_hop == c.router_addr
    assert result.hops[0].address == c.router_addr
    assert result.path_mtu is None


async def test_path_mtu_is_the_smaller_mtu_set_beyond_the_router(
    chain: tuple[NetnsLab, Chain],
) -> None:
    lab, c = chain
    for ns, ifname in ((c.downlink.a_ns, c.downlink.a_if), (c.downlink.b_ns, c.downlink.b_if)):
        await lab.ns_exec(ns, "ip", "link", "set", ifname, "mtu", "1400")
    result = await PathProbe(timeout_s=0.5).run(target(c.modem_addr))
    assert isinstance(result, PathResult), result
    assert result.reached and result.path_mtu == 1400


async def test_path_mtu_of_an_untouched_path_is_the_veth_default(
    chain: tuple[NetnsLab, Chain],
) -> None:
    _, c = chain
    result = await PathProbe(timeout_s=0.5).run(target(c.modem_addr))
    assert isinstance(result, PathResult) and result.path_mtu == 1500


async def test_tcp_port_check_tells_open_from_closed(chain: tuple[NetnsLab, Chain]) -> None:
    lab, c = chain
    await lab.start_iperf3(c.modem_ns, c.modem_addr, port=5201)
    opened = await PathProbe(tcp_port=5201, timeout_s=1.0, measure_mtu=False).run(
        target(c.modem_addr)
    )
    closed = await PathProbe(tcp_port=5202, timeout_s=1.0, measure_mtu=False).run(
        target(c.modem_addr)
    )
    assert isinstance(opened, PathResult) and opened.tcp_port == 5201 and opened.tcp_open is True
    assert isinstance(closed, PathResult) and closed.tcp_port == 5202 and closed.tcp_open is False


async def test_without_root_the_probe_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    # Mocked euid: the test process is root, and a non-root Python cannot be
    # started here (the interpreter lives under /root, unreadable to others).
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = await PathProbe().run(target("127.0.0.1"))
    assert result == ProbeError(kind="config", message="path checks need root")


def test_unbounded_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        PathProbe(max_hops=0)
    with pytest.raises(ValueError):
        PathProbe(max_hops=65)
    with pytest.raises(ValueError):
        PathProbe(tcp_port=70000)
