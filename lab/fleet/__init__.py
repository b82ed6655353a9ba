"""Simulated modem fleet: real SNMP v1/v2c on loopback addresses, with fault injection.

``Fleet`` is the Python API; ``lab.fleet.control`` serves it over HTTP/JSON.
"""

from lab.fleet.faults import FAULT_KINDS, Fault, FaultError
from lab.fleet.fleet import Fleet, FleetStats

__all__ = ["FAULT_KINDS", "Fault", "FaultError", "Fleet", "FleetStats"]
