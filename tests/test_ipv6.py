"""IPv6-managed modems and named targets (issue 16), against real peers.

net-snmp snmpd and snmpsim answer over UDP/IPv6 inside namespaces the test
makes (fd00:4c77::/32, a ULA); the SNMP and ping probes reach them over the
same shared-socket design as IPv4 (one socket per family), and a dark IPv6
modem gets the kernel's own answer (ICMPv6 address unreachable once neighbour
discovery fails). Names resolve through the system resolver; the name that
stops resolving lives in a hosts file bind-mounted over /etc/hosts in a
private mount namespace (``unshare --mount``), so the machine's own
/etc/hosts is never touched.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import socket
import sys
from pathlib import Path

import pytest
from needs import need_binary, need_root
from peers import SNMPSIM_BOOT, snmp_credentials, snmpsim_recordings

from agent.headends import line_indexes
from lab.netns import Link, NetnsLab, SnmpdConfig
from probes.inventory import InventoryError, parse_headends, parse_inventory
from probes.model import (
    HeadendReading,
    PathResult,
    PingResult,
    ProbeError,
    SnmpReading,
    Target,
    ThroughputResult,
)
from probes.path import PathProbe
from probes.ping import PingProbe
from probes.resolve import HostError, Resolver, Unresolved, parse_host
from probes.snmp.headend import HeadendProbe
from probes.snmp.probe import SnmpProbe
from probes.throughput import ThroughputProbe

REPO = Path(__file__).resolve().parent.parent
V3 = ("lwsix", "sixauth1234", "sixpriv1234")
CREDS = snmp_credentials(*V3)
SYS_DESCR = "linewatch ipv6 modem"


def target(host: str, creds: str = "default", account: str = "acct-6") -> Target:
    return Target(account=account, host=host, technology="ethernet", node="n6",
                  plan_down_mbps=100, plan_up_mbps=20, credentials=creds)


# --- hosts in the inventory -------------------------------------------------------


@pytest.mark.parametrize(("text", "want"), [
    ("198.18.0.10", "198.18.0.10"),
    ("fd00:4c77:0:0::10", "fd00:4c77::10"),
    ("[2001:DB8::1]", "2001:db8::1"),
    ("fe80::1%eth0", "fe80::1%eth0"),
    ("Modem-17.Node4.Example.NET.", "modem-17.node4.example.net"),
    ("::ffff:198.18.0.7", "198.18.0.7"),  # IPv4-mapped: an IPv4 target
    ("1e100.net", "1e100.net"),
])
def test_hosts_are_addresses_or_names_in_canonical_form(text: str, want: str) -> None:
    assert parse_host(text) == want


@pytest.mark.parametrize("text", [
    "fd00::1%eth0",  # a zone on a global address means nothing
    "fe80::1",  # link-local without its zone cannot be reached
    "300.1.2.3", "1.2.3", "-bad-.example", "a..b", "fd00:::1", "x" * 64 + ".net", "",
    "0x7f.1", "017.0.0.1",  # inet_aton forms the resolver would read as IPv4
    "fe80::1%\x00", "fe80::1%eth0 x", "a\x00b", "é.example",
])
def test_bad_hosts_are_refused(text: str) -> None:
    with pytest.raises(HostError):
        parse_host(text)


def test_inventory_takes_mixed_hosts_and_names_line_and_column_of_a_bad_one() -> None:
    head = "account,host,technology,node,plan_down_mbps,plan_up_mbps,iperf_host\n"
    good = (head + "a1,198.18.0.10,docsis,n1,100,10,\n"
            "a2,FD00:4C77::10,docsis,n1,100,10,iperf.lab.test\n"
            "a3,modem3.lab.test,docsis,n1,100,10,[fd00:4c77::1]\n")
    hosts = [(t.host, t.iperf_host) for t in parse_inventory(good)]
    assert hosts == [("198.18.0.10", None), ("fd00:4c77::10", "iperf.lab.test"),
                     ("modem3.lab.test", "fd00:4c77::1")]
    with pytest.raises(InventoryError, match=r"^line 3, column host: .*zone"):
        parse_inventory(head + "a1,198.18.0.10,docsis,n1,100,10,\n"
                        "a2,fd00::1%eth0,docsis,n1,100,10,\n")
    with pytest.raises(InventoryError, match=r"^line 2, column iperf_host: "):
        parse_inventory(head + "a1,198.18.0.10,docsis,n1,100,10,iperf..test\n")
    with pytest.raises(InventoryError, match=r"^line 2, column host: "):
        parse_headends("headend,host,kind,nodes\ncmts1,not a host,cmts,n1\n")
    assert parse_headends("headend,host,kind,nodes\ncmts1,CMTS1.lab.test,cmts,n1\n")[0].host \
        == "cmts1.lab.test"


# --- the resolver -----------------------------------------------------------------


async def test_resolver_caches_within_ttl_shares_lookups_and_bounds_its_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """getaddrinfo gives no TTL: answers live ttl_s, failures negative_ttl_s; one
    query per name however many ask at once; at most max_entries names kept."""
    loop = asyncio.get_running_loop()
    calls: list[str] = []
    table = {"a.test": "fd00:4c77::a", "b.test": "198.18.0.11"}

    async def fake(host: str, port: object, **_kw: object) -> list[tuple]:  # type: ignore[type-arg]
        calls.append(host)
        await asyncio.sleep(0.01)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        addr = table[host]
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        return [(fam, socket.SOCK_DGRAM, 17, "", (addr, 0))]

    monkeypatch.setattr(loop, "getaddrinfo", fake)
    r = Resolver(ttl_s=0.2, negative_ttl_s=0.1, max_entries=2)
    got = await asyncio.gather(*(r.resolve("a.test") for _ in range(50)))
    assert set(got) == {(socket.AF_INET6, "fd00:4c77::a")} and calls == ["a.test"]
    with pytest.raises(Unresolved, match="no IPv4"):
        await r.resolve("a.test", socket.AF_INET)
    assert calls == ["a.test"]
    del table["a.test"]  # the name stops resolving: seen once the TTL is over
    await asyncio.sleep(0.25)
    with pytest.raises(Unresolved, match="not known"):
        await r.resolve("a.test")
    with pytest.raises(Unresolved):
        await r.resolve("a.test")  # negative cache: no second query
    assert calls == ["a.test", "a.test"]
    await r.resolve("b.test")
    table["c.test"] = "198.18.0.12"
    await r.resolve("c.test")
    assert len(r._cache) == 2 and "a.test" not in r._cache


async def test_a_resolver_that_never_answers_is_unresolved_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()

    async def stuck(*_a: object, **_kw: object) -> list[tuple]:  # type: ignore[type-arg]
        await asyncio.sleep(3600)
        return []

    monkeypatch.setattr(loop, "getaddrinfo", stuck)
    r = Resolver(timeout_s=0.2)
    started = loop.time()
    async with SnmpProbe(CREDS, timeout_s=0.2, retries=0, resolver=r) as probe:
        result = await probe.run(target("stuck.lab.test"))
    assert isinstance(result, ProbeError) and result.kind == "unresolved", result
    assert "0.2 s" in result.message and loop.time() - started < 1.5


# --- real peers over IPv6 ---------------------------------------------------------


@pytest.fixture
async def lab():
    need_root()
    need_binary("ip", "nft", "ss", "snmpd", "unshare", "mount")
    async with NetnsLab() as lab:
        yield lab


async def brisk_ndp(lab: NetnsLab, link: Link) -> None:
    """The host end gives up on a gone IPv6 neighbour within a second (the default
    REACHABLE time is 30 s, then three 1 s solicitations)."""
    for key, value in (("base_reachable_time_ms", 2000), ("delay_first_probe_time", 1),
                       ("retrans_time_ms", 200), ("ucast_solicit", 2), ("mcast_solicit", 2)):
        await lab.ns_exec(link.a_ns, "sysctl", "-qw", f"net.ipv6.neigh.{link.a_if}.{key}={value}")


async def test_snmpd_over_ipv6_v2c_and_v3_then_dark_with_the_kernels_answer(
    lab: NetnsLab,
) -> None:
    modem = await lab.add_modem(ipv6=True)
    assert modem.addr6 is not None
    await brisk_ndp(lab, modem.link)
    await lab.start_snmpd(modem.ns, modem.addr6, SnmpdConfig(
        v3_user=V3[0], auth_key=V3[1], priv_key=V3[2], sys_descr=SYS_DESCR))
    async with SnmpProbe(CREDS, timeout_s=1.0, retries=1) as probe:
        for creds in ("default", "v3"):
            reading = await probe.run(target(modem.addr6, creds))
            assert isinstance(reading, SnmpReading), (creds, reading)
            assert reading.sys_descr == SYS_DESCR
            assert modem.link.b_if in {i.name for i in reading.interfaces}
        assert probe.transport6.stats.received > 0  # the IPv6 socket, not the IPv4 one
        assert probe.transport.stats.sent == 0
        # Power off: the address goes; neighbour discovery fails and the kernel says so.
        await lab.ns_exec(modem.ns, "ip", "-6", "addr", "del", f"{modem.addr6}/64",
                          "dev", modem.link.b_if)
        await lab.ns_exec(None, "ip", "-6", "neigh", "flush", "dev", modem.link.a_if)
        probe.timeout_s = 3.0
        dark = await probe.run(target(modem.addr6))
        assert isinstance(dark, ProbeError) and dark.kind == "unreachable", dark
        assert "ICMPv6 1/3" in dark.message
        assert probe.net_errors["host_unreachable"] >= 1


async def test_the_labs_loss_and_link_faults_hold_for_ipv6(lab: NetnsLab) -> None:
    """nftables random loss (the lab's rules match the interface, not the family)
    is carried by retries over IPv6; a link taken down makes the poll fail."""
    modem = await lab.add_modem(ipv6=True)
    assert modem.addr6 is not None
    await lab.start_snmpd(modem.ns, modem.addr6, SnmpdConfig(sys_descr=SYS_DESCR))
    async with SnmpProbe(CREDS, timeout_s=0.15, retries=6) as probe:
        # One clean poll first: the rules drop neighbour discovery too (as a lossy
        # line would), and a lost first solicitation is retried by the kernel only
        # after 1 s, past the probe's 7 x 0.15 s (CI failed the first poll so).
        probe.timeout_s = 3.0
        first = await probe.run(target(modem.addr6))
        assert isinstance(first, SnmpReading), first
        probe.timeout_s = 0.15
        await lab.drop(modem.link, 20)
        readings = [await probe.run(target(modem.addr6)) for _ in range(15)]
        assert all(isinstance(r, SnmpReading) for r in readings), readings
        assert await lab.dropped_packets(modem.link) > 0
        await lab.clear_drops(modem.link)
        await lab.set_link(modem.link, up=False)
        probe.retries = 0
        down = await probe.run(target(modem.addr6))
    assert isinstance(down, ProbeError) and down.kind in ("timeout", "unreachable"), down


async def test_icmpv6_echo_raw_and_datagram_with_kernel_errors(lab: NetnsLab) -> None:
    modem = await lab.add_modem(ipv6=True)
    assert modem.addr6 and modem.link.a_addr6
    await brisk_ndp(lab, modem.link)
    nobody = modem.addr6.rsplit("::", 1)[0] + "::3"  # on the link, no such neighbour
    async with PingProbe(count=5, interval_s=0.02, timeout_s=2.0, mode="raw") as probe:
        results = await probe.ping_many([modem.addr6, nobody, modem.addr])
        assert probe.privileged
    assert results[modem.addr6].received == 5 and results[modem.addr].received == 5
    assert results[nobody].received == 0 and results[nobody].errors >= 1
    assert "ICMPv6 1/3" in (results[nobody].error or "")
    # The ping socket (SOCK_DGRAM/ICMPv6), from inside the modem's namespace whose
    # ping_group_range admits gid 0 (per namespace: the host is untouched).
    await lab.ns_exec(modem.ns, "sysctl", "-qw", "net.ipv4.ping_group_range=0 0")
    far = modem.link.a_addr6.rsplit("::", 1)[0] + "::4"
    for key, value in (("retrans_time_ms", 200), ("mcast_solicit", 2)):
        await lab.ns_exec(modem.ns, "sysctl", "-qw",
                          f"net.ipv6.neigh.{modem.link.b_if}.{key}={value}")
    script = (
        "import asyncio, json\n"
        "from probes.ping import PingProbe\n"
        "async def main():\n"
        "    async with PingProbe(count=4, interval_s=0.01, timeout_s=2.0, mode='dgram') as p:\n"
        f"        r = await p.ping_many([{modem.link.a_addr6!r}, {far!r}])\n"
        f"        ok, bad = r[{modem.link.a_addr6!r}], r[{far!r}]\n"
        "        print(json.dumps([p.privileged, ok.received, bad.received, bad.error]))\n"
        "asyncio.run(main())\n"
    )
    out = await lab.ns_exec(modem.ns, "env", f"PYTHONPATH={REPO}", sys.executable, "-c", script)
    privileged, received, far_received, far_error = json.loads(out)
    assert (privileged, received, far_received) == (False, 4, 0)
    assert "ICMPv6 1/3" in far_error


async def test_snmpsim_recording_over_udp6_beside_ipv4(lab: NetnsLab) -> None:
    """snmpsim answering a real device's recording on an IPv6 and an IPv4 address
    of one namespace; one probe polls both, each over its own family's socket."""
    modem = await lab.add_modem(ipv6=True)
    assert modem.addr6 is not None
    ns = modem.ns
    await lab.ns_exec(ns, "sysctl", "-qw", "net.ipv4.ip_unprivileged_port_start=0")
    data, cache = lab.tmpdir / "sim6-data", lab.tmpdir / "sim6-cache"
    data.mkdir()
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)
    (data / "public.snmprec").write_bytes(
        (snmpsim_recordings() / "linux-full-walk.snmprec").read_bytes())
    argv = [sys.executable, "-c", SNMPSIM_BOOT, f"--data-dir={data}", f"--cache-dir={cache}",
            f"--agent-udpv6-endpoint=[{modem.addr6}]:161",
            f"--agent-udpv4-endpoint={modem.addr}:161",
            "--process-user=nobody", "--process-group=nogroup"]
    await lab.spawn(ns, "sh", "-c", f"exec {shlex.join(argv)} >{lab.tmpdir}/sim6.log 2>&1")
    async with SnmpProbe(CREDS, timeout_s=1.0, retries=0) as probe:
        readings: list[object] = []
        for _ in range(60):  # snmpsim takes a few seconds to index the recording
            readings = [await probe.run(target(h)) for h in (modem.addr6, modem.addr)]
            if all(isinstance(r, SnmpReading) for r in readings):
                break
            await asyncio.sleep(0.5)
        assert all(isinstance(r, SnmpReading) for r in readings), readings
        six, four = readings
        assert isinstance(six, SnmpReading) and isinstance(four, SnmpReading)
        assert six.sys_descr == four.sys_descr and six.interfaces == four.interfaces
        assert probe.transport6.stats.received > 0 and probe.transport.stats.received > 0


