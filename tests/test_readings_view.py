"""The latest readings beside their thresholds (collector/readings_view.py) and
evidence read as words (collector/i18n/words.py), in en, sv and pl."""

from __future__ import annotations

import time

from collector_harness import docsis_ok, ping_ok

from collector.i18n import translations
from collector.i18n.words import evidence_text, threshold_text
from collector.readings_view import build_readings, reading_lines
from collector.verdicts import Thresholds
from probes.model import (
    DocsisLine,
    DownstreamChannel,
    DslLine,
    DslPort,
    GponLine,
    ProbeRecord,
    SnmpReading,
    Target,
    ThroughputResult,
    UpstreamChannel,
)

TH = Thresholds.default()


def _target(technology: str = "docsis") -> Target:
    return Target(account="A1", host="127.0.0.1", technology=technology, node="N-1",  # type: ignore[arg-type]
                  plan_down_mbps=250, plan_up_mbps=25)


def _snmp(line: DocsisLine | DslLine | GponLine) -> ProbeRecord:
    return ProbeRecord(account="A1", probe="snmp", started_at=time.time(), duration_s=0.1,
                       result=SnmpReading(line=line))


def test_wide_docsis_shows_the_worst_channel_and_folds_the_rest() -> None:
    channels = [DownstreamChannel(index=i, power_dbmv=1.0, snr_db=38.0 - (i == 7) * 13.0,
                                  unerrored=10_000, corrected=10, uncorrectable=0)
                for i in range(1, 33)]
    line = DocsisLine(downstream=channels,
                      upstream=[UpstreamChannel(index=i, tx_power_dbmv=44.0 + i)
                                for i in range(1, 5)],
                      t3_timeouts=2, t4_timeouts=0)
    readings = build_readings(_target(), {"snmp": _snmp(line)}, TH)
    snr7 = next(r for r in readings.rows if r.name == "ds_snr_db" and r.channel == 7)
    assert snr7.value == 25.0 and snr7.min == 30.0 and snr7.in_spec is False
    tx = [r for r in readings.rows if r.name == "us_tx_power_dbmv"]
    assert {r.max for r in tx} == {52.2}, "4 bonded channels: the 4+ ceiling"
    lines = reading_lines(readings, translations("en"))
    assert lines[0].label == "downstream ch 7" and lines[0].state == "out"
    assert lines[0].value == "1.0 dBmV, SNR 25.0 dB"
    assert "SNR below 30 dB" in lines[0].limits and "within -15..15 dBmV" in lines[0].limits
    assert lines[1].value == "+ 31 more channels within spec" and lines[1].folded
    labels = [line.label for line in lines]
    assert "upstream ch 4 TX" in labels  # the closest to its ceiling
    assert any(line.value == "+ 3 more channels within spec" for line in lines)
    t3 = next(line for line in lines if line.label == "T3 timeouts")
    assert t3.value == "2" and "between polls" in t3.limits and t3.state == ""
    pl = reading_lines(readings, translations("pl"))
    assert pl[1].value != lines[1].value and "31" in pl[1].value


def test_healthy_docsis_with_ping_and_throughput() -> None:
    tp = ProbeRecord(account="A1", probe="throughput", started_at=time.time(), duration_s=10,
                     result=ThroughputResult(down_mbps=240.0, up_mbps=12.0))
    readings = build_readings(_target(), {"snmp": docsis_ok("A1"), "ping": ping_ok("A1"),
                                          "throughput": tp}, TH)
    assert readings.line_at and readings.ping_at and readings.throughput_at
    lines = {line.label: line for line in reading_lines(readings, translations("en"))}
    assert lines["ping loss"].value == "0 %" and lines["ping loss"].state == "ok"
    assert lines["average ping time"].value == "8 ms"
    down = lines["throughput down"]
    assert down.value == "240 Mbit/s" and down.state == "ok"
    assert "at least 200 Mbit/s" in down.limits and "96% of plan 250 Mbit/s" in down.limits
    assert lines["throughput up"].state == "out"


