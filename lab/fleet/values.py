"""Plausible, slowly varying line values of one modem at one instant.

Every value is a pure function of (seed, modem, time, faults): levels wander
on slow sine waves around a per-modem base, counters are integrals of a
positive rate since the last boot (so they only rise, and restart at a
reboot like real ones). Ranges follow ../shared/THRESHOLDS.md for a healthy
plant: DOCSIS DS power -7..+7 dBmV, 256-QAM SNR 35-40 dB, US TX 38-48 dBmV;
ADSL2+ margin 8-14 dB; GPON receive power -18..-24 dBm.
"""

from __future__ import annotations

import math

from lab.fleet import equalizer
from lab.fleet.faults import Effects
from lab.fleet.layout import ModemSpec, salt, unit

TWO_PI = 2.0 * math.pi
# J.83 Annex B 256-QAM: 5.360537 Msym/s x 8 bit / 896-bit RS codewords ~ 47,862 cw/s.
CODEWORDS_PER_S = 47_862
DS_SYMBOL_RATE_BPS = 42_884_296
US_RATE_BPS = 30_720_000  # 6.4 MHz ATDMA 64-QAM
DS_FIRST_HZ = 591_000_000
DS_WIDTH_HZ = 6_000_000
# Eight distinct 6.4 MHz slots in the 5-42 MHz return band (a 32x8 modem uses all).
US_FREQS_HZ = (16_400_000, 22_800_000, 29_200_000, 35_600_000, 12_000_000, 40_400_000,
               9_600_000, 6_800_000)
US_WIDTH_HZ = 6_400_000
MAX_UPTIME_S = 40 * 86400

_BOOT, _POW, _TILT, _SNR = (salt(n) for n in ("boot", "pow", "tilt", "snr"))
_TX, _CWC, _CWU = (salt(n) for n in ("tx", "cwc", "cwu"))
_T3, _T4, _LOOP, _MGN, _FEC, _CRC = (salt(n) for n in ("t3", "t4", "loop", "mgn", "fec", "crc"))
_RX, _TXO, _USE, _WAVE = (salt(n) for n in ("rx", "txo", "use", "wave"))


