"""Type stub of the compiled decoder (probes/snmp/_ber_fast.pyx)."""

from probes.snmp.ber import Message

def decode_message(data: bytes) -> Message: ...