_NAMED_POLLER = """
import asyncio, json, sys
from probes.model import Target
from probes.resolve import Resolver
from probes.snmp.probe import SnmpProbe
from probes.ping import PingProbe
from peers import snmp_credentials

async def main():
    resolver = Resolver(ttl_s=0.3, negative_ttl_s=0.3, timeout_s=2.0)
    t = Target(account="named", host=sys.argv[1], technology="ethernet", node="n6",
               plan_down_mbps=100, plan_up_mbps=20)
    creds = snmp_credentials("u", "authpass12", "privpass12")
    async with SnmpProbe(creds, timeout_s=1.0, retries=0, resolver=resolver) as snmp, \\
            PingProbe(count=2, interval_s=0.01, timeout_s=1.0, resolver=resolver) as ping:
        for _round in range(2):
            r, p = await snmp.run(t), await ping.run(t)
            print(json.dumps([type(r).__name__, getattr(r, "kind", None),
                              getattr(r, "message", getattr(r, "sys_descr", "")),
                              type(p).__name__, getattr(p, "received", getattr(p, "kind", None))]),
                  flush=True)
            if _round == 0:
                sys.stdin.readline()  # the test changes the hosts file meanwhile
                await asyncio.sleep(0.4)  # past the cache's TTL

asyncio.run(main())
"""


