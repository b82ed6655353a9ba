"""The compiled ICMP send and receive (probes/_ping_fast.pyx) against the Python
path of probes/ping.py as the oracle: the same echo request byte for byte
(hypothesis), the same datagrams, sources and kernel timestamps read back as
``socket.recvmsg`` gives them, the same errnos as ``socket.sendto`` raises,
and PingProbe's answers over real sockets equal on both paths, including a
dark host's kernel errors in a namespace lab.

Where the extension is not built these tests skip (fail with CI=true: the
install builds it); LINEWATCH_PURE_PING=1 keeps PingProbe on the Python path.
"""

from __future__ import annotations

import errno
import socket
import struct
import time
from collections.abc import Iterator
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st
from needs import _missing, need_binary, need_root

from lab.netns import NetnsLab
from probes import ping
from probes.ping import (
    _ECHO,
    _ICMP6_ECHO_REQUEST,
    _ICMP_ECHO_REQUEST,
    _PAYLOAD_MAGIC,
    PingProbe,
    _echo_checksum,
    pack_sockaddr,
)
from probes.resolve import sockaddr

_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


@pytest.fixture
def fast() -> ModuleType:
    if ping.compiled is None:
        _missing("probes/_ping_fast is not built (pip install -e . builds it)")
    assert ping.compiled is not None
    return ping.compiled


@pytest.fixture(params=["compiled", "python"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """PingProbe on each path: IcmpSocket takes ``ping.compiled`` when it is made."""
    if request.param == "compiled":
        request.getfixturevalue("fast")
    else:
        monkeypatch.setattr(ping, "compiled", None)
    yield request.param


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 2**64 - 1))
def test_echo_request_is_the_python_packet(ident: int, seq: int, nonce: int) -> None:
    fast = ping.compiled
    if fast is None:
        _missing("probes/_ping_fast is not built (pip install -e . builds it)")
        return
    v4 = _ECHO.pack(_ICMP_ECHO_REQUEST, 0, _echo_checksum(ident, seq, nonce), ident, seq,
                    _PAYLOAD_MAGIC, nonce)
    v6 = _ECHO.pack(_ICMP6_ECHO_REQUEST, 0, 0, ident, seq, _PAYLOAD_MAGIC, nonce)
    assert fast.echo_request(_ICMP_ECHO_REQUEST, True, ident, seq, _PAYLOAD_MAGIC, nonce) == v4
    assert fast.echo_request(_ICMP6_ECHO_REQUEST, False, ident, seq, _PAYLOAD_MAGIC,
                             nonce) == v6


@pytest.mark.parametrize(("family", "host"), [(socket.AF_INET, "127.0.0.1"),
                                              (socket.AF_INET6, "::1")])
def test_send_echo_reaches_the_packed_address_as_sendto_would(
    fast: ModuleType, family: int, host: str
) -> None:
    """UDP stands in for ICMP here (no root needed): the datagram the compiled
    send puts on the wire equals the Python packet, sent to pack_sockaddr's address."""
    with socket.socket(family, socket.SOCK_DGRAM) as rx, \
            socket.socket(family, socket.SOCK_DGRAM) as tx:
        rx.bind((host, 0))
        rx.settimeout(2.0)
        port = rx.getsockname()[1]
        dest = pack_sockaddr(family, (host, port))
        assert fast.send_echo(tx.fileno(), dest, _ICMP_ECHO_REQUEST, True, 0x1234, 7,
                              _PAYLOAD_MAGIC, 99) == 0
        data, source = rx.recvfrom(64)
        assert data == _ECHO.pack(_ICMP_ECHO_REQUEST, 0, _echo_checksum(0x1234, 7, 99),
                                  0x1234, 7, _PAYLOAD_MAGIC, 99)
        assert source[1] == tx.getsockname()[1]


def test_send_errors_are_the_errnos_sendto_raises(fast: ModuleType) -> None:
    dest = pack_sockaddr(socket.AF_INET, ("127.0.0.1", 9))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fd = sock.fileno()
    sock.close()
    assert fast.send_echo(fd, dest, 8, True, 1, 1, _PAYLOAD_MAGIC, 1) == errno.EBADF
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        # a sockaddr of the wrong family: the kernel's EAFNOSUPPORT (Python's
        # sendto refuses it before the system call)
        v6 = pack_sockaddr(socket.AF_INET6, ("::1", 9))
        code = fast.send_echo(other.fileno(), v6, 8, True, 1, 1, _PAYLOAD_MAGIC, 1)
        assert code == errno.EAFNOSUPPORT
    with pytest.raises(ValueError):
        fast.send_echo(0, dest, 8, True, 1, 1, b"long magic", 1)


