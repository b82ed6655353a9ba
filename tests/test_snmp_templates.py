"""Pre-encoded request templates (probes/snmp/templates.py) against ber.encode_message:
the datagram must be the same bytes for any request-id, shape and community."""

from __future__ import annotations

import random

import pytest

from probes.snmp.ber import (
    GET,
    GETBULK,
    GETNEXT,
    NULL,
    BerError,
    Message,
    Pdu,
    decode_message,
    encode_message,
)
from probes.snmp.templates import RID_MAX, RequestTemplate, TemplateCache


def _random_oid(rng: random.Random) -> tuple[int, ...]:
    tail = [rng.choice([0, 1, 127, 128, 255, 16383, 16384, 2**31 - 1, rng.randrange(2**32)])
            for _ in range(rng.randrange(0, 14))]
    return (1, 3, 6, 1, *tail)


def test_template_equals_encode_message_for_random_request_ids() -> None:
    rng = random.Random(8)
    for case in range(300):
        tag = rng.choice([GET, GETNEXT, GETBULK])
        version = 0 if tag != GETBULK and rng.random() < 0.3 else 1
        community = bytes(rng.randrange(256) for _ in range(rng.choice([0, 6, 130])))
        oids = [_random_oid(rng) for _ in range(rng.choice([1, 8, 40, 60]))]
        non_rep, max_rep = rng.randrange(0, len(oids) + 1), rng.choice([0, 1, 25, 300])
        tpl = RequestTemplate(version, community, tag, oids, non_rep, max_rep)
        es, ei = (non_rep, max_rep) if tag == GETBULK else (0, 0)
        ids = [1, 0x7F, 0x80, 0x7FFF, 0x8000, 0x7FFFFF, 0x800000, RID_MAX]
        ids += [rng.randrange(1, RID_MAX + 1) for _ in range(20)]
        for rid in ids:
            want = encode_message(
                Message(version, community, Pdu(tag, rid, es, ei, [(o, NULL) for o in oids])))
            assert tpl.build(rid) == want, (case, rid)
        assert decode_message(tpl.build(ids[-1])).pdu.request_id == ids[-1]


@pytest.mark.parametrize("rid", [0, -1, RID_MAX + 1])
def test_out_of_range_request_ids_are_refused(rid: int) -> None:
    with pytest.raises(BerError):
        RequestTemplate(1, b"public", GET, [(1, 3, 6, 1, 2, 1, 1, 3, 0)]).build(rid)


def test_cache_reuses_one_template_per_shape_and_stays_bounded() -> None:
    cache = TemplateCache()
    oids = ((1, 3, 6, 1, 2, 1, 1, 3, 0),)
    a = cache.get(1, b"public", GETBULK, oids, 0, 25)
    assert cache.get(1, b"public", GETBULK, oids, 0, 25) is a
    assert cache.get(1, b"public", GETBULK, oids, 0, 26) is not a
    assert cache.get(1, b"other", GETBULK, oids, 0, 25) is not a
    assert cache.get(1, b"public", GET, oids, 3, 9) is cache.get(1, b"public", GET, oids)
    assert cache.misses == 4
    for i in range(cache.LIMIT + 5):
        cache.get(1, b"public", GET, ((1, 3, 6, 1, i),))
    assert len(cache._by_key) <= cache.LIMIT


async def test_templated_polls_read_a_32x8_fleet_modem_whole() -> None:
    """The probe's template-built requests on the real path: a wide (32x8) fleet modem
    reads completely; once the shape cache has settled (second poll), a poll sends
    only from cached templates."""
    from lab.fleet import Fleet
    from lab.fleet.layout import DOCSIS_WIDE
    from probes.model import DocsisLine, SnmpReading
    from probes.snmp.probe import SnmpCredentials, SnmpProbe

    async with Fleet(modems=4, nodes=1, port=0, base_address="127.24.0.0",
                     docsis_channels=DOCSIS_WIDE) as fleet:
        target = fleet.layout.target(0)
        async with SnmpProbe({"default": SnmpCredentials(community="public")}) as probe:
            first = await probe.run(target)
            second = await probe.run(target)
            misses = probe.transport.templates.misses
            third = await probe.run(target)
            assert probe.transport.templates.misses == misses  # all sends from templates
    for reading in (first, second, third):
        assert isinstance(reading, SnmpReading) and isinstance(reading.line, DocsisLine)
        assert len(reading.line.downstream) == 32 and len(reading.line.upstream) == 8
        assert len({ch.frequency_hz for ch in reading.line.upstream}) == 8
        assert all(ch.snr_db is not None for ch in reading.line.downstream)
