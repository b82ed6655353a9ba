"""Key readings of one probe record, as a ``HistoryPoint`` for charts and trends.

The metric names below are a contract with the web console (and anything
reading ``GET /v1/accounts/{account}/history``); add names, never rename.
A point carries only the metrics the record actually had.

- ``reachable`` (1/0): 1 when SNMP answered or any ping came back; 0 when SNMP
  timed out / was refused / unreachable, or every ping was lost.
- ``ds_power_dbmv_min``, ``ds_power_dbmv_max`` (dBmV): DOCSIS downstream power over channels.
- ``ds_snr_db_min`` (dB): DOCSIS downstream SNR of the worst channel.
- ``us_tx_power_dbmv_max`` (dBmV): DOCSIS upstream TX power, highest channel.
- ``uncorrectable`` (count): DOCSIS uncorrectable codewords, raw counter total
  over channels (chart its rate; it resets with the modem).
- ``dsl_snr_margin_down_db``, ``dsl_attenuation_down_db`` (dB): DSL downstream.
- ``dsl_sync_down_kbps``, ``dsl_sync_up_kbps`` (kbit/s): DSL sync rates.
- ``gpon_rx_power_dbm``, ``gpon_tx_power_dbm`` (dBm): ONT optical levels.
- ``ping_loss_ratio`` (0..1), ``ping_rtt_avg_ms`` (ms): ping to the modem.
- ``throughput_down_mbps``, ``throughput_up_mbps`` (Mbit/s): iperf3 test to the modem.

Records with nothing chartable (a path check, an SNMP auth failure, a failed
throughput test) give ``None``.
"""

from __future__ import annotations

from collector.store.base import HistoryPoint
from probes.model import (
    DocsisLine,
    DslLine,
    GponLine,
    PingResult,
    ProbeError,
    ProbeRecord,
    SnmpReading,
    ThroughputResult,
)

METRICS: tuple[str, ...] = (
    "reachable",
    "ds_power_dbmv_min",
    "ds_power_dbmv_max",
    "ds_snr_db_min",
    "us_tx_power_dbmv_max",
    "uncorrectable",
    "dsl_snr_margin_down_db",
    "dsl_attenuation_down_db",
    "dsl_sync_down_kbps",
    "dsl_sync_up_kbps",
    "gpon_rx_power_dbm",
    "gpon_tx_power_dbm",
    "ping_loss_ratio",
    "ping_rtt_avg_ms",
    "throughput_down_mbps",
    "throughput_up_mbps",
)

# SNMP errors that mean the modem did not answer (the others are our own config/auth).
_NO_ANSWER = frozenset({"timeout", "refused", "unreachable"})


def _put(metrics: dict[str, float], name: str, value: float | None) -> None:
    if value is not None:
        metrics[name] = float(value)


def _line_metrics(line: DocsisLine | DslLine | GponLine | None, m: dict[str, float]) -> None:
    if isinstance(line, DocsisLine):
        # One pass over the channels (this runs for every reading ingested).
        p_min = p_max = snr_min = None
        unc = 0
        any_unc = False
        for c in line.downstream:
            p = c.power_dbmv
            if p is not None:
                if p_min is None or p < p_min:
                    p_min = p
                if p_max is None or p > p_max:
                    p_max = p
            s = c.snr_db
            if s is not None and (snr_min is None or s < snr_min):
                snr_min = s
            u = c.uncorrectable
            if u is not None:
                unc += u
                any_unc = True
        if p_min is not None and p_max is not None:
            m["ds_power_dbmv_min"] = p_min
            m["ds_power_dbmv_max"] = p_max
        if snr_min is not None:
            m["ds_snr_db_min"] = snr_min
        tx_max = None
        for c in line.upstream:
            t = c.tx_power_dbmv
            if t is not None and (tx_max is None or t > tx_max):
                tx_max = t
        if tx_max is not None:
            m["us_tx_power_dbmv_max"] = tx_max
        if any_unc:
            m["uncorrectable"] = float(unc)
    elif isinstance(line, DslLine):
        _put(m, "dsl_snr_margin_down_db", line.snr_margin_down_db)
        _put(m, "dsl_attenuation_down_db", line.attenuation_down_db)
        _put(m, "dsl_sync_down_kbps", line.sync_down_kbps)
        _put(m, "dsl_sync_up_kbps", line.sync_up_kbps)
    elif isinstance(line, GponLine):
        _put(m, "gpon_rx_power_dbm", line.rx_power_dbm)
        _put(m, "gpon_tx_power_dbm", line.tx_power_dbm)


def history_point(record: ProbeRecord) -> HistoryPoint | None:
    """The chartable readings of one record, or None when it has none."""
    res = record.result
    m: dict[str, float] = {}
    if isinstance(res, SnmpReading):
        m["reachable"] = 1.0
        _line_metrics(res.line, m)
    elif isinstance(res, PingResult):
        if res.sent:
            m["reachable"] = 1.0 if res.received else 0.0
            m["ping_loss_ratio"] = res.loss_ratio
        _put(m, "ping_rtt_avg_ms", res.rtt_avg_ms)
    elif isinstance(res, ThroughputResult):
        _put(m, "throughput_down_mbps", res.down_mbps)
        _put(m, "throughput_up_mbps", res.up_mbps)
    elif isinstance(res, ProbeError) and record.probe == "snmp" and res.kind in _NO_ANSWER:
        m["reachable"] = 0.0
    if not m:
        return None
    return HistoryPoint(account=record.account, at=record.started_at, metrics=m)
