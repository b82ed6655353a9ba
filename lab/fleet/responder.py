"""SNMP v1/v2c request handling for one simulated modem: GET, GETNEXT, GETBULK.

Ordering is the template's sorted OID list (tuple order is SNMP's lexicographic
order). v2c reports noSuchObject / noSuchInstance / endOfMibView in the
varbind (RFC 3416 section 4.2); v1 answers noSuchName with the index of the
first failing varbind (RFC 1157) and, like RFC 3584 section 4.2.2 says,
never returns a Counter64 (GET -> noSuchName, GETNEXT skips it).
"""

from __future__ import annotations

from lab.fleet.mib import Template
from lab.fleet.values import ModemView
from probes.snmp.ber import (
    END_OF_MIB_VIEW,
    GET,
    GETBULK,
    GETNEXT,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    OID,
    RESPONSE,
    Counter64,
    Message,
    Pdu,
    Value,
)

NO_SUCH_NAME = 2  # v1 error-status
GEN_ERR = 5
# Bound a GETBULK answer (repetitions x repeaters) so it always fits a datagram.
MAX_VARBINDS = 1024


class Unsupported(Exception):
    """A PDU the simulator does not answer (SET, traps, GETBULK over v1)."""


def respond(msg: Message, tpl: Template, view: ModemView) -> Message:
    pdu = msg.pdu
    v1 = msg.version == 0
    if pdu.tag == GET:
        varbinds, err, err_index = _get(pdu.varbinds, tpl, view, v1)
    elif pdu.tag == GETNEXT:
        varbinds, err, err_index = _getnext(pdu.varbinds, tpl, view, v1)
    elif pdu.tag == GETBULK and not v1:
        varbinds, err, err_index = _getbulk(pdu, tpl, view), 0, 0
    else:
        raise Unsupported(f"PDU tag 0x{pdu.tag:02x} (v{msg.version + 1})")
    if err:
        varbinds = pdu.varbinds  # v1 error: the request's varbinds come back unchanged
    answer = Pdu(RESPONSE, pdu.request_id, err, err_index, varbinds)
    return Message(msg.version, msg.community, answer)


def _get(
    request: list[tuple[OID, Value]], tpl: Template, view: ModemView, v1: bool
) -> tuple[list[tuple[OID, Value]], int, int]:
    out: list[tuple[OID, Value]] = []
    for n, (oid, _) in enumerate(request, 1):
        pos = tpl.index.get(oid)
        if pos is not None:
            value = tpl.getters[pos](view)
            if not (v1 and type(value) is Counter64):
                out.append((oid, value))
                continue
        if v1:
            return out, NO_SUCH_NAME, n
        out.append((oid, NO_SUCH_INSTANCE if tpl.is_object(oid) else NO_SUCH_OBJECT))
    return out, 0, 0


def _next(oid: OID, tpl: Template, view: ModemView, v1: bool) -> tuple[OID, Value] | None:
    pos = tpl.next_position(oid)
    oids, getters = tpl.oids, tpl.getters
    while pos < len(oids):
        value = getters[pos](view)
        if not (v1 and type(value) is Counter64):
            return oids[pos], value
        pos += 1
    return None


def _getnext(
    request: list[tuple[OID, Value]], tpl: Template, view: ModemView, v1: bool
) -> tuple[list[tuple[OID, Value]], int, int]:
    out: list[tuple[OID, Value]] = []
    for n, (oid, _) in enumerate(request, 1):
        found = _next(oid, tpl, view, v1)
        if found is None:
            if v1:
                return out, NO_SUCH_NAME, n
            out.append((oid, END_OF_MIB_VIEW))
        else:
            out.append(found)
    return out, 0, 0


def _getbulk(pdu: Pdu, tpl: Template, view: ModemView) -> list[tuple[OID, Value]]:
    """Repeaters advance by template position (one bisect per column, not per row)."""
    request = pdu.varbinds
    non_repeaters = min(max(pdu.error_status, 0), len(request))
    repeaters = [oid for oid, _ in request[non_repeaters:]]
    out, _, _ = _getnext(request[:non_repeaters], tpl, view, False)
    if not repeaters:
        return out
    reps = min(max(pdu.error_index, 0), max((MAX_VARBINDS - len(out)) // len(repeaters), 1))
    oids, getters = tpl.oids, tpl.getters
    end = len(oids)
    positions = [tpl.next_position(oid) for oid in repeaters]
    last = list(repeaters)
    append = out.append
    for _ in range(reps):
        done = True
        for i, pos in enumerate(positions):
            if pos < end:
                oid = oids[pos]
                append((oid, getters[pos](view)))
                last[i] = oid
                positions[i] = pos + 1
                done = False
            else:
                append((last[i], END_OF_MIB_VIEW))
        if done:  # every repeater is past the end: further rows would repeat this one
            break
    return out
