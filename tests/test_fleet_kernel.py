"""The lab fleet's dark modems are reported by the kernel, as on a real network.

As root the fleet rejects packets to a dead modem's or an outage node's
addresses with ICMP host-unreachable (lab/fleet/kernel.py), so every
fleet-based test, the demo and the soak meet the errors a real dark modem
causes. Checked here with a plain UDP socket (IP_RECVERR), not our transport.
"""

from __future__ import annotations

import errno
import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from needs import need_binary, need_root
from stack import LINEWATCH, Proc, free_port

from probes.inventory import parse_inventory
from probes.netio import MSG_ERRQUEUE, classify_ancillary, enable_recverr

GET_UPTIME = bytes.fromhex(  # SNMPv2c GET sysUpTime.0, community "public", request-id 1
    "302602010104067075626c6963a019020101020100020100300e300c06082b060102010103000500")


def _control(control: str, method: str, path: str, body: dict[str, object] | None = None) -> object:
    req = urllib.request.Request(f"http://{control}{path}", method=method,
                                 data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def _probe(host: str, port: int) -> str:
    """'answer', or the kernel's error for this destination, or 'silent'."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        enable_recverr(sock)
        sock.settimeout(1.0)
        try:
            sock.sendto(GET_UPTIME, (host, port))
        except OSError as exc:
            return errno.errorcode.get(exc.errno or 0, str(exc.errno))
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            try:
                sock.recvfrom(4096)
                return "answer"
            except OSError as exc:
                if exc.errno not in (errno.EHOSTUNREACH, errno.ECONNREFUSED, errno.EAGAIN):
                    return "silent" if isinstance(exc, TimeoutError) else str(exc)
                try:
                    _d, anc, _f, _a = sock.recvmsg(512, 512, MSG_ERRQUEUE | socket.MSG_DONTWAIT)
                except OSError:
                    return errno.errorcode.get(exc.errno or 0, "?")
                found = classify_ancillary(anc)
                return found.kind if found else "?"
        return "silent"
    finally:
        sock.close()


def _tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True,
                          check=True).stdout


def test_dead_modems_and_node_outages_are_rejected_by_the_kernel(tmp_path: Path) -> None:
    need_root()
    need_binary("nft")
    port, control = free_port(), f"127.0.0.1:{free_port()}"
    inventory = tmp_path / "inventory.csv"
    fleet = Proc([*LINEWATCH, "lab", "fleet", "--modems", "30", "--nodes", "3", "--port",
                  str(port), "--control", control, "--inventory", str(inventory),
                  "--kernel-faults", "on"], tmp_path / "fleet.log")
    try:
        for _ in range(300):
            if inventory.exists() and inventory.stat().st_size > 0:
                break
            time.sleep(0.1)
        time.sleep(0.3)
        targets = parse_inventory(inventory.read_text())
        by_node: dict[str, list[str]] = {}
        for t in targets:
            by_node.setdefault(t.node, []).append(t.host)
        nodes = sorted(by_node)
        dead = next(t for t in targets if t.node == nodes[0])
        healthy = next(t for t in targets if t.node == nodes[2])
        assert _probe(dead.host, port) == "answer"
        assert f"lwfleet{fleet.proc.pid}" in _tables()

        fault = _control(control, "POST", "/faults", {"kind": "dead_modem",
                                                      "account": dead.account})
        outage = _control(control, "POST", "/faults", {"kind": "node_outage",
                                                       "node": nodes[1]})
        assert _probe(dead.host, port) in ("EHOSTUNREACH", "host_unreachable")
        for host in by_node[nodes[1]][:3]:
            assert _probe(host, port) in ("EHOSTUNREACH", "host_unreachable"), host
        assert _probe(healthy.host, port) == "answer"
        ping = subprocess.run(["ping", "-c1", "-W1", dead.host], capture_output=True, text=True)
        assert ping.returncode != 0  # no echo reply from a dead modem any more

        assert isinstance(fault, dict) and isinstance(outage, dict)
        _control(control, "DELETE", f"/faults/{fault['id']}")
        _control(control, "DELETE", "/faults")
        assert _probe(dead.host, port) == "answer"
        assert _probe(by_node[nodes[1]][0], port) == "answer"
    finally:
        assert fleet.stop() == 0, fleet.log()
    assert f"lwfleet{fleet.proc.pid}" not in _tables()
