"""SNMPv3 requests through pysnmp (USM auth/priv is not worth re-implementing).

One shared ``SnmpEngine``; each request is a pysnmp coroutine. Values are
converted to the fast codec's types (re-encoded with pyasn1, decoded with
``ber``) so the walk and reading code is the same for v1/v2c and v3.
"""

from __future__ import annotations

from typing import Any

from pyasn1.codec.ber import encoder as pyasn1_encoder
from pysnmp.hlapi.v3arch import asyncio as hl

from probes.snmp import ber
from probes.snmp.ber import OID, Value
from probes.snmp.credentials import SnmpCredentials
from probes.snmp.transport import SnmpRequestError

_AUTH = {
    None: hl.usmNoAuthProtocol,
    "SHA": hl.usmHMACSHAAuthProtocol,
    "SHA256": hl.usmHMAC192SHA256AuthProtocol,
    "MD5": hl.usmHMACMD5AuthProtocol,
}
_PRIV = {
    None: hl.usmNoPrivProtocol,
    "AES": hl.usmAesCfb128Protocol,
    "AES256": hl.usmAesCfb256Protocol,
    "DES": hl.usmDESPrivProtocol,
}
# pysnmp errorIndication class names -> ProbeError kinds.
_INDICATION_KINDS = {
    "RequestTimedOut": "timeout",
    "UnknownUserName": "auth",
    "WrongDigest": "auth",
    "UnsupportedSecurityLevel": "auth",
    "AuthenticationError": "auth",
    "AuthenticationFailure": "auth",
    "DecryptionError": "auth",
    "NotInTimeWindow": "auth",
    "UnknownEngineID": "auth",
    "UnknownSecurityName": "auth",
    "SerializationError": "decode",
    "DeserializationError": "decode",
    "ParseError": "decode",
}


def to_value(obj: Any) -> Value:
    """A pysnmp value -> the codec's type, via its BER encoding."""
    try:
        data = pyasn1_encoder.encode(obj)
        tag, start, stop = ber._header(data, 0, len(data))
        return ber._decode_value(tag, data[start:stop])
    except Exception:  # an odd value becomes "missing", never a crash
        return ber.NO_SUCH_OBJECT


class V3Client:
    """v3 GET / GETBULK to one target through the shared engine."""

    def __init__(self, engine: hl.SnmpEngine, creds: SnmpCredentials) -> None:
        self.engine = engine
        self.user = hl.UsmUserData(
            creds.user or "",
            authKey=creds.auth_key,
            privKey=creds.priv_key,
            authProtocol=_AUTH[creds.auth_protocol],
            privProtocol=_PRIV[creds.priv_protocol],
        )

    async def target(
        self, host: str, port: int, timeout_s: float, retries: int, *, ipv6: bool = False
    ) -> Any:
        """pysnmp's transport target; ``host`` is an address the caller resolved."""
        kind = hl.Udp6TransportTarget if ipv6 else hl.UdpTransportTarget
        try:
            return await kind.create((host, port), timeout=timeout_s, retries=retries)
        except Exception as exc:
            raise SnmpRequestError("unreachable", f"cannot resolve host: {exc}") from None

    @staticmethod
    def _check(indication: Any, status: Any) -> None:
        if indication:
            name = type(indication).__name__
            raise SnmpRequestError(_INDICATION_KINDS.get(name, "decode"), str(indication))
        if status and int(status) not in (0, 2):  # 2 = noSuchName: treated as missing
            raise SnmpRequestError("decode", f"error-status {int(status)}")

    async def get(self, transport: Any, oids: list[OID]) -> list[tuple[OID, Value]]:
        ind, status, _idx, vbs = await hl.get_cmd(
            self.engine,
            self.user,
            transport,
            hl.ContextData(),
            *(hl.ObjectType(hl.ObjectIdentity(o)) for o in oids),
        )
        self._check(ind, status)
        return [(tuple(oid), to_value(val)) for oid, val in vbs]

    async def bulk(self, transport: Any, oids: list[OID], max_rep: int) -> list[tuple[OID, Value]]:
        ind, status, _idx, vbs = await hl.bulk_cmd(
            self.engine,
            self.user,
            transport,
            hl.ContextData(),
            0,
            max_rep,
            *(hl.ObjectType(hl.ObjectIdentity(o)) for o in oids),
        )
        self._check(ind, status)
        return [(tuple(oid), to_value(val)) for oid, val in vbs]
