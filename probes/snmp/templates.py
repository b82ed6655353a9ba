"""Pre-encoded v1/v2c request datagrams: only the request-id is patched per send.

Why: a poller asks the same few requests of thousands of modems (the profile's
scalars, a table group's columns), so the BER encoding is done once per
request shape and each send costs one ``int.to_bytes`` and a join. The bytes
are exactly what ``ber.encode_message`` gives for that request-id (minimal
INTEGER encoding, so the prefix is kept per request-id length, 1-4 octets),
tested byte for byte in tests/test_snmp_templates.py.
"""

from __future__ import annotations

from probes.snmp.ber import (
    GETBULK,
    NULL,
    OID,
    BerError,
    Message,
    Pdu,
    encode_message,
)

__all__ = ["RequestTemplate", "TemplateCache", "request_id_span"]

RID_MAX = 0x7FFFFFFF
# One request-id per encoded length: 1 octet up to 0x7F, 2 up to 0x7FFF, ...
_PROBE_IDS = (1, 0x80, 0x8000, 0x800000)


def request_id_span(wire: bytes) -> tuple[int, int]:
    """(start, end) of the request-id content in a v1/v2c message. Raises BerError
    (a ValueError) or IndexError on what is not one."""
    pos = 0
    for step in range(4):  # message SEQUENCE, version, community, PDU header
        length = wire[pos + 1]
        head = 2 + (length & 0x7F if length & 0x80 else 0)
        if length & 0x80:
            length = int.from_bytes(wire[pos + 2 : pos + head], "big")
        pos = pos + head if step in (0, 3) else pos + head + length
    if wire[pos] != 0x02:
        raise BerError("request-id is not where a PDU keeps it")
    return pos + 2, pos + 2 + wire[pos + 1]


class RequestTemplate:
    """One request shape (version, community, PDU tag, OIDs, GETBULK counts)."""

    __slots__ = ("_prefix", "_suffix")

    def __init__(
        self,
        version: int,
        community: bytes,
        tag: int,
        oids: list[OID] | tuple[OID, ...],
        non_repeaters: int = 0,
        max_repetitions: int = 0,
    ) -> None:
        es, ei = (non_repeaters, max_repetitions) if tag == GETBULK else (0, 0)
        varbinds = [(o, NULL) for o in oids]
        self._prefix: list[bytes] = [b""]
        suffix = b""
        for rid in _PROBE_IDS:
            wire = encode_message(Message(version, community, Pdu(tag, rid, es, ei, varbinds)))
            start, end = request_id_span(wire)
            self._prefix.append(wire[:start])
            suffix = wire[end:]
        self._suffix = suffix

    def build(self, request_id: int) -> bytes:
        """The datagram for ``request_id`` (1..2**31-1)."""
        if not 0 < request_id <= RID_MAX:
            raise BerError(f"request-id {request_id} out of 1..{RID_MAX}")
        n = (request_id.bit_length() >> 3) + 1
        return b"".join((self._prefix[n], request_id.to_bytes(n, "big"), self._suffix))


class TemplateCache:
    """Templates by request shape, bounded (cleared when full, like ber's OID caches)."""

    LIMIT = 8192

    def __init__(self) -> None:
        self._by_key: dict[tuple[object, ...], RequestTemplate] = {}
        self.misses = 0

    def get(
        self,
        version: int,
        community: bytes,
        tag: int,
        oids: tuple[OID, ...],
        non_repeaters: int = 0,
        max_repetitions: int = 0,
    ) -> RequestTemplate:
        if tag != GETBULK:
            non_repeaters = max_repetitions = 0
        key = (version, community, tag, non_repeaters, max_repetitions, oids)
        tpl = self._by_key.get(key)
        if tpl is None:
            self.misses += 1
            tpl = RequestTemplate(version, community, tag, oids, non_repeaters, max_repetitions)
            if len(self._by_key) >= self.LIMIT:
                self._by_key.clear()
            self._by_key[key] = tpl
        return tpl