def test_dsl_sync_against_attainable_and_gpon_optics() -> None:
    port = DslPort(port="1/1/1", if_index=1, attainable_down_kbps=20000)
    line = DslLine(snr_margin_down_db=5.5, attenuation_down_db=42.0, sync_down_kbps=16000)
    readings = build_readings(_target("dsl"), {"snmp": _snmp(line)}, TH, port)
    lines = {x.label: x for x in reading_lines(readings, translations("en"))}
    assert lines["DSL SNR margin down"].state == "out"
    assert lines["DSL SNR margin down"].limits == "at or below 6 dB"
    assert lines["DSL sync rate down"].limits == "80% of attainable 20000 kbit/s"
    optics = build_readings(_target("gpon"), {"snmp": _snmp(GponLine(rx_power_dbm=-29.5,
                                                                      tx_power_dbm=2.0))}, TH)
    lines = {x.label: x for x in reading_lines(optics, translations("en"))}
    assert lines["optical receive power"].limits == "outside -28..-8 dBm"
    assert lines["optical transmit power"].state == "ok"


def test_evidence_reads_as_words() -> None:
    en = translations("en").gettext
    assert evidence_text("ds_snr_db", 25.0, ">= 30", "dB", "downstream channel 3", en) == (
        "downstream SNR 25.0 dB, below 30 dB (downstream channel 3)")
    assert evidence_text("line_in_spec", True, None, None, None, en) == "line in spec yes"
    assert threshold_text(0.2, "<= 0.05", "ratio", en) == "above 5 %"
    assert evidence_text("no_such_fact", "x", "weird", None, None, en) == "no such fact x, weird"
    sv = translations("sv").gettext
    said = evidence_text("ds_snr_db", 25.0, ">= 30", "dB", None, sv)
    assert said.startswith("nedströms SNR 25.0 dB") and "30 dB" in said
    pl = translations("pl").gettext
    assert evidence_text("ping_loss_ratio", 1.0, "<= 0.05", "ratio", "0 of 5 replies", pl) == (
        "utrata pingów 100 %, powyżej 5 % (0 z 5 odpowiedzi)")
    assert evidence_text("ds_snr_db", 25.0, None, "dB", "an engine's own words", pl).endswith(
        "(an engine's own words)"), "an unknown detail is kept as written"
    from collector.i18n.words import detail_text

    trend = "downstream SNR 37 -> 31 -> 25 dB over 15 min, then no answer"
    assert detail_text(trend, sv) == (
        "nedströms SNR 37 -> 31 -> 25 dB under 15 min, sedan inget svar")
    assert detail_text(trend, translations("en").gettext) == trend
    odd = "5 new widgets over 3 min, then no answer"
    assert detail_text(odd, pl) == odd


def test_actions_are_said_again_in_the_readers_language() -> None:
    from collector.i18n.words import action_text
    from collector.model import Evidence
    from collector.verdicts.judge import facts_text
    from collector.verdicts.messages import ACTIONS, action_for, format_time

    since = 1_789_999_980.0  # a whole minute: the action says minutes
    outage = action_for("outage", {"node": "N-2", "since": format_time(since), "affected": 6,
                                   "unreachable": 5})
    sv = translations("sv").gettext
    said = action_text(outage, sv, lambda ts: f"<{ts:.0f}>")
    assert said.startswith("Felsök inte") and "nod N-2" in said and "<1789999980>" in said
    assert "5 av 6 modem" in said
    evidence = [Evidence(fact="ds_snr_db", value=25.5, threshold=">= 30", unit="dB",
                         detail="downstream channel 7")]
    line = action_for("line", {"facts": facts_text(evidence)})
    assert "ds_snr_db" in line
    pl = action_text(line, translations("pl").gettext, None, evidence)
    assert pl == ("Linia poza normą (SNR w dół 25.5 dB, poniżej 30 dB (kanał w dół 7)): "
                  "wyślij technika do linii.")
    assert action_text(line, translations("en").gettext, None, evidence) == (
        "Line out of spec (downstream SNR 25.5 dB, below 30 dB (downstream channel 7)): "
        "dispatch a technician for the line.")
    assert action_text("Something an older collector said.", sv) == (
        "Something an older collector said.")
    for cause in ACTIONS:  # every template reads its own fields back
        text = action_for(cause, {})
        assert action_text(text, sv) != text, cause
