"""Collector configuration: one TOML file, every option with a documented default.

Unknown keys are an error, not silently ignored: a typo such as ``stalenes_s``
would otherwise leave the default in force without anyone noticing.
``deploy/examples/collector.toml`` shows every option with its default.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from platformdirs import user_data_dir

from collector.i18n.clock import ZoneError, zone

MiB = 1024 * 1024
DAY = 86_400.0

Positive = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]


def default_db() -> str:
    """SQLite file in the user's data directory (``~/.local/share/linewatch``)."""
    return str(Path(user_data_dir("linewatch")) / "collector.db")


class RetentionConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Raw history points for a week (enough to compare "since yesterday"),
    # hourly means for 400 days (a year of downtime credits plus a month).
    keep_raw_s: Positive = 7 * DAY
    keep_s: Positive = 400 * DAY
    prune_interval_s: Positive = 3600.0


class ThresholdsConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # None: the engine's defaults (collector/verdicts/thresholds.toml).
    file: str | None = None
    # Same shape as the thresholds file; applied on top of it.
    overrides: dict[str, Any] = {}


WEBHOOK_EVENTS = (
    "outage.opened", "outage.closed", "plant_fault.opened", "plant_fault.closed",
    "dispatch.requested", "call.repeat", "account.verdict_changed",
)


class WebhookConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One ``[[webhooks]]`` table: where events go, signed with a key from the
    environment (never from the file, so configs can be shared and logged)."""

    url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s]+$")]
    secret_env: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    events: Annotated[
        list[Literal[
            "outage.opened", "outage.closed", "plant_fault.opened", "plant_fault.closed",
            "dispatch.requested", "call.repeat", "account.verdict_changed",
        ]],
        msgspec.Meta(min_length=1),
    ]


class WebhookDeliveryConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Undelivered events kept at most (all receivers): past it new ones are
    # dropped and counted; 100,000 is days of a busy ISP's outages and calls.
    max_outbox: PositiveInt = 100_000
    # Per POST; a slow receiver holds one of `concurrency` senders this long at most.
    timeout_s: Positive = 10.0
    concurrency: PositiveInt = 4
    # Retry after base * 2**attempts (capped), times a random 0.5..1.5 (jitter:
    # collectors and events retrying a receiver that came back do not all hit it at once).
    backoff_base_s: Positive = 1.0
    backoff_max_s: Positive = 300.0
    # How often the outbox is read for due deliveries when idle.
    poll_interval_s: Positive = 1.0
    # A claimed delivery is another collector's to take over after this (the claimer died).
    lease_s: Positive = 60.0


class ConsoleConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The support console's defaults: the UI language of an agent who has not
    chosen one and whose browser names none we speak, and the zone every time
    is shown in (an IANA name; None: the host's zone)."""

    language: Literal["en", "sv", "pl"] = "en"
    timezone: str | None = None


class CollectorConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    listen: str = "127.0.0.1:8470"
    # HTTPS: PEM certificate chain and key (None: plain HTTP, for loopback or
    # behind a TLS-terminating proxy). tls_client_ca: also require client
    # certificates signed by this CA (mutual TLS, on top of bearer tokens).
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    db: str = msgspec.field(default_factory=default_db)
    # Largest request body on the wire. 8 MiB holds ~20 000 DOCSIS records
    # uncompressed; agents push far smaller batches.
    max_body_bytes: PositiveInt = 8 * MiB
    # A request body must arrive whole within this many seconds (else 408):
    # a slowly dribbled body does not hold a handler and its buffer forever.
    body_read_timeout_s: Positive = 30.0
    # Largest body after gzip decompression (zip-bomb guard).
    max_decompressed_bytes: PositiveInt = 32 * MiB
    # An account whose newest record is older than this is not "fresh" (and
    # the engine calls it unknown). None: the thresholds' freshness.stale_after_s.
    staleness_s: Positive | None = None
    # How often the engine re-judges on time alone (staleness, outage ends).
    tick_interval_s: Positive = 1.0
    # Default and ceiling for POST /v1/accounts/{account}/check.
    check_timeout_s: Positive = 30.0
    check_timeout_max_s: Positive = 120.0
    # Ceiling for the agents' long poll (GET /v1/agents/{agent}/jobs?wait=S).
    jobs_wait_max_s: Positive = 30.0
    # Who polls targets whose inventory row has no ``agent``: None = every agent
    # asking (like the agent's own CSV rule; right for one agent per collector),
    # or the name of one agent. With several agents, fill the column or set this.
    default_agent: str | None = None
    # SQLite only: commit ingested batches in a writer process of its own
    # ("process": off the collector's GIL, which then spends about half the
    # CPU a reading) or on a thread of the collector ("thread").
    sqlite_writer: Literal["process", "thread"] = "process"
    # Failed authentications (API bearer tokens and console sign-in) one client
    # address may make within auth_failure_window_s before it gets 429 for the
    # rest of the window; 0 turns the limit off (see collector/ratelimit.py).
    auth_failure_limit: NonNegativeInt = 30
    auth_failure_window_s: Positive = 60.0
    # A caller is a repeat caller on their Nth call within the window (this
    # call counted): "I've called three times" is the floor's phrase, and 48 h
    # spans a customer calling, waiting a day for a fix, and calling again.
    # A repeat caller with an unresolved fault (any verdict but ok) is routed
    # to a person instead of hearing the IVR's message once more.
    repeat_call_count: PositiveInt = 3
    repeat_call_window_s: Positive = 2 * DAY
    # The customer language of inventory lines without a ``language`` column
    # (outage notices; the pre-call answer when the caller names none). en:
    # what the IVR already falls back to, and the one language every text has.
    default_language: Literal["en", "sv", "pl"] = "en"
    console: ConsoleConfig = msgspec.field(default_factory=ConsoleConfig)
    # Outbound signed webhooks (issue 17): [[webhooks]] tables, and how they are sent.
    webhooks: list[WebhookConfig] = []
    webhook_delivery: WebhookDeliveryConfig = msgspec.field(default_factory=WebhookDeliveryConfig)
    # Seconds to let requests finish on shutdown.
    shutdown_timeout_s: Positive = 10.0
    retention: RetentionConfig = msgspec.field(default_factory=RetentionConfig)
    thresholds: ThresholdsConfig = msgspec.field(default_factory=ThresholdsConfig)
    # Node-outage correlation settings, passed to the engine as the thresholds'
    # ``[outage]`` table (e.g. min_share, min_accounts); empty = engine defaults.
    outage: dict[str, Any] = {}

    def listen_host_port(self) -> tuple[str, int]:
        return parse_listen(self.listen)


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the key."""


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"listen must be HOST:PORT, got {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    db: str | None = None,
    listen: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> CollectorConfig:
    """Read the TOML file (if any) and apply command-line overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    if db is not None:
        raw["db"] = db
    if listen is not None:
        raw["listen"] = listen
    if tls_cert is not None:
        raw["tls_cert"] = tls_cert
    if tls_key is not None:
        raw["tls_key"] = tls_key
    try:
        config = msgspec.convert(raw, CollectorConfig)
    except msgspec.ValidationError as exc:
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}{exc}") from None
    parse_listen(config.listen)
    try:
        zone(config.console.timezone)
    except ZoneError as exc:
        raise ConfigError(f"[console] timezone: {exc}") from None
    if config.tls_cert is None and (config.tls_key or config.tls_client_ca):
        raise ConfigError("tls_key / tls_client_ca need tls_cert (the server certificate)")
    for key in ("tls_cert", "tls_key", "tls_client_ca"):
        value = getattr(config, key)
        if value is not None:
            setattr(config, key, os.path.expanduser(value))
    if "://" not in config.db:
        config.db = os.path.expanduser(config.db)
    return config
