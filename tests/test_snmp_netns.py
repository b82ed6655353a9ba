"""The SNMP probe against net-snmp snmpd running inside a "modem" namespace,
reached over a real veth: v2c, v3 authPriv (SHA/AES), and through a link
that drops 20% of the requests, where only retries get the answers through."""

from __future__ import annotations

import pytest
from needs import need_binary, need_root
from peers import snmp_credentials

from lab.netns import Modem, NetnsLab, SnmpdConfig
from probes.model import ProbeError, SnmpReading, Target
from probes.snmp.probe import SnmpProbe

V3_USER = "lwnetns"
V3_AUTH = "netnsauth123"
V3_PRIV = "netnspriv123"
SYS_DESCR = "linewatch netns modem"
CREDS = snmp_credentials(V3_USER, V3_AUTH, V3_PRIV)


def target(host: str, creds: str = "default") -> Target:
    return Target(
        account="acct-1",
        host=host,
        technology="ethernet",
        node="n1",
        plan_down_mbps=100,
        plan_up_mbps=20,
        credentials=creds,
    )


@pytest.fixture
async def modem():
    need_root()
    need_binary("ip", "nft", "ss", "snmpd")
    async with NetnsLab() as lab:
        modem = await lab.add_modem()
        config = SnmpdConfig(
            community="public",
            v3_user=V3_USER,
            auth_key=V3_AUTH,
            priv_key=V3_PRIV,
            sys_descr=SYS_DESCR,
        )
        await lab.start_snmpd(modem.ns, modem.addr, config)
        yield lab, modem


def _check_reading(reading: object, modem: Modem) -> None:
    assert isinstance(reading, SnmpReading), reading
    assert reading.sys_descr == SYS_DESCR
    assert reading.sys_uptime_s is not None and reading.sys_uptime_s >= 0
    # The modem namespace holds exactly lo and its end of the veth.
    names = {i.name for i in reading.interfaces}
    assert modem.link.b_if in names, names


@pytest.mark.parametrize("creds", ["default", "v3"])
async def test_snmpd_in_a_namespace_answers_v2c_and_v3_authpriv(
    modem: tuple[NetnsLab, Modem], creds: str
) -> None:
    _, m = modem
    probe = SnmpProbe(CREDS, timeout_s=1.0, retries=1)
    await probe.start()
    try:
        reading = await probe.run(target(m.addr, creds))
    finally:
        await probe.aclose()
    _check_reading(reading, m)


async def test_wrong_v3_key_and_dark_modem_are_errors_not_readings(
    modem: tuple[NetnsLab, Modem],
) -> None:
    lab, m = modem
    probe = SnmpProbe(CREDS, timeout_s=0.3, retries=0)
    await probe.start()
    try:
        wrong = await probe.run(target(m.addr, "v3-wrong-key"))
        await lab.set_link(m.link, up=False)
        dark = await probe.run(target(m.addr))
    finally:
        await probe.aclose()
    assert isinstance(wrong, ProbeError) and wrong.kind == "auth", wrong
    assert isinstance(dark, ProbeError) and dark.kind == "timeout"


async def test_retries_carry_polls_through_a_link_dropping_20_percent(
    modem: tuple[NetnsLab, Modem],
) -> None:
    lab, m = modem
    await lab.drop(m.link, 20)  # requests toward the modem
    # 7 tries per request: a request is lost for good with 0.2**7 ~ 1e-5.
    probe = SnmpProbe(CREDS, timeout_s=0.15, retries=6)
    await probe.start()
    try:
        readings = [await probe.run(target(m.addr, "default")) for _ in range(15)]
        readings.append(await probe.run(target(m.addr, "v3")))
    finally:
        await probe.aclose()
    for reading in readings:
        _check_reading(reading, m)
    # The test only means something if packets were really dropped on the way.
    assert await lab.dropped_packets(m.link) > 0
