"""A small SNMP v1/v2c responder serving one ``.snmprec`` file, fast enough that a
benchmark measures the poller, not the responder (snmpsim takes ~1 ms an answer).

GET, GETNEXT, GETBULK over a sorted list (bisect); at most ``--max-varbinds``
varbinds an answer (as a device caps its answers); wrong community: no answer.
Value tags as snmpsim writes them: 2 Integer, 4 / 4x OctetString (text / hex),
6 OID, 64 IpAddress, 65 Counter32, 66 Gauge32, 67 TimeTicks, 70 Counter64.

    python tests/table_responder.py FILE --host 127.5.31.1 [--port 0] [--community public]

prints ``ready PORT`` once answering; runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import signal
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from probes.snmp import ber  # noqa: E402 - run as a script from tests/
from probes.snmp.ber import OID, Value  # noqa: E402

_TAGS = {
    "2": lambda v: int(v),
    "4": lambda v: v.encode(),
    "4x": lambda v: bytes.fromhex(v),
    "6": lambda v: ber.ObjectId(ber.parse_oid(v)),
    "64": lambda v: ber.IpAddress(bytes(int(x) for x in v.split("."))),
    "65": lambda v: ber.Counter32(int(v)),
    "66": lambda v: ber.Gauge32(int(v)),
    "67": lambda v: ber.TimeTicks(int(v)),
    "70": lambda v: ber.Counter64(int(v)),
}


def load(path: Path) -> tuple[list[OID], list[Value]]:
    rows: list[tuple[OID, Value]] = []
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split("|", 2)
        if len(parts) == 3 and parts[1] in _TAGS:
            rows.append((ber.parse_oid(parts[0]), _TAGS[parts[1]](parts[2])))
    rows.sort()
    return [o for o, _ in rows], [v for _, v in rows]


class Responder(asyncio.DatagramProtocol):
    def __init__(self, oids: list[OID], values: list[Value], community: bytes, cap: int) -> None:
        self.oids, self.values, self.community, self.cap = oids, values, community, cap
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def _next(self, oid: OID) -> tuple[OID, Value]:
        i = bisect.bisect_right(self.oids, oid)
        if i < len(self.oids):
            return self.oids[i], self.values[i]
        return oid, ber.END_OF_MIB_VIEW

    def _get(self, oid: OID) -> Value:
        i = bisect.bisect_left(self.oids, oid)
        if i < len(self.oids) and self.oids[i] == oid:
            return self.values[i]
        return ber.NO_SUCH_INSTANCE

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            msg = ber.decode_message(data)
        except ber.BerError:
            return
        pdu = msg.pdu
        if msg.community != self.community or self.transport is None:
            return
        names = [o for o, _ in pdu.varbinds]
        out: list[tuple[OID, Value]] = []
        if pdu.tag == ber.GET:
            out = [(o, self._get(o)) for o in names]
        elif pdu.tag == ber.GETNEXT:
            out = [self._next(o) for o in names]
        elif pdu.tag == ber.GETBULK:
            k = max(0, min(pdu.error_status, len(names)))  # non-repeaters
            out = [self._next(o) for o in names[:k]]
            cursors = names[k:]
            reps = max(0, pdu.error_index)
            for _ in range(reps):
                if not cursors or len(out) + len(cursors) > self.cap:
                    break
                row = [self._next(o) for o in cursors]
                out.extend(row)
                cursors = [o for o, _ in row]
        else:
            return
        reply = ber.Message(msg.version, msg.community,
                            ber.Pdu(ber.RESPONSE, pdu.request_id, 0, 0, out[: max(self.cap, 1)]))
        self.transport.sendto(ber.encode_message(reply), addr)


async def serve(args: argparse.Namespace) -> int:
    oids, values = load(Path(args.file))
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: Responder(oids, values, args.community.encode(), args.max_varbinds),
        local_addr=(args.host, args.port),
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"ready {transport.get_extra_info('sockname')[1]}", flush=True)
    await stop.wait()
    transport.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--community", default="public")
    parser.add_argument("--max-varbinds", type=int, default=64)
    return asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