async def test_a_named_ipv6_modem_polls_then_stops_resolving(lab: NetnsLab) -> None:
    """The name is in a hosts file bind-mounted over /etc/hosts in a private mount
    namespace (with a resolv.conf pointing at a closed port on 127.0.0.1, so no
    query leaves the machine); then it is taken out: ``unresolved``, in time."""
    modem = await lab.add_modem(ipv6=True)
    assert modem.addr6 is not None
    await lab.start_snmpd(modem.ns, modem.addr6, SnmpdConfig(sys_descr=SYS_DESCR))
    hosts, resolv = lab.tmpdir / "hosts", lab.tmpdir / "resolv.conf"
    hosts.write_text(f"127.0.0.1 localhost\n{modem.addr6} modem6.lab.test\n")
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    script = lab.tmpdir / "named.py"
    script.write_text(_NAMED_POLLER)
    inner = (f"mount --bind {shlex.quote(str(hosts))} /etc/hosts && "
             f"mount --bind {shlex.quote(str(resolv))} /etc/resolv.conf && "
             f"exec {shlex.quote(sys.executable)} {shlex.quote(str(script))} modem6.lab.test")
    proc = await asyncio.create_subprocess_exec(
        "unshare", "--mount", "--propagation", "private", "sh", "-c", inner,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PYTHONPATH": f"{REPO}:{REPO / 'tests'}", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    assert proc.stdin and proc.stdout
    try:
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        assert first == ["SnmpReading", None, SYS_DESCR, "PingResult", 2], first
        hosts.write_text("127.0.0.1 localhost\n")  # in place: the bind mount stays
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        second = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        assert second[:2] == ["ProbeError", "unresolved"], second
        assert "modem6.lab.test" in second[2]
        assert second[3:] == ["ProbeError", "unresolved"], second
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


_DUAL_POLLER = """
import asyncio, json, sys
from probes.model import Target
from probes.resolve import Resolver
from probes.snmp.probe import SnmpProbe
from probes.ping import PingProbe
from peers import snmp_credentials

async def main():
    resolver = Resolver(ttl_s=60.0, negative_ttl_s=1.0, timeout_s=2.0)
    t = Target(account="dual", host=sys.argv[1], technology="ethernet", node="n6",
               plan_down_mbps=100, plan_up_mbps=20)
    creds = snmp_credentials("u", "authpass12", "privpass12")
    async with SnmpProbe(creds, timeout_s=3.0, retries=0, resolver=resolver) as snmp, \\
            PingProbe(count=2, interval_s=0.05, timeout_s=3.0, resolver=resolver) as ping:
        for _round in range(3):
            r, p = await snmp.run(t), await ping.run(t)
            print(json.dumps([type(r).__name__, getattr(r, "kind", None),
                              getattr(r, "message", getattr(r, "sys_descr", "")),
                              getattr(p, "received", None), getattr(p, "errors", None),
                              resolver.stats.fallbacks]), flush=True)
            if _round == 0:
                sys.stdin.readline()  # the test takes the first family's address away

asyncio.run(main())
"""


async def test_a_dual_stack_name_falls_back_to_the_other_family_after_a_kernel_error(
    lab: NetnsLab,
) -> None:
    """A name with an IPv4 and an IPv6 address (one snmpd on each, told apart by
    sysDescr): the address the resolver gives first goes; its poll ends with the
    kernel's unreachable, and the next attempt (within the TTL) reads the modem
    over the other family, ping too."""
    modem = await lab.add_modem(ipv6=True)
    assert modem.addr6 is not None
    await brisk_ndp(lab, modem.link)
    for key, value in (("base_reachable_time_ms", 2000), ("delay_first_probe_time", 1),
                       ("retrans_time_ms", 200), ("ucast_solicit", 2), ("mcast_solicit", 2)):
        await lab.ns_exec(None, "sysctl", "-qw",
                          f"net.ipv4.neigh.{modem.link.a_if}.{key}={value}")
    await lab.start_snmpd(modem.ns, modem.addr, SnmpdConfig(sys_descr="dual v4"))
    await lab.start_snmpd(modem.ns, modem.addr6, SnmpdConfig(sys_descr="dual v6"))
    hosts, resolv = lab.tmpdir / "hosts", lab.tmpdir / "resolv.conf"
    hosts.write_text(f"127.0.0.1 localhost\n{modem.addr} dual.lab.test\n"
                     f"{modem.addr6} dual.lab.test\n")
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    script = lab.tmpdir / "dual.py"
    script.write_text(_DUAL_POLLER)
    inner = (f"mount --bind {shlex.quote(str(hosts))} /etc/hosts && "
             f"mount --bind {shlex.quote(str(resolv))} /etc/resolv.conf && "
             f"exec {shlex.quote(sys.executable)} {shlex.quote(str(script))} dual.lab.test")
    proc = await asyncio.create_subprocess_exec(
        "unshare", "--mount", "--propagation", "private", "sh", "-c", inner,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PYTHONPATH": f"{REPO}:{REPO / 'tests'}", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    assert proc.stdin and proc.stdout
    try:
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        assert first[:2] == ["SnmpReading", None] and first[3] == 2, first
        v6_first = first[2] == "dual v6"
        if v6_first:
            await lab.ns_exec(modem.ns, "ip", "-6", "addr", "del", f"{modem.addr6}/64",
                              "dev", modem.link.b_if)
        else:
            await lab.ns_exec(modem.ns, "ip", "addr", "del",
                              f"{modem.addr}/{modem.link.prefix_len}", "dev", modem.link.b_if)
        await lab.ns_exec(None, "ip", "neigh", "flush", "dev", modem.link.a_if)
        await lab.ns_exec(None, "ip", "-6", "neigh", "flush", "dev", modem.link.a_if)
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        gone = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        assert gone[:2] == ["ProbeError", "unreachable"], gone
        assert gone[5] == 1, gone  # put the other family first once (ping agreed: idempotent)
        other = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        assert other[:3] == ["SnmpReading", None, "dual v4" if v6_first else "dual v6"], other
        assert other[3] == 2, other  # ping over the other family too
        print(f"\ndual-stack name: {'IPv6' if v6_first else 'IPv4'} first, its address gone "
              f"-> {gone[2][:60]!r}; next attempt read over the other family")
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_ipv6_traceroute_path_mtu_with_packet_too_big_and_tcp_check(
    lab: NetnsLab,
) -> None:
    """host -> router -> modem over IPv6; the modem's link has MTU 1400, so the
    router answers ICMPv6 Packet Too Big and the path MTU follows it."""
    need_binary("iperf3")
    c = await lab.add_chain(ipv6=True)
    assert c.modem_addr6 and c.uplink.b_addr6
    result = await PathProbe(max_hops=8, timeout_s=1.0, measure_mtu=True).run(
        target(c.modem_addr6))
    assert isinstance(result, PathResult), result
    assert [h.address for h in result.hops] == [c.uplink.b_addr6, c.modem_addr6]
    assert result.reached and result.path_mtu == 1500
    for ns, ifname in ((c.downlink.a_ns, c.downlink.a_if), (c.downlink.b_ns, c.downlink.b_if)):
        await lab.ns_exec(ns, "ip", "link", "set", ifname, "mtu", "1400")
    await lab.start_iperf3(c.modem_ns, c.modem_addr6, port=5201)
    result = await PathProbe(tcp_port=5201, timeout_s=0.5).run(target(c.modem_addr6))
    assert isinstance(result, PathResult), result
    assert result.reached and result.path_mtu == 1400 and result.tcp_open is True
    closed = await PathProbe(tcp_port=5202, timeout_s=0.5, measure_mtu=False).run(
        target(c.modem_addr6))
    assert isinstance(closed, PathResult) and closed.tcp_open is False


async def test_iperf3_over_ipv6_through_a_tbf_by_name_and_address(lab: NetnsLab) -> None:
    need_binary("iperf3")
    modem = await lab.add_modem(ipv6=True)
    assert modem.addr6 is not None
    await lab.start_iperf3(modem.ns, modem.addr6, port=5201)
    await lab.shape(modem.link, rate_mbit=50)
    probe = ThroughputProbe(duration_s=2.0, directions=("down", "up"))
    result = await probe.run(target(modem.addr6))
    assert isinstance(result, ThroughputResult), result
    assert result.down_mbps and 35 < result.down_mbps < 55, result
    assert result.up_mbps and 35 < result.up_mbps < 55, result
    assert result.server == f"[{modem.addr6}]:5201"
    gone = await probe.run(target("iperf-gone.invalid"))
    assert isinstance(gone, ProbeError) and gone.kind == "unresolved"


async def test_a_link_local_modem_with_its_zone_answers_snmp_and_ping(lab: NetnsLab) -> None:
    """fe80::/10 is only reachable through a named interface: the inventory's
    ``fe80::...%IF`` reaches the modem over that link (scope carried through
    sendto, the answer's source matched with its zone)."""
    modem = await lab.add_modem(ipv6=True)
    assert modem.link.b_ns is not None
    await lab.start_snmpd(modem.ns, "::", SnmpdConfig(sys_descr=SYS_DESCR))
    out = ""
    for _ in range(50):  # the kernel's link-local address, once DAD is over
        out = await lab.ns_exec(modem.ns, "ip", "-6", "-o", "addr", "show", "dev",
                                modem.link.b_if, "scope", "link")
        if out.strip() and "tentative" not in out:
            break
        await asyncio.sleep(0.1)
    local = out.split()[3].split("/")[0]
    host = parse_host(f"{local}%{modem.link.a_if}")
    async with SnmpProbe(CREDS, timeout_s=1.0, retries=1) as probe:
        reading = await probe.run(target(host))
    assert isinstance(reading, SnmpReading) and reading.sys_descr == SYS_DESCR, reading
    async with PingProbe(count=3, interval_s=0.02, timeout_s=1.0, mode="raw") as ping:
        result = await ping.run(target(host))
    assert isinstance(result, PingResult) and result.received == 3, result
    # Dark: the kernel's ICMPv6 error names the destination without its zone.
    await brisk_ndp(lab, modem.link)
    await lab.ns_exec(modem.ns, "ip", "-6", "addr", "del", f"{local}/64", "dev",
                      modem.link.b_if)
    await lab.ns_exec(None, "ip", "-6", "neigh", "flush", "dev", modem.link.a_if)
    async with SnmpProbe(CREDS, timeout_s=3.0, retries=0) as probe:
        dark = await probe.run(target(host))
    assert isinstance(dark, ProbeError) and dark.kind == "unreachable", dark
    async with PingProbe(count=2, interval_s=0.02, timeout_s=3.0, mode="raw") as ping:
        lost = await ping.run(target(host))
    assert isinstance(lost, PingResult) and lost.received == 0 and lost.errors >= 1, lost


async def test_the_lab_fleet_answers_on_an_ipv6_range(lab: NetnsLab) -> None:
    """The fleet in a namespace of the test's, answering on a whole ULA /64 made
    local by an AnyIP route, reached from the host through the veth; its CSVs
    list the IPv6 addresses (headends too), and the modems' readings come over the
    probe's IPv6 socket (the IPv6 address is mapped onto its IPv4 twin's modem).
    With kernel faults on, a dark modem, a firewall and a closed SNMP port are
    the kernel's ICMPv6 errors (1/3, 1/1, 1/4) at the probe, as on IPv4."""
    modem = await lab.add_modem(ipv6=True)
    assert modem.addr6 is not None
    prefix = modem.addr6.rsplit("::", 1)[0] + ":1::"  # fd00:4c77:S:1::/64
    await lab.ns_exec(modem.ns, "ip", "-6", "route", "add", "local", f"{prefix}/64", "dev", "lo")
    await lab.ns_exec(None, "ip", "-6", "route", "add", f"{prefix}/64", "via", modem.addr6)
    inventory, heads = lab.tmpdir / "fleet6.csv", lab.tmpdir / "fleet6-headends.csv"
    await lab.spawn(modem.ns, "sh", "-c", shlex.join([
        sys.executable, "-m", "linewatch.cli", "lab", "fleet", "--modems", "24", "--nodes", "4",
        "--port", "1161", "--control", "127.0.0.1:18471", "--inventory", str(inventory),
        "--headends", str(heads), "--ipv6-base", prefix, "--kernel-faults", "on",
    ]) + f" >{lab.tmpdir}/fleet6.log 2>&1")
    for _ in range(100):
        if inventory.exists() and inventory.stat().st_size > 0:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.2)
    targets = parse_inventory(inventory.read_text())
    assert len(targets) == 24 and all(t.host.startswith(prefix) for t in targets)
    assert all(h.host.startswith(prefix) for h in parse_headends(heads.read_text()))
    async with SnmpProbe(CREDS, timeout_s=1.0, retries=1) as probe:
        readings = [await probe.run(t) for t in targets[:8]]
        assert probe.transport6.stats.received > 0 and probe.transport.stats.sent == 0
    techs = {t.technology for t in targets[:8]}
    assert all(isinstance(r, SnmpReading) for r in readings), readings
    assert len(techs) > 1, techs
    # Every headend of the fleet (CMTS, DSLAM, OLT) polled over IPv6, rows matched.
    headends = parse_headends(heads.read_text())
    lines = line_indexes(headends, targets)
    async with SnmpProbe(CREDS, timeout_s=1.0, retries=1) as snmp:
        polled = [await HeadendProbe(snmp, timeout_s=1.0, retries=1).run(h, lines[h.headend])
                  for h in headends]
        assert snmp.transport6.stats.received > 0 and snmp.transport.stats.sent == 0
    assert {h.kind for h in headends} == {"cmts", "dslam", "olt"}
    for head, reading in zip(headends, polled, strict=True):
        assert isinstance(reading, HeadendReading), (head, reading)
        assert reading.modems or reading.ports or reading.onts, (head, reading)
    # The kernel's answers for faulted IPv6 modems (nft in the fleet's namespace).
    faults = (("dead_modem", "unreachable", "ICMPv6 1/3", "host_unreachable"),
              ("firewall_reject", "unreachable", "ICMPv6 1/1", "prohibited"),
              ("snmp_closed", "refused", "ICMPv6 1/4", "port_unreachable"))
    for (kind, _, _, _), faulted in zip(faults, targets[8:], strict=False):
        await lab.ns_exec(modem.ns, sys.executable, "-c", (
            "import json, sys, urllib.request\n"
            "req = urllib.request.Request('http://127.0.0.1:18471/faults', method='POST', "
            "data=sys.argv[1].encode(), headers={'Content-Type': 'application/json'})\n"
            "urllib.request.urlopen(req, timeout=10).read()\n"),
            json.dumps({"kind": kind, "account": faulted.account}))
    async with SnmpProbe(CREDS, timeout_s=3.0, retries=0) as snmp:
        for (kind, want, icmp, counted), faulted in zip(faults, targets[8:], strict=False):
            got = await snmp.run(faulted)
            assert isinstance(got, ProbeError) and got.kind == want, (kind, got)
            assert icmp in got.message, (kind, got)
            assert snmp.net_errors[counted] >= 1, (kind, snmp.net_errors)
        assert isinstance(await snmp.run(targets[11]), SnmpReading)  # its neighbour answers
