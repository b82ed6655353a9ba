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


def test_fleet_template_encoded_answers_equal_the_general_way() -> None:
    """The fleet answers a known request shape from a plan (lab/fleet/answers.py) without
    decoding it; those bytes must be what the general way (decode, respond, encode) gives
    for the same request, request-id and clock, on every template and request kind."""
    import ipaddress

    from lab.fleet import Fleet
    from lab.fleet.layout import DOCSIS_WIDE
    from lab.fleet.responder import respond

    rng = random.Random(9)
    fleet = Fleet(modems=60, nodes=6, seed=5, port=0, base_address="127.24.1.0",
                  docsis_channels=DOCSIS_WIDE, clock=lambda: 1_700_000_000.0)
    by_template: dict[str, int] = {}
    for i in range(60):
        by_template.setdefault(fleet.layout.spec(i).template_key, i)
    assert len(by_template) == 4  # docsis32x8, dsl, gpon, ethernet
    for key, index in by_template.items():
        tpl = fleet.templates[key]
        dest = int(ipaddress.IPv4Address(fleet.layout.address(index)))
        for case in range(60):
            tag = rng.choice([GET, GETNEXT, GETBULK])
            oids = [rng.choice(tpl.oids) for _ in range(rng.randrange(1, 12))]
            if rng.random() < 0.3:  # past the end, between objects, unknown instances
                oids.append(rng.choice([(1, 3, 6, 1, 9), (1, 3, 6, 1, 2, 1, 2, 2, 1, 3, 999),
                                        (1, 3, 6, 1, 2, 1, 1, 3)]))
            non_rep, max_rep = rng.randrange(0, len(oids) + 1), rng.choice([1, 5, 25, 80])
            version = 0 if tag != GETBULK and rng.random() < 0.2 else 1
            req = RequestTemplate(version, b"public", tag, oids, non_rep, max_rep)
            for rid in (rng.randrange(1, RID_MAX), rng.randrange(1, 0x80), 0x8000 + case):
                data = req.build(rid)
                want = encode_message(respond(decode_message(data), tpl, fleet.view(index)))
                assert fleet.handle_datagram(data, dest) == want, (key, case, rid)
                hits = fleet.plans.hits  # the first may already hit (same shape, id length)
                assert fleet.handle_datagram(data, dest) == want, (key, case, rid)
                assert fleet.plans.hits == hits + (version == 1)  # v1: the general way
    assert fleet.stats.internal_errors == 0
