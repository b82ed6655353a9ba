"""The netns lab builds real kernel links and always leaves the host clean:
after a normal exit, after an exception, and after a crashed run (stale names)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess

import pytest
from needs import need_binary, need_root

from lab.netns import LabError, NetnsLab, cleanup_stale, run_cmd
from probes.ping import PingProbe


@pytest.fixture(autouse=True)
def _needs() -> None:
    need_root()
    need_binary("ip", "nft", "tc", "ss")


async def _leftovers(tag: str) -> list[str]:
    out = (
        await run_cmd("ip", "netns", "list")
        + await run_cmd("ip", "-o", "link", "show")
        + await run_cmd("nft", "list", "tables")
    )
    # The tag followed by a letter or the end: lwlab123 must not match lwlab1234a.
    own = re.compile(rf"{tag}(?![0-9])")
    return [line for line in out.splitlines() if own.search(line)]


def _dead_pid() -> int:
    """A pid that just exited (a crashed test run stands in for)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert not os.path.exists(f"/proc/{proc.pid}")
    return proc.pid


async def test_modem_link_carries_traffic_and_goes_down_and_up() -> None:
    async with NetnsLab() as lab, PingProbe(count=3, interval_s=0.01, timeout_s=0.5) as ping:
        modem = await lab.add_modem()
        assert modem.addr.startswith("198.1")
        assert (await ping.ping_many([modem.addr]))[modem.addr].received == 3

        await lab.set_link(modem.link, up=False)
        assert (await ping.ping_many([modem.addr]))[modem.addr].received == 0

        await lab.set_link(modem.link, up=True)
        # Carrier comes back within a moment; bounded retry.
        for _ in range(20):
            if (await ping.ping_many([modem.addr], count=1))[modem.addr].received == 1:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("link did not come back up")


async def test_everything_is_removed_on_exit_even_after_an_exception() -> None:
    lab = NetnsLab()
    with pytest.raises(RuntimeError, match="boom"):
        async with lab:
            modem = await lab.add_modem()
            chain = await lab.add_chain()
            await lab.drop(modem.link, 20)
            await lab.drop(chain.uplink, 5, at="a")  # a table in the host namespace
            await lab.start_iperf3(modem.ns, modem.addr)
            assert await _leftovers(lab.tag)
            raise RuntimeError("boom")
    assert await _leftovers(lab.tag) == []
    out = await run_cmd("pgrep", "-f", f"iperf3 -s -B {modem.addr}", check=False)
    assert out.strip() == ""


async def test_cleanup_stale_removes_leftovers_of_a_dead_run_only() -> None:
    dead = f"lwlab{_dead_pid()}z"
    await run_cmd("ip", "netns", "add", f"{dead}a")
    await run_cmd("ip", "link", "add", f"{dead}ah", "type", "veth", "peer", "name", f"{dead}ap")
    await run_cmd("nft", "add", "table", "inet", dead)
    try:
        async with NetnsLab() as lab:  # entering runs cleanup_stale()
            await lab.add_modem()
            assert await _leftovers(dead) == []
            assert await cleanup_stale() == []  # our own, live lab is left alone
            assert await _leftovers(lab.tag)
    finally:
        await run_cmd("ip", "netns", "del", f"{dead}a", check=False)
        await run_cmd("ip", "link", "del", f"{dead}ah", check=False)
        await run_cmd("nft", "delete", "table", "inet", dead, check=False)


async def test_leftovers_of_this_process_go_only_when_asked_for_by_tag() -> None:
    tag = f"lwlab{os.getpid()}y"  # a lab of ours whose teardown was cut short
    await run_cmd("ip", "netns", "add", f"{tag}a")
    try:
        assert await cleanup_stale() == []  # our pid is alive: not stale by itself
        assert await cleanup_stale(also=tag) == [f"{tag}a"]
        assert await _leftovers(tag) == []
    finally:
        await run_cmd("ip", "netns", "del", f"{tag}a", check=False)


async def test_shaping_and_drop_rules_are_installed() -> None:
    async with NetnsLab() as lab:
        modem = await lab.add_modem()
        await lab.shape(modem.link, rate_mbit=20)
        host_q = await run_cmd("tc", "qdisc", "show", "dev", modem.link.a_if)
        modem_q = await lab.ns_exec(modem.ns, "tc", "qdisc", "show", "dev", modem.link.b_if)
        assert "tbf" in host_q and "20Mbit" in host_q
        assert "tbf" in modem_q
        await lab.drop(modem.link, 100)
        async with PingProbe(count=5, interval_s=0.01, timeout_s=0.3) as ping:
            assert (await ping.ping_many([modem.addr]))[modem.addr].received == 0
            assert await lab.dropped_packets(modem.link) >= 5
            await lab.clear_drops(modem.link)
            assert (await ping.ping_many([modem.addr]))[modem.addr].received == 5


async def test_a_server_that_cannot_start_is_a_clear_error() -> None:
    async with NetnsLab() as lab:
        modem = await lab.add_modem()
        with pytest.raises(LabError, match="exited"):
            # 198.18.255.254 is not on any interface of the namespace: bind fails.
            await lab.start_iperf3(modem.ns, "198.18.255.254")
