"""Type stub of the compiled decoder (probes/snmp/_ber_fast.pyx)."""

from collections.abc import Iterable

from probes.snmp.ber import OID, Message, Value

def decode_message(data: bytes) -> Message: ...
def absorb(
    items: list[tuple[OID, Value]], prefix: OID, last: OID, got: dict[OID, Value]
) -> tuple[OID, bool]: ...
def convert_column(
    values: dict[OID, Value], kind: int, scale: float, level: bool = False
) -> dict[OID, int | float]: ...
def all_convert(values: dict[OID, Value], rows: Iterable[OID], kind: int, scale: float) -> bool: ...
