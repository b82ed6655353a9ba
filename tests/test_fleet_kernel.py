"""The lab fleet's unreachable modems are reported by the kernel, as on a real network.

As root the fleet rejects packets to a dead modem's or an outage node's
addresses with ICMP host-unreachable, to a firewalled modem's with
admin-prohibited and to a modem whose SNMP agent is down with port-unreachable
(lab/fleet/kernel.py), so every fleet-based test, the demo and the soak meet
the errors production meets. Checked with a plain UDP socket (IP_RECVERR,
blocking with a timeout), not the project's transport, whose handling of these
errors is what the fleet exists to test.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from needs import need_binary, need_root
from stack import LINEWATCH, Proc, free_port

from lab.fleet import Fleet
from lab.fleet.kernel import KernelDarkness, resolve_mode

GET_UPTIME = bytes.fromhex(  # SNMPv2c GET sysUpTime.0, community "public", request-id 1
    "302602010104067075626c6963a019020101020100020100300e300c06082b060102010103000500")
IP_RECVERR = 11  # <linux/in.h>
MSG_ERRQUEUE = 0x2000
SO_EE_ORIGIN_ICMP = 2
ANSWER = ("answer", 0, 0)
SILENT = ("silent", 0, 0)
HOST_UNREACHABLE = ("EHOSTUNREACH", 3, 1)
ADMIN_PROHIBITED = ("EHOSTUNREACH", 3, 13)
PORT_UNREACHABLE = ("ECONNREFUSED", 3, 3)


def _probe(host: str, port: int, payload: bytes = GET_UPTIME) -> tuple[str, int, int]:
    """("answer", 0, 0), ("silent", 0, 0), or the kernel's error: (errno name,
    ICMP type, ICMP code) read from the socket's error queue."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
        sock.settimeout(1.5)
        sock.sendto(payload, (host, port))  # the input-hook reject lets the send succeed
        try:
            sock.recvfrom(4096)
            return ANSWER
        except TimeoutError:
            return SILENT
        except OSError as exc:
            reported = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        _data, ancillary, _flags, _addr = sock.recvmsg(64, 512, MSG_ERRQUEUE | socket.MSG_DONTWAIT)
        for level, kind, data in ancillary:
            if level == socket.SOL_IP and kind == IP_RECVERR:
                ee_errno, origin, icmp_type, icmp_code = struct.unpack_from("=IBBB", data)
                assert origin == SO_EE_ORIGIN_ICMP
                assert errno.errorcode[ee_errno] == reported
                return reported, icmp_type, icmp_code
        return reported, -1, -1


def _ping(host: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ping", "-n", "-c1", "-W1", host], capture_output=True, text=True,
                          timeout=10)


def _control(control: str, method: str, path: str,
             body: dict[str, object] | None = None) -> dict[str, object]:
    req = urllib.request.Request(f"http://{control}{path}", method=method,
                                 data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        out = json.loads(resp.read())
    assert isinstance(out, dict)
    return out


def _tables() -> set[str]:
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True,
                         check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.startswith("table inet ")}


def _nft(script: str) -> None:
    subprocess.run(["nft", "-f", "-"], input=script, text=True, check=True)


def _wait_up(control: str, fleet: Proc) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while True:
        assert fleet.proc.poll() is None, fleet.log()
        try:
            return _control(control, "GET", "/fleet")
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline, fleet.log()
            time.sleep(0.1)


