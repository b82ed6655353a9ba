"""ThroughputProbe runs the real iperf3 client against `iperf3 -s` in a
namespace behind a tbf-shaped veth; iperf3's own failures become ProbeErrors."""

from __future__ import annotations

import asyncio

import pytest
from needs import need_binary, need_root

from lab.netns import Modem, NetnsLab, run_cmd
from probes.model import ProbeError, Target, ThroughputResult
from probes.throughput import ThroughputProbe, classify_error, parse_report

SHAPED_MBIT = 50


def target(host: str, port: int = 5201) -> Target:
    return Target(
        account="acct-1",
        host=host,
        technology="docsis",
        node="n1",
        plan_down_mbps=SHAPED_MBIT,
        plan_up_mbps=SHAPED_MBIT,
        iperf_port=port,
    )


@pytest.fixture
async def modem():
    need_root()
    need_binary("ip", "tc", "ss", "iperf3")
    async with NetnsLab() as lab:
        modem = await lab.add_modem()
        await lab.start_iperf3(modem.ns, modem.addr)
        yield lab, modem


async def _clients_running(addr: str) -> str:
    return (await run_cmd("pgrep", "-af", f"iperf3 -c {addr}", check=False)).strip()


# --- parsing (pure) -----------------------------------------------------------------


def test_report_gives_receiver_rate_and_sender_retransmits() -> None:
    doc = {
        "end": {
            "sum_sent": {"bits_per_second": 51e6, "retransmits": 7},
            "sum_received": {"bits_per_second": 48.5e6},
        }
    }
    run = parse_report(doc)
    assert not isinstance(run, ProbeError)
    assert run.mbps == pytest.approx(48.5) and run.retransmits == 7


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("the server is busy running a test. try again later", "busy"),
        ("unable to connect to server: Connection refused", "refused"),
        ("unable to connect to server: No route to host", "unreachable"),
        ("unable to connect to server: Network is unreachable", "unreachable"),
        ("unable to connect to server: Connection timed out", "timeout"),
        ("something iperf3 never said before", "internal"),
    ],
)
def test_iperf3_errors_map_to_probe_error_kinds(message: str, kind: str) -> None:
    assert classify_error(message) == kind
    result = parse_report({"error": message})
    assert isinstance(result, ProbeError) and result.kind == kind and message in result.message


def test_report_without_a_rate_is_a_decode_error() -> None:
    result = parse_report({"end": {}})
    assert isinstance(result, ProbeError) and result.kind == "decode"


# --- real iperf3 --------------------------------------------------------------------


async def test_shaped_link_measures_within_15_percent_both_directions(
    modem: tuple[NetnsLab, Modem],
) -> None:
    lab, m = modem
    await lab.shape(m.link, rate_mbit=SHAPED_MBIT)
    result = await ThroughputProbe(duration_s=2).run(target(m.addr))
    assert isinstance(result, ThroughputResult), result
    assert result.down_mbps == pytest.approx(SHAPED_MBIT, rel=0.15)
    assert result.up_mbps == pytest.approx(SHAPED_MBIT, rel=0.15)
    assert result.server == f"{m.addr}:5201" and result.streams == 1
    assert result.retransmits is not None


async def test_busy_server_is_reported_as_busy(modem: tuple[NetnsLab, Modem]) -> None:
    lab, m = modem
    await lab.shape(m.link, rate_mbit=SHAPED_MBIT)  # keep the holding run cheap
    holder = asyncio.create_task(
        ThroughputProbe(duration_s=3, directions=("up",)).run(target(m.addr))
    )
    try:
        await asyncio.sleep(0.5)  # the holder has connected (it needs ~10 ms)
        result = await ThroughputProbe(duration_s=1).run(target(m.addr))
        assert isinstance(result, ProbeError), result
        assert result.kind == "busy" and "busy" in result.message
    finally:
        held = await holder
    assert isinstance(held, ThroughputResult)


async def test_closed_port_is_refused_and_missing_host_unreachable(
    modem: tuple[NetnsLab, Modem],
) -> None:
    _, m = modem
    refused = await ThroughputProbe(duration_s=1).run(target(m.addr, port=5299))
    assert isinstance(refused, ProbeError) and refused.kind == "refused"
    assert "Connection refused" in refused.message
    nobody = m.link.a_addr.rsplit(".", 1)[0] + ".3"  # on the link, nobody answers ARP
    missing = await ThroughputProbe(duration_s=1).run(target(nobody))
    assert isinstance(missing, ProbeError) and missing.kind in ("timeout", "unreachable")
    assert "unable to connect" in missing.message


async def test_timeout_and_cancel_kill_the_iperf3_client(modem: tuple[NetnsLab, Modem]) -> None:
    lab, m = modem
    await lab.shape(m.link, rate_mbit=10)
    timed_out = await ThroughputProbe(duration_s=5, timeout_s=1.0).run(target(m.addr))
    assert isinstance(timed_out, ProbeError) and timed_out.kind == "timeout"
    assert await _clients_running(m.addr) == ""

    await asyncio.sleep(0.3)  # let the server notice the killed client
    task = asyncio.create_task(ThroughputProbe(duration_s=5).run(target(m.addr)))
    await asyncio.sleep(0.5)
    assert await _clients_running(m.addr) != ""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _clients_running(m.addr) == ""
