"""SnmpProbe against real net-snmp snmpd on loopback (v1, v2c, v3 authPriv),
against silent/closed ports, and against a tiny hostile UDP agent."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from needs import need_binary
from peers import Agent, run_snmpd, snmp_credentials

from probes.model import DocsisLine, ProbeError, SnmpReading, Target
from probes.snmp.ber import (
    RESPONSE,
    Message,
    Pdu,
    TimeTicks,
    decode_message,
    encode_message,
)
from probes.snmp.probe import SnmpCredentials, SnmpProbe
from probes.snmp.profiles import Column, ProfileError, load_profiles, select_profile

CREDS = snmp_credentials()


def target(
    host: str,
    port: int,
    credentials: str = "default",
    technology: str = "ethernet",
    account: str = "acct-1",
) -> Target:
    return Target(
        account=account,
        host=host,
        port=port,
        technology=technology,  # type: ignore[arg-type]
        node="n1",
        plan_down_mbps=100,
        plan_up_mbps=10,
        credentials=credentials,
    )


@pytest.fixture(scope="module")
def snmpd() -> Iterator[Agent]:
    need_binary("snmpd", "snmpwalk")
    with run_snmpd(["127.0.9.1"]) as agent:
        yield agent


def snmpwalk_values(agent: Agent, oid: str) -> dict[int, str]:
    """The net-snmp CLI as an independent oracle: ifIndex -> value."""
    out = subprocess.run(
        [
            "snmpwalk",
            "-v2c",
            "-c",
            agent.community,
            "-On",
            "-Oq",
            "-Ov",
            "-OU",
            "-Oe",
            "-m",
            "",
            f"{agent.host}:{agent.port}",
            oid,
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    names = subprocess.run(
        [
            "snmpwalk",
            "-v2c",
            "-c",
            agent.community,
            "-On",
            "-Oq",
            "-m",
            "",
            f"{agent.host}:{agent.port}",
            oid,
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    idx = [int(line.split()[0].rsplit(".", 1)[1]) for line in names.splitlines() if line]
    return dict(zip(idx, [v.strip('"') for v in out.splitlines()], strict=True))


@pytest.mark.parametrize("creds", ["default", "v1", "v3"])
async def test_polls_snmpd_with_v1_v2c_and_v3_authpriv(snmpd: Agent, creds: str) -> None:
    async with SnmpProbe(CREDS, timeout_s=1.0) as probe:
        reading = await probe.run(target(snmpd.host, snmpd.port, creds))
    assert isinstance(reading, SnmpReading), reading
    assert reading.sys_descr == "linewatch test snmpd"
    assert reading.sys_uptime_s is not None and 0 <= reading.sys_uptime_s < 3600
    names = snmpwalk_values(snmpd, "1.3.6.1.2.1.2.2.1.2")
    types = snmpwalk_values(snmpd, "1.3.6.1.2.1.2.2.1.3")
    # Only LAN/WAN interfaces (ethernetCsmacd 6 ... for this profile); lo (24) is left out.
    expected = {i: n for i, n in names.items() if int(types[i]) in (6, 62, 69, 117)}
    assert expected and "lo" not in expected.values()
    assert {i.index: i.name for i in reading.interfaces} == expected
    for iface in reading.interfaces:
        assert iface.role == "lan" and iface.oper_up is not None
        assert type(iface.in_octets) is int  # plain ints: msgspec encodes them
    assert reading.line is None


@pytest.mark.parametrize("creds", ["default", "v1"])
async def test_missing_objects_are_missing_fields_in_v1_and_v2c(
    snmpd: Agent, creds: str, tmp_path: Path
) -> None:
    # v1 answers a GET with a missing object by noSuchName for the whole PDU: the
    # probe drops that varbind and asks again; v2c answers noSuchObject per varbind.
    path = tmp_path / "p.toml"
    path.write_text(
        '[profiles.probe-test]\ntechnology = "docsis"\nbase = "docsis"\n'
        '[profiles.probe-test.scalars]\nbogus = ["1.3.6.1.2.1.1.99.0", 1, "int"]\n'
    )
    async with SnmpProbe(CREDS, timeout_s=1.0, profiles=str(path)) as probe:
        t = target(snmpd.host, snmpd.port, creds, technology="docsis")
        reading = await probe.run(msgspec.structs.replace(t, snmp_profile="probe-test"))
    assert isinstance(reading, SnmpReading), reading
    assert reading.sys_descr == "linewatch test snmpd"
    assert reading.line == DocsisLine()  # snmpd has no DOCS-IF-MIB: empty, not an error
    assert reading.interfaces
    for iface in reading.interfaces:
        assert iface.in_octets is not None  # v1 has no Counter64: ifInOctets fallback


async def test_wrong_community_times_out_after_all_retries(snmpd: Agent) -> None:
    async with SnmpProbe(CREDS, timeout_s=0.3, retries=1) as probe:
        start = time.monotonic()
        result = await probe.run(target(snmpd.host, snmpd.port, "wrong-community"))
        elapsed = time.monotonic() - start
    assert result == ProbeError(kind="timeout", message="no answer")
    assert 0.55 <= elapsed < 3.0  # timeout * (retries + 1)


async def test_wrong_v3_key_is_an_auth_error(snmpd: Agent) -> None:
    # Real behaviour: snmpd answers a bad HMAC with a Report (usmStatsWrongDigests),
    # which pysnmp surfaces as errorIndication WrongDigest -> kind "auth".
    async with SnmpProbe(CREDS, timeout_s=0.5, retries=0) as probe:
        result = await probe.run(target(snmpd.host, snmpd.port, "v3-wrong-key"))
    assert isinstance(result, ProbeError)
    assert result.kind == "auth", result
    assert "wrongpass" not in result.message


async def test_closed_port_is_refused() -> None:
    port = 9  # discard: nothing listens on UDP 9 on 127.0.9.2
    async with SnmpProbe(CREDS, timeout_s=1.0, retries=2) as probe:
        start = time.monotonic()
        result = await probe.run(target("127.0.9.2", port))
    assert isinstance(result, ProbeError) and result.kind == "refused", result
    assert time.monotonic() - start < 0.5


async def test_one_dead_modem_does_not_delay_the_others(snmpd: Agent) -> None:
    black_hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    black_hole.bind(("127.0.9.3", 0))
    try:
        dead = target("127.0.9.3", black_hole.getsockname()[1], account="dead")
        live = [target(snmpd.host, snmpd.port, account=f"live-{i}") for i in range(49)]
        async with SnmpProbe(CREDS, timeout_s=1.0, retries=1) as probe:
            start = time.monotonic()
            done: dict[str, float] = {}

            async def one(t: Target) -> object:
                result = await probe.run(t)
                done[t.account] = time.monotonic() - start
                return result

            results = await asyncio.gather(*(one(t) for t in [dead, *live]))
    finally:
        black_hole.close()
    assert results[0] == ProbeError(kind="timeout", message="no answer")
    assert all(isinstance(r, SnmpReading) for r in results[1:])
    slowest_live = max(v for k, v in done.items() if k != "dead")
    assert slowest_live < 1.0  # every live one done before the dead one's first timeout
    assert 1.95 <= done["dead"] < 4.0  # timeout * (retries + 1), not more


class BadAgent(asyncio.DatagramProtocol):
    """Answers every request with the datagrams ``answers(request)`` returns."""

    def __init__(self, answers: object) -> None:
        self.answers = answers
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        for reply in self.answers(decode_message(data)):  # type: ignore[operator]
            assert self.transport is not None
            self.transport.sendto(reply, addr)


def _response(request: Message, request_id: int | None = None) -> bytes:
    pdu = request.pdu
    # sysUpTime asked by GET (.3.0) or, in the targeted v2c poll, by GETNEXT of .3
    uptime = (1, 3, 6, 1, 2, 1, 1, 3, 0)
    varbinds = [
        (uptime, TimeTicks(4200)) if oid in (uptime, uptime[:-1]) else (oid, b"bad agent")
        for oid, _ in pdu.varbinds
    ]
    rid = pdu.request_id if request_id is None else request_id
    return encode_message(
        Message(request.version, request.community, Pdu(RESPONSE, rid, 0, 0, varbinds))
    )


@pytest.mark.parametrize(
    ("name", "answers", "expected"),
    [
        ("truncated", lambda m: [_response(m)[:-3]], "decode"),
        ("garbage", lambda m: [b"\x30\x03\x02\x01", b"\xff" * 40, b""], "decode"),
        ("wrong request-id", lambda m: [_response(m, m.pdu.request_id ^ 0x5555)], "timeout"),
        ("garbage then good", lambda m: [b"\x30\x00", _response(m, 1), _response(m)], "ok"),
    ],
)
async def test_hostile_agent_gives_probe_error_or_is_ignored(
    name: str, answers: object, expected: str
) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: BadAgent(answers), local_addr=("127.0.9.4", 0)
    )
    try:
        port = transport.get_extra_info("sockname")[1]
        async with SnmpProbe(CREDS, timeout_s=0.2, retries=0) as probe:
            result = await probe.run(target("127.0.9.4", port))
            stats = probe.transport.stats
    finally:
        transport.close()
    if expected == "ok":
        assert isinstance(result, SnmpReading), result
        assert result.sys_uptime_s == 42.0
        assert stats.dropped["decode"] >= 1
    else:
        assert result == ProbeError(kind=expected, message=result.message)  # type: ignore[union-attr]
    if name == "wrong request-id":
        assert stats.dropped["unknown_request_id"] >= 1


def test_credentials_hide_secrets_and_read_env(monkeypatch: pytest.MonkeyPatch) -> None:
    creds = SnmpCredentials(
        version="3",
        user="u",
        auth_protocol="SHA",
        auth_key_env="LW_AK",
        priv_protocol="AES",
        priv_key_env="LW_PK",
    )
    monkeypatch.setenv("LW_AK", "s3cret-auth")
    monkeypatch.setenv("LW_PK", "s3cret-priv")
    resolved = creds.resolved()
    assert resolved.auth_key == "s3cret-auth" and resolved.priv_key == "s3cret-priv"
    assert "s3cret" not in repr(resolved) and "s3cret" not in str(resolved)
    monkeypatch.delenv("LW_PK")
    with pytest.raises(ValueError, match="LW_PK"):
        creds.resolved()


async def test_missing_credentials_and_profile_are_config_errors() -> None:
    async with SnmpProbe({}, timeout_s=0.2) as probe:
        assert (await probe.run(target("127.0.0.1", 161))).kind == "config"  # type: ignore[union-attr]
        t = Target(
            account="a",
            host="127.0.0.1",
            technology="dsl",
            node="n",
            plan_down_mbps=1,
            plan_up_mbps=1,
            snmp_profile="nope",
        )
        assert (await probe.run(t)).kind == "config"  # type: ignore[union-attr]


def test_profiles_are_overridable_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "profiles.toml"
    path.write_text(
        """