def clamp(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else hi if v > hi else v


class ModemView:
    """One modem at ``now``: the MIB getters read from this."""

    __slots__ = ("_codewords", "_memo", "boot", "fx", "now", "seed", "spec", "uptime_s")

    def __init__(
        self, spec: ModemSpec, seed: int, now: float, fx: Effects, epoch: float,
        boot_override: float | None, memo: dict[tuple[int, int], float] | None = None,
    ) -> None:
        self.spec = spec
        self.seed = seed
        # u() answers, time-independent: the fleet passes one dict per modem so the
        # requests of one poll (4-6 in a few ms) hash each (key, channel) only once.
        self._memo: dict[tuple[int, int], float] = {} if memo is None else memo
        self._codewords: dict[int, tuple[int, int, int]] = {}  # 6 columns read each channel
        self.now = now
        self.fx = fx
        if fx.boot_at is not None:
            boot = fx.boot_at
        elif boot_override is not None:
            boot = boot_override
        else:
            # Seeded boot between 1 hour and 40 days before the fleet started.
            boot = epoch - 3600.0 - self.u(_BOOT) * (MAX_UPTIME_S - 3600.0)
        self.boot = boot
        self.uptime_s = max(now - boot, 0.0)

    # --- helpers -----------------------------------------------------------------

    def u(self, key: int, sub: int = 0) -> float:
        memo_key = (key, sub)
        value = self._memo.get(memo_key)
        if value is None:
            value = self._memo[memo_key] = unit(self.seed, self.spec.index, key + sub * 7919)
        return value

    def wave(self, key: int, period_s: float, sub: int = 0) -> float:
        """A slow sine in [-1, 1] with a per-modem (and per-channel) phase."""
        return math.sin(TWO_PI * (self.now / period_s + self.u(key ^ _WAVE, sub)))

    def since_boot(self, t: float) -> float:
        """Seconds of ``now - t`` that fall after the last boot."""
        return max(self.now - max(t, self.boot), 0.0)

    def traffic_bytes(self, plan_mbps: float, sub: int) -> int:
        """Octets since boot for a mean use of 1-8% of the plan, +-50% on a 1 h wave.
        The integral of a rate that never goes negative only rises."""
        mean = plan_mbps * 125_000.0 * (0.01 + 0.07 * self.u(_USE, sub))
        phase = TWO_PI * self.u(_USE ^ _WAVE, sub)
        w = TWO_PI / 3600.0
        t = self.uptime_s
        return int(mean * (t + 0.5 * (math.cos(phase) - math.cos(w * t + phase)) / w))

    def uptime_ticks(self) -> int:
        return int(self.uptime_s * 100.0) & 0xFFFFFFFF

    # --- DOCSIS ------------------------------------------------------------------

    def ds_frequency_hz(self, ch: int) -> int:
        return DS_FIRST_HZ + ch * DS_WIDTH_HZ

    def ds_power_tenth_dbmv(self, ch: int) -> int:
        n = max(self.spec.ds_channels - 1, 1)
        tilt = (ch / n - 0.5) * 2.0 * (self.u(_TILT) - 0.5)  # +-1 dB across the band
        if self.fx.ds_power_dbmv is not None:
            return round((self.fx.ds_power_dbmv + tilt * 0.5) * 10)
        base = -5.0 + 10.0 * self.u(_POW)
        return round(clamp(base + tilt + 1.2 * self.wave(_POW, 900.0, ch), -7.0, 7.0) * 10)

    def snr_tenth_db(self, ch: int) -> int:
        if self.fx.snr_db is not None:
            return round((self.fx.snr_db + 0.5 * self.wave(_SNR, 60.0, ch)) * 10)
        base = 36.5 + 2.0 * self.u(_SNR)
        return round(clamp(base + 1.0 * self.wave(_SNR, 600.0, ch), 35.0, 40.0) * 10)

    def us_frequency_hz(self, ch: int) -> int:
        return US_FREQS_HZ[ch % len(US_FREQS_HZ)]

    def us_power_tenth_dbmv(self, ch: int) -> int:
        base = 40.0 + 5.0 * self.u(_TX) + (self.u(_TX, ch + 1) - 0.5) * 2.0
        return round(clamp(base + 1.5 * self.wave(_TX, 1200.0, ch), 38.0, 48.0) * 10)

    def codewords(self, ch: int) -> tuple[int, int, int]:
        """(unerrored, corrected, uncorrectable) since boot, Counter64-sized."""
        memo = self._codewords.get(ch)
        if memo is None:
            memo = self._codewords[ch] = self._count_codewords(ch)
        return memo

    def _count_codewords(self, ch: int) -> tuple[int, int, int]:
        total = int(self.uptime_s * CODEWORDS_PER_S)
        corrected = int(total * (2e-6 + 2e-5 * self.u(_CWC, ch)))
        uncorrectable = int(total * 1e-8 * self.u(_CWU, ch))
        if self.fx.uncorrectable_ratio:
            dt = self.since_boot(self.fx.uncorrectable_since)
            uncorrectable += int(dt * CODEWORDS_PER_S * self.fx.uncorrectable_ratio)
        return max(total - corrected - uncorrectable, 0), corrected, uncorrectable

    def t3_timeouts(self, ch: int) -> int:
        n = int(3 * self.u(_T3, ch))
        if self.fx.t3t4_per_s:
            n += int(self.since_boot(self.fx.t3t4_since) * self.fx.t3t4_per_s)
        return n

    def t4_timeouts(self, ch: int) -> int:
        n = int(1.5 * self.u(_T4, ch))
        if self.fx.t3t4_per_s:
            n += int(self.since_boot(self.fx.t3t4_since) * self.fx.t3t4_per_s / 4)
        return n

    def eq_data(self, ch: int) -> bytes:
        """The channel's pre-equalizer: clean, or with the micro-reflection a fault put
        on the plant (lab/fleet/equalizer.py)."""
        fx = self.fx
        if fx.echo_distance_m is None:
            return equalizer.CLEAN
        return equalizer.with_echo(fx.echo_distance_m, fx.echo_level_dbc,
                                   float(self.us_frequency_hz(ch)), float(US_WIDTH_HZ))

    # --- ADSL2+ ------------------------------------------------------------------

    def loop(self) -> float:
        """Loop length as a 0..1 share: sets attenuation and attainable rate."""
        return self.u(_LOOP)

    def atn_tenth_db(self, upstream: bool) -> int:
        down = 15.0 + 30.0 * self.loop() + 0.2 * self.wave(_LOOP, 1800.0)
        return round((down * 0.55 if upstream else down) * 10)

    def margin_tenth_db(self, upstream: bool) -> int:
        if self.fx.margin_db is not None and not upstream:
            return round((self.fx.margin_db + 0.3 * self.wave(_MGN, 30.0)) * 10)
        base = 9.0 + 4.0 * self.u(_MGN, int(upstream))
        return round(clamp(base + 0.6 * self.wave(_MGN, 900.0, int(upstream)), 8.0, 14.0) * 10)

    def sync_bps(self, upstream: bool) -> int:
        # The line profile caps the sync rate just above the plan (ATM/PPP overhead ~7%).
        plan = self.spec.plan_up_mbps if upstream else self.spec.plan_down_mbps
        return int(plan * 1_070_000)

    def attainable_bps(self, upstream: bool) -> int:
        cap = 1_400_000 if upstream else 26_000_000
        return max(int(cap * (1.0 - 0.6 * self.loop())), self.sync_bps(upstream))

    def dsl_blocks(self) -> tuple[int, int, int]:
        """(received, corrected/FEC, uncorrectable/CRC) blocks since boot."""
        t = self.uptime_s
        received = int(t * 4000)
        fec = int(t * (0.05 + 0.9 * self.u(_FEC)))
        crc = int(t * 0.002 * self.u(_CRC))
        if self.fx.crc_per_s:
            crc += int(self.since_boot(self.fx.crc_since) * self.fx.crc_per_s)
        return received, fec, crc

    # --- GPON --------------------------------------------------------------------

    def gpon_rx_tenth_dbm(self) -> int:
        if self.fx.gpon_rx_dbm is not None:
            return round((self.fx.gpon_rx_dbm + 0.2 * self.wave(_RX, 30.0)) * 10)
        base = -23.0 + 4.0 * self.u(_RX)
        return round(clamp(base + 0.4 * self.wave(_RX, 1200.0), -24.0, -18.0) * 10)

    def gpon_tx_tenth_dbm(self) -> int:
        return round((1.5 + 1.5 * self.u(_TXO) + 0.1 * self.wave(_TXO, 1200.0)) * 10)