def test_unreachable_modems_are_reported_by_the_kernel(tmp_path: Path) -> None:
    need_root()
    need_binary("nft", "ping")
    # Tables a crashed fleet would leave: its process gone, or its pid reused.
    with open("/proc/sys/kernel/pid_max") as f:
        gone_pid = int(f.read()) + 7
    stale = {f"lwfleet{gone_pid}_5_1", f"lwfleet{os.getpid()}_1_1"}
    _nft("".join(f"add table inet {t}\n" for t in stale))

    port, control = free_port(), f"127.0.0.1:{free_port()}"
    fleet = Proc([*LINEWATCH, "lab", "fleet", "--modems", "30", "--nodes", "3", "--port",
                  str(port), "--control", control, "--kernel-faults", "on"],
                 tmp_path / "fleet.log")
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # another program, same addresses
    try:
        kernel = _wait_up(control, fleet)["kernel_faults"]
        assert isinstance(kernel, dict) and kernel["enabled"] is True, kernel
        table = str(kernel["table"]).split()[-1]
        assert table.startswith(f"lwfleet{fleet.proc.pid}_")
        tables = _tables()
        assert table in tables and not stale & tables

        modems = _control(control, "GET", "/modems")["modems"]
        assert isinstance(modems, list)
        by_node: dict[str, list[dict[str, str]]] = {}
        for m in modems:
            by_node.setdefault(m["node"], []).append(m)
        n1, n2, n3 = sorted(by_node)
        dead, walled, closed = by_node[n1][:3]
        healthy = by_node[n3][0]
        assert _probe(dead["host"], port) == ANSWER

        faults = [
            _control(control, "POST", "/faults", {"kind": "dead_modem",
                                                  "account": dead["account"]}),
            _control(control, "POST", "/faults", {"kind": "node_outage", "node": n2}),
            _control(control, "POST", "/faults", {"kind": "firewall_reject",
                                                  "account": walled["account"]}),
            _control(control, "POST", "/faults", {"kind": "snmp_closed",
                                                  "account": closed["account"]}),
        ]
        # The control API answers once the kernel agrees: no waiting needed.
        assert _probe(dead["host"], port) == HOST_UNREACHABLE
        for m in by_node[n2]:
            assert _probe(m["host"], port) == HOST_UNREACHABLE, m
        assert _probe(walled["host"], port) == ADMIN_PROHIBITED
        assert _probe(closed["host"], port) == PORT_UNREACHABLE
        assert _probe(healthy["host"], port) == ANSWER
        assert _probe(by_node[n1][3]["host"], port) == ANSWER  # the dead one's neighbour

        ping = _ping(dead["host"])
        assert ping.returncode != 0 and "Destination Host Unreachable" in ping.stdout, ping.stdout
        assert _ping(closed["host"]).returncode == 0  # the modem lives, only SNMP is down

        # Other UDP ports on a dark address belong to someone else: untouched.
        other.bind(("0.0.0.0", 0))
        other.settimeout(1.5)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"hello", (dead["host"], other.getsockname()[1]))
        assert other.recvfrom(64)[0] == b"hello"

        kernel = _control(control, "GET", "/fleet")["kernel_faults"]
        assert isinstance(kernel, dict)
        assert kernel["rejected"] == {"host-unreachable": 1 + len(by_node[n2]),
                                      "admin-prohibited": 1, "port-unreachable": 1}

        _control(control, "DELETE", f"/faults/{faults[0]['id']}")
        assert _probe(dead["host"], port) == ANSWER
        assert _probe(by_node[n2][0]["host"], port) == HOST_UNREACHABLE
        _control(control, "DELETE", "/faults")
        for m in (by_node[n2][0], by_node[n2][-1], walled, closed):
            assert _probe(m["host"], port) == ANSWER, m
        assert _ping(dead["host"]).returncode == 0
    finally:
        other.close()
        assert fleet.stop() == 0, fleet.log()  # SIGTERM
    assert table not in _tables()


def test_in_process_faults_reach_the_kernel_without_the_control_api() -> None:
    """Fleet.inject/clear wake the kernel sync at once; a drop cut turns dark by itself."""
    need_root()
    need_binary("nft")

    async def run() -> None:
        fleet = Fleet(modems=8, nodes=2, port=0, base_address="127.26.3.0", kernel_faults="on")
        await fleet.start()
        table = fleet.kernel.table
        try:
            host = fleet.layout.address(0)
            docsis = next(s for s in list(fleet.specs())[1:] if s.technology == "docsis")
            fleet.inject("dead_modem", account=fleet.layout.spec(0).account)
            fleet.inject("drop_cut", account=docsis.account, degrade_s=0.6)
            await asyncio.sleep(0.3)
            assert fleet.kernel.dark == {host}
            await asyncio.to_thread(_wait_dark, table, docsis.host)
            fleet.clear()
            await asyncio.sleep(0.3)
            assert fleet.kernel.dark == frozenset()
            assert await asyncio.to_thread(_probe, host, fleet.port) == ANSWER
        finally:
            await fleet.stop()
        assert table not in _tables()

    asyncio.run(run())


def _wait_dark(table: str, host: str) -> None:
    deadline = time.monotonic() + 5
    while f" {host}" not in subprocess.run(
            ["nft", "list", "set", "inet", table, "host_unreachable"],
            capture_output=True, text=True, check=True).stdout:
        assert time.monotonic() < deadline, f"{host} never rejected"
        time.sleep(0.2)


def test_kernel_faults_on_fails_clearly_when_impossible(tmp_path: Path) -> None:
    """`--kernel-faults on` without nft (or root) stops at once with the reason."""
    out = subprocess.run(
        [*LINEWATCH, "lab", "fleet", "--modems", "4", "--nodes", "1", "--port", "0",
         "--control", f"127.0.0.1:{free_port()}", "--kernel-faults", "on"],
        env={**os.environ, "PATH": str(tmp_path)}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert "kernel-reported faults need root and nft" in out.stderr


def test_kernel_faults_mode_from_flag_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINEWATCH_FLEET_KERNEL_FAULTS", raising=False)
    assert resolve_mode(None) == "auto"
    monkeypatch.setenv("LINEWATCH_FLEET_KERNEL_FAULTS", "off")
    assert resolve_mode(None) == "off"
    assert resolve_mode("on") == "on"
    assert KernelDarkness(None).summary()["enabled"] is False
    monkeypatch.setenv("LINEWATCH_FLEET_KERNEL_FAULTS", "maybe")
    with pytest.raises(ValueError, match="LINEWATCH_FLEET_KERNEL_FAULTS"):
        resolve_mode(None)