[profiles.docsis.tables.downstream]
power_dbmv = ["1.3.6.1.4.1.9999.1.6", 0.01, "float"]

[profiles.acme-ont]
technology = "gpon"
base = "gpon"
[profiles.acme-ont.tables.optics]
rx_power_dbm = ["1.3.6.1.4.1.9999.2.1", 0.1, "float"]
"""
    )
    profiles = load_profiles(path)
    ds = profiles["docsis"].tables["downstream"]
    assert ds["power_dbmv"] == Column((1, 3, 6, 1, 4, 1, 9999, 1, 6), 0.01, "float")
    assert ds["frequency_hz"].oid == (1, 3, 6, 1, 2, 1, 10, 127, 1, 1, 1, 1, 2)  # kept
    acme = profiles["acme-ont"]
    assert acme.technology == "gpon" and "dbm_sensors" in acme.tables
    assert acme.tables["optics"]["rx_power_dbm"].scale == 0.1
    assert select_profile(profiles, "gpon", "acme-ont") is acme
    assert select_profile(profiles, "dsl", None) is profiles["dsl"]
    assert profiles["docsis"].scalars["sys_uptime_s"].scale == 0.01


@pytest.mark.parametrize(
    "bad",
    [
        '[profiles.x]\ntechnology = "fax"',
        '[profiles.x]\ntechnology = "dsl"\n[profiles.x.tables.t]\nf = ["1.3.x", 1, "float"]',
        '[profiles.x]\ntechnology = "dsl"\n[profiles.x.tables.t]\nf = ["1.3.6", 1, "blob"]',
        '[profiles.x]\ntechnology = "dsl"\nbase = "nope"',
        "not toml [",
    ],
)
def test_bad_profile_files_are_rejected_with_a_reason(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(bad)
    with pytest.raises(ProfileError):
        load_profiles(path)


@pytest.mark.parametrize("technology", ["ethernet", "docsis", "dsl", "gpon"])
async def test_targeted_and_full_collection_give_the_same_reading_from_snmpd(
    snmpd: Agent, technology: str
) -> None:
    async with SnmpProbe(CREDS, timeout_s=1.0) as probe:
        t = target(snmpd.host, snmpd.port, technology=technology)
        targeted = await probe.run(t)
        probe.targeted = False
        full = await probe.run(t)
    assert isinstance(targeted, SnmpReading) and targeted.interfaces
    # Counters move between the two polls: compare everything but them.
    def shape(r: SnmpReading) -> object:
        return [(i.index, i.name, i.role, i.oper_up, i.in_errors) for i in r.interfaces], r.line
    assert shape(targeted) == shape(full)
    assert targeted.sys_descr == full.sys_descr


def test_convert_by_column_identity_matches_converter() -> None:
    """``reading.convert``'s identity-keyed converter cache against ``converter``
    itself, on every built-in column, and with equal but distinct Column objects
    and a column whose id may be reused (each keeps its own kind and scale)."""
    from probes.snmp.ber import END_OF_MIB_VIEW, Counter32, Counter64, Gauge32, TimeTicks
    from probes.snmp.profiles import builtin_profiles
    from probes.snmp.reading import convert, converter

    values: list[object] = [None, 0, -1, 7, 2**31, 2**64 - 1, True, 1.5, b"", b"up\xff",
                            b"x" * 2000, Counter32(5), Counter64(2**63), Gauge32(9),
                            TimeTicks(100), END_OF_MIB_VIEW]
    columns = [c for p in builtin_profiles().values()
               for c in [*p.scalars.values(), *(c for t in p.tables.values() for c in t.values())]]
    for column in columns:
        for value in values:
            assert convert(value, column) == converter(column)(value)  # type: ignore[arg-type]
    for _ in range(50):  # fresh objects, some landing on a freed one's id
        for kind, scale in (("float", 0.1), ("counter", 1.0), ("text", 1.0)):
            column = Column((1, 3, 6, 1, 9), scale, kind)  # type: ignore[arg-type]
            for value in values:
                assert convert(value, column) == converter(column)(value)  # type: ignore[arg-type]
