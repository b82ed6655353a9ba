"""PingProbe over real kernel paths: loopback, namespaces behind veths, an
nftables 20% drop, a dark modem, and the unprivileged ping socket."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from needs import REPO, need_binary, need_root

from lab.netns import NetnsLab
from probes.model import PingResult, ProbeError, Target
from probes.ping import (
    _ECHO,
    _ICMP_ECHO_REQUEST,
    _PAYLOAD_MAGIC,
    PingProbe,
    _checksum,
    _echo_checksum,
    _Tally,
)


def target(host: str) -> Target:
    return Target(
        account="acct-1",
        host=host,
        technology="ethernet",
        node="n1",
        plan_down_mbps=100,
        plan_up_mbps=20,
    )


@pytest.fixture
async def lab():
    need_root()
    need_binary("ip", "nft", "ss")
    async with NetnsLab() as lab:
        yield lab


# --- statistics (pure) --------------------------------------------------------------


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 2**64 - 1))
def test_echo_checksum_equals_rfc1071_over_the_packed_request(ident: int, seq: int,
                                                              nonce: int) -> None:
    """The per-echo shortcut against the plain RFC 1071 sum as the oracle; and a
    packet carrying it sums to zero, as a receiver checks it."""
    packet = _ECHO.pack(_ICMP_ECHO_REQUEST, 0, 0, ident, seq, _PAYLOAD_MAGIC, nonce)
    assert _echo_checksum(ident, seq, nonce) == _checksum(packet)
    signed = _ECHO.pack(_ICMP_ECHO_REQUEST, 0, _echo_checksum(ident, seq, nonce), ident, seq,
                        _PAYLOAD_MAGIC, nonce)
    assert _checksum(signed) == 0


def test_one_reply_result_matches_the_general_statistics() -> None:
    one = _Tally(sent=1, rtts={0: 2.5}).result()
    assert (one.received, one.rtt_min_ms, one.rtt_avg_ms, one.rtt_max_ms, one.jitter_ms) == \
        (1, 2.5, 2.5, 2.5, 0.0)


def test_jitter_is_mean_absolute_difference_of_consecutive_rtts_in_send_order() -> None:
    tally = _Tally(sent=5, rtts={0: 10.0, 1: 14.0, 3: 11.0, 4: 11.0})  # probe 2 lost
    result = tally.result()
    assert result.sent == 5 and result.received == 4
    assert result.rtt_min_ms == 10.0 and result.rtt_max_ms == 14.0
    assert result.rtt_avg_ms == pytest.approx(11.5)
    assert result.jitter_ms == pytest.approx((4 + 3 + 0) / 3)
    assert result.loss_ratio == pytest.approx(0.2)


def test_no_reply_means_full_loss_and_no_rtt() -> None:
    result = _Tally(sent=3).result()
    assert result == PingResult(sent=3, received=0)
    assert result.loss_ratio == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [{"count": 0}, {"count": 10_001}, {"interval_s": 0.0}, {"timeout_s": 0.0}, {"timeout_s": 61}],
)
def test_unbounded_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        PingProbe(**kwargs)


# --- real sockets -------------------------------------------------------------------


async def test_many_loopback_hosts_at_once_over_one_socket() -> None:
    need_root()
    hosts = [f"127.31.{i // 200}.{i % 200 + 1}" for i in range(400)]
    async with PingProbe(count=3, interval_s=0.01, timeout_s=1.0) as probe:
        assert probe.privileged
        results = await probe.ping_many(hosts)
    assert list(results) == hosts
    assert all(r.sent == 3 and r.received == 3 for r in results.values())
    assert all(r.rtt_max_ms is not None and r.rtt_max_ms < 1000 for r in results.values())


async def test_run_returns_a_result_or_a_config_error() -> None:
    need_root()
    async with PingProbe(count=2, interval_s=0.01, timeout_s=0.5) as probe:
        ok = await probe.run(target("127.0.0.1"))
        bad = await probe.run(target("no-such-host.invalid"))
    assert isinstance(ok, PingResult) and ok.received == 2
    assert isinstance(bad, ProbeError) and bad.kind == "unresolved"  # issue 16


async def test_twenty_percent_nft_drop_shows_as_ten_to_thirty_percent_loss(lab: NetnsLab) -> None:
    modem = await lab.add_modem()
    await lab.drop(modem.link, 20)
    async with PingProbe(count=200, interval_s=0.01, timeout_s=0.5) as probe:
        result = await probe.run(target(modem.addr))
    assert isinstance(result, PingResult)
    assert result.sent == 200
    assert 0.10 <= result.loss_ratio <= 0.30, result
    assert await lab.dropped_packets(modem.link) == 200 - result.received
    assert result.jitter_ms is not None and result.rtt_avg_ms is not None


async def test_dark_and_missing_hosts_lose_everything_while_others_answer(lab: NetnsLab) -> None:
    up = await lab.add_modem()
    dark = await lab.add_modem()
    await lab.set_link(dark.link, up=False)
    nobody = up.link.a_addr.rsplit(".", 1)[0] + ".3"  # on the link, no such neighbour
    async with PingProbe(count=5, interval_s=0.02, timeout_s=0.5) as probe:
        results = await probe.ping_many([up.addr, dark.addr, nobody, "no-such-host.invalid"])
    assert results[up.addr].received == 5
    assert results[dark.addr] == PingResult(sent=5, received=0)
    assert results[nobody].received == 0 and results[nobody].loss_ratio == 1.0
    assert results["no-such-host.invalid"] == PingResult(sent=0, received=0)


async def test_concurrent_calls_share_the_socket_without_mixing_replies(lab: NetnsLab) -> None:
    a = await lab.add_modem()
    b = await lab.add_modem()
    await lab.set_link(b.link, up=False)
    async with PingProbe(count=20, interval_s=0.01, timeout_s=0.5) as probe:
        ra, rb = await asyncio.gather(probe.run(target(a.addr)), probe.run(target(b.addr)))
    assert isinstance(ra, PingResult) and ra.received == 20
    assert isinstance(rb, PingResult) and rb.received == 0


async def test_unprivileged_ping_socket_works_where_ping_group_range_allows(
    lab: NetnsLab,
) -> None:
    """The SOCK_DGRAM path, in a namespace whose ping_group_range admits gid 0
    (the sysctl is per namespace, so the host is left untouched)."""
    ns = await lab.add_namespace()
    await lab.ns_exec(ns, "sysctl", "-qw", "net.ipv4.ping_group_range=0 0")
    script = (
        "import asyncio, json\n"
        "from probes.ping import PingProbe\n"
        "async def main():\n"
        "    async with PingProbe(count=4, interval_s=0.01, timeout_s=0.5, mode='dgram') as p:\n"
        "        r = await p.ping_many(['127.0.0.1'])\n"
        "        print(json.dumps([p.privileged, r['127.0.0.1'].received]))\n"
        "asyncio.run(main())\n"
    )
    out = await lab.ns_exec(ns, "env", f"PYTHONPATH={REPO}", sys.executable, "-c", script)
    assert json.loads(out) == [False, 4]


async def test_more_requests_than_one_identifier_holds_are_all_matched() -> None:
    """Past 65536 requests the raw socket moves to the next ICMP identifier;
    every reply must still find its request."""
    need_root()
    hosts = [f"127.32.{i // 250}.{i % 250 + 1}" for i in range(700)]
    async with PingProbe(count=100, interval_s=0.001, timeout_s=2.0) as probe:
        results = await probe.ping_many(hosts)
    assert sum(r.sent for r in results.values()) == 70_000
    assert sum(r.received for r in results.values()) == 70_000
