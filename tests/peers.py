"""Start and stop real SNMP peers for tests: net-snmp ``snmpd`` and ``snmpsim``.

Both run as subprocesses on loopback addresses with a free UDP port, wait
until they answer a GET (bounded), and are always killed in ``finally``.
See ../shared/PEERS.md for the recipes these follow.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from probes.snmp.ber import GET, NULL, BerError, Message, Pdu, decode_message, encode_message
from probes.snmp.credentials import SnmpCredentials

V3_USER = "lwuser"
V3_AUTH = "authpass123"
V3_PRIV = "privpass123"


def snmp_credentials(
    user: str = V3_USER, auth_key: str = V3_AUTH, priv_key: str = V3_PRIV
) -> dict[str, SnmpCredentials]:
    """The credential sets the SNMP tests poll with: v1, v2c, v3 authPriv
    (SHA/AES) for ``user``, and two deliberately wrong ones."""
    v3 = {"version": "3", "user": user, "auth_protocol": "SHA", "priv_protocol": "AES"}
    return {
        "default": SnmpCredentials(community="public"),
        "v1": SnmpCredentials(version="1", community="public"),
        "v3": SnmpCredentials(**v3, auth_key=auth_key, priv_key=priv_key),
        "v3-wrong-key": SnmpCredentials(**v3, auth_key="wrongpass999", priv_key=priv_key),
        "wrong-community": SnmpCredentials(community="nope"),
    }
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)


def free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_snmp(host: str, port: int, community: str, timeout_s: float = 10.0) -> None:
    """Block until the agent answers a v2c GET (tests call this before their event loop)."""
    deadline = time.monotonic() + timeout_s
    req = encode_message(Message(1, community.encode(), Pdu(GET, 7, 0, 0, [(SYS_UPTIME, NULL)])))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # IPv6 agents too
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            s.sendto(req, (host, port))
            try:
                data, _ = s.recvfrom(65535)
                decode_message(data)
                return
            except (TimeoutError, ConnectionRefusedError, BerError):
                time.sleep(0.05)
    raise RuntimeError(f"SNMP agent on {host}:{port} did not answer within {timeout_s}s")


@dataclass
class Agent:
    host: str
    port: int
    community: str
    proc: subprocess.Popen[bytes]
    workdir: Path


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def run_snmpd(hosts: list[str], *, community: str = "public", extra: str = "") -> Iterator[Agent]:
    """net-snmp snmpd on ``hosts`` (one port), with community ``community`` and the
    v3 user V3_USER (SHA/AES, authPriv) from a createUser line."""
    workdir = Path(tempfile.mkdtemp(prefix="lw-snmpd-"))
    port = free_udp_port(hosts[0])
    addrs = ",".join(f"udp:{h}:{port}" for h in hosts)
    conf = workdir / "snmpd.conf"
    conf.write_text(
        f"agentAddress {addrs}\n"
        f"rocommunity {community} 127.0.0.0/8\n"
        f'createUser {V3_USER} SHA "{V3_AUTH}" AES "{V3_PRIV}"\n'
        f"rouser {V3_USER} priv\n"
        "sysDescr linewatch test snmpd\n"
        f"{extra}"
    )
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(workdir / "persist"), "MIBS": ""}
    proc = subprocess.Popen(
        ["snmpd", "-f", "-Lo", "-C", "-c", str(conf), "-M", "/nonexistent", "-m", ""],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_snmp(hosts[0], port, community)
        yield Agent(hosts[0], port, community, proc, workdir)
    finally:
        _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


SNMPSIM_BOOT = (
    "import dbm, dbm.dumb, encodings.latin_1, encodings.ascii, encodings.utf_8, sys; "
    "sys.argv[0]='snmpsim'; from snmpsim.commands.responder import main; sys.exit(main())"
)


def snmpsim_recordings() -> Path:
    import snmpsim

    return Path(snmpsim.__file__).parent / "data" / "recorded"


@contextlib.contextmanager
def run_snmpsim(recordings: dict[str, Path], hosts: list[str]) -> Iterator[Agent]:
    """snmpsim serving each ``community -> .snmprec file`` (copied to a temp data dir)."""
    workdir = Path(tempfile.mkdtemp(prefix="lw-snmpsim-"))
    data, cache = workdir / "data", workdir / "cache"
    data.mkdir()
    cache.mkdir()
    for community, path in recordings.items():
        shutil.copy(path, data / f"{community}.snmprec")
    for path in (workdir, data, cache, *data.iterdir()):
        os.chmod(path, 0o777 if path.is_dir() else 0o644)
    port = free_udp_port(hosts[0])
    endpoints = [f"--agent-udpv4-endpoint={h}:{port}" for h in hosts]
    args = [sys.executable, "-c", SNMPSIM_BOOT, f"--data-dir={data}", f"--cache-dir={cache}"]
    if os.geteuid() == 0:
        args += ["--process-user=nobody", "--process-group=nogroup"]
    proc = subprocess.Popen(
        [*args, *endpoints], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_snmp(hosts[0], port, next(iter(recordings)), timeout_s=30)
        yield Agent(hosts[0], port, next(iter(recordings)), proc, workdir)
    finally:
        _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)
