"""Coverage-guided fuzz target for the SNMP v1/v2c decoder (atheris / libFuzzer).

Why: ``decode_message`` reads datagrams from any host that can reach the
agent's socket; it must answer every input with a Message or BerError, in
bounded time and memory. The property checked per input:

- ``decode_message`` returns a Message or raises BerError (anything else is a crash);
- whatever decodes re-encodes (or raises BerError for a value out of range),
  and the re-encoding decodes to the same Message;
- the compiled decoder (probes/snmp/_ber_fast.pyx), when built, gives the same
  outcome as the Python one on every input: the same Message, value types
  included, or BerError from both (a crash in C kills the fuzzer, which keeps
  the input). Coverage guides by the Python decoder's branches; the C one's
  mirror them statement for statement.

Run from the repository root (libFuzzer flags pass through)::

    .venv/bin/python fuzz/fuzz_snmp_decode.py -max_total_time=600 -timeout=2 -rss_limit_mb=1024

``-max_len`` defaults to 70000 here so that 64 KiB+ datagrams are tried.

Without a corpus directory argument it seeds a temporary one with valid v1/v2c
messages of every value and PDU type, so mutation starts from real SNMP.
Crashes are written as ``crash-<sha1>`` files; each one becomes a regression
test in tests/test_snmp_fuzz.py with its exact bytes.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports():
    from probes.snmp import ber


def seed_messages() -> list[bytes]:
    """Valid requests and responses carrying every value type, short and long forms."""
    name = (1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 2)
    values: list[ber.Value] = [
        0, -1, 2**31 - 1, -(2**31), b"", b"\x00\xff" * 100, ber.NULL,
        ber.Counter32(2**32 - 1), ber.Gauge32(7), ber.TimeTicks(123456),
        ber.Counter64(2**64 - 1), ber.IpAddress(b"\x0a\x00\x00\x01"), ber.Opaque(b"\x9f\x78\x04"),
        ber.ObjectId((1, 3, 6, 1, 4, 1, 4491, 2**32 - 1, 2**40)),
        ber.NO_SUCH_OBJECT, ber.NO_SUCH_INSTANCE, ber.END_OF_MIB_VIEW,
    ]  # fmt: skip
    out = []
    for version in (0, 1):
        for tag in (ber.GET, ber.GETNEXT, ber.GETBULK, ber.RESPONSE, ber.SET):
            for i, value in enumerate(values):
                if version == 0 and (tag == ber.GETBULK or isinstance(value, ber.Counter64)):
                    continue
                pdu = ber.Pdu(tag, 1000 + i, 0, 0, [(name, value), ((*name, i), value)])
                out.append(ber.encode_message(ber.Message(version, b"public", pdu)))
    return out


def _outcome(decode: Callable[[bytes], ber.Message], data: bytes) -> object:
    try:
        msg = decode(data)
    except ber.BerError:
        return "BerError"
    return msg, [(type(oid), type(value)) for oid, value in msg.pdu.varbinds]


def test_one_input(data: bytes) -> None:
    if ber.fast_decode_message is not None:
        fast = _outcome(ber.fast_decode_message, data)
        if fast != _outcome(ber.py_decode_message, data):
            raise AssertionError(f"compiled and Python decoders differ: {data!r}")
    try:
        msg = ber.py_decode_message(data)
    except ber.BerError:
        return
    try:
        again = ber.encode_message(msg)
    except ber.BerError:
        return  # decodable but not encodable (e.g. an INTEGER beyond 32 bits)
    if ber.py_decode_message(again) != msg:
        raise AssertionError(f"re-encoding changed the message: {data!r}")


def main() -> None:
    args = list(sys.argv)
    if not any(a.startswith("-max_len=") for a in args):
        args.insert(1, "-max_len=70000")  # reach 64 KiB+ datagrams (default is ~4 KiB)
    if not any(not a.startswith("-") for a in args[1:]):
        corpus = Path(tempfile.mkdtemp(prefix="snmp-fuzz-corpus-"))
        for i, seed in enumerate(seed_messages()):
            (corpus / f"seed-{i:03d}").write_bytes(seed)
        args.append(str(corpus))
        print(f"seed corpus: {corpus}", file=sys.stderr)
    print(f"compiled decoder: {'checked against Python' if ber.COMPILED else 'not built'}",
          file=sys.stderr)
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
