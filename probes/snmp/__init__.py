"""SNMP probe: a fast v1/v2c codec (``ber``), per-technology profiles as data
(``profiles``) and the probe itself (``probe``; v3 through pysnmp)."""