def test_pack_sockaddr_keeps_a_link_local_zone() -> None:
    packed = pack_sockaddr(socket.AF_INET6, sockaddr("fe80::1%1", 0))
    assert len(packed) == 28
    assert struct.unpack_from("=I", packed, 24)[0] == 1  # sin6_scope_id: interface 1
    assert socket.inet_ntop(socket.AF_INET6, packed[8:24]) == "fe80::1"
    assert len(pack_sockaddr(socket.AF_INET, ("127.0.0.1", 0))) == 16


@pytest.mark.parametrize(("family", "host"), [(socket.AF_INET, "127.0.0.1"),
                                              (socket.AF_INET6, "::1")])
def test_recv_replies_gives_what_recvmsg_gives(fast: ModuleType, family: int,
                                               host: str) -> None:
    """150 datagrams of different sizes: read in batches of at most BATCH, each
    with its bytes, its source and a kernel timestamp within the send window;
    the same sequence through recvmsg on a twin socket."""
    sizes = [1 + (i * 37) % 700 for i in range(150)]
    with socket.socket(family, socket.SOCK_DGRAM) as rx, \
            socket.socket(family, socket.SOCK_DGRAM) as twin, \
            socket.socket(family, socket.SOCK_DGRAM) as tx:
        for s in (rx, twin):
            s.bind((host, 0))
            s.setblocking(False)
            s.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # keep all 150
        assert fast.recv_replies(rx.fileno(), fast.BATCH) == []  # nothing queued
        before = time.time()
        for i, size in enumerate(sizes):
            payload = bytes([i % 256]) * size
            tx.sendto(payload, rx.getsockname()[:2])
            tx.sendto(payload, twin.getsockname()[:2])
        after = time.time()
        got: list[tuple[bytes, str, float]] = []
        for _ in range(10):
            batch = fast.recv_replies(rx.fileno(), fast.BATCH)
            assert len(batch) <= fast.BATCH
            got.extend(batch)
            if not batch:
                break
        expected = []
        while True:
            try:
                data, anc, _flags, source = twin.recvmsg(2048, socket.CMSG_SPACE(16))
            except BlockingIOError:
                break
            [(_level, _kind, value)] = anc
            sec, nsec = struct.unpack("@qq", value)
            expected.append((data, source[0], sec + nsec * 1e-9))
    assert [(d, s) for d, s, _t in got] == [(d, s) for d, s, _t in expected]
    assert len(got) == 150
    assert all(before - 0.01 <= t <= after + 0.01 for _d, _s, t in got)
    with pytest.raises(OSError) as raised:
        fast.recv_replies(-1, 4)
    assert raised.value.errno == errno.EBADF


async def test_ping_many_answers_the_same_on_both_paths(path: str) -> None:
    need_root()
    hosts = [f"127.33.{i // 250}.{i % 250 + 1}" for i in range(600)] + ["::1"]
    async with PingProbe(count=3, interval_s=0.005, timeout_s=1.0) as probe:
        assert (probe._icmp._fast is None) == (path == "python")
        results = await probe.ping_many(hosts)
    assert all(r.sent == 3 and r.received == 3 for r in results.values()), [
        (h, r) for h, r in results.items() if r.received != 3]


async def test_a_dark_host_and_a_reject_are_counted_the_same_on_both_paths(path: str) -> None:
    """Real kernel errors in a namespace lab: a link down (no answer), an
    address with no neighbour (host unreachable from the kernel), beside a
    host that answers."""
    need_root()
    need_binary("ip", "nft", "ss")
    async with NetnsLab() as lab:
        up = await lab.add_modem()
        dark = await lab.add_modem()
        await lab.set_link(dark.link, up=False)
        nobody = up.link.a_addr.rsplit(".", 1)[0] + ".3"
        async with PingProbe(count=4, interval_s=0.02, timeout_s=0.5) as probe:
            results = await probe.ping_many([up.addr, dark.addr, nobody])
    assert results[up.addr].received == 4
    assert results[dark.addr].received == 0 and results[dark.addr].sent == 4
    assert results[nobody].received == 0 and results[nobody].loss_ratio == 1.0
