"""Agent configuration: one TOML file, typed, every option with a documented default.

Unknown keys are an error (a typo must not silently fall back to a default).
Secrets (token, SNMP communities, v3 keys) may come from environment variables
(``*_env`` keys) and are never shown by ``repr`` — configs end up in logs.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from probes.model import MAX_HEADEND_ROWS

PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegFloat = Annotated[float, msgspec.Meta(ge=0)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]

_HIDDEN = "'***'"


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the key."""


class AgentSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
    collector_url: str = "http://127.0.0.1:8470"
    # https:// only: verify the collector against this CA bundle (PEM) instead
    # of the system trust store. Verification is never off.
    ca_file: str | None = None
    client_cert: str | None = None  # PEM; for a collector that requires mutual TLS
    client_key: str | None = None  # PEM key of client_cert, if not in that file
    token: str | None = None  # prefer token_env
    token_env: str = "LINEWATCH_AGENT_TOKEN"
    inventory: str | None = None  # local CSV instead of the collector's assignment
    assignment_refresh_s: PositiveFloat = 300.0
    interval_s: PositiveFloat = 300.0  # SNMP + ping cycle per target
    jitter_s: NonNegFloat = 1.0  # random extra delay per poll, on top of the stable phase
    concurrency: PositiveInt = 1000  # scheduled polls in flight at once
    job_concurrency: PositiveInt = 64  # on-demand lane, separate so jobs never queue behind
    probe_deadline_s: PositiveFloat = 10.0  # per target and probe (throughput: its own timeout)
    throughput_interval_s: NonNegFloat = 0.0  # 0 = only on demand
    metrics_listen: str = "127.0.0.1:9470"  # "" disables the endpoint
    spool_path: str = "linewatch-agent-spool.db"
    spool_max_records: PositiveInt = 2_000_000
    # A scheduled result waits up to this long to share one spool commit with
    # others (on-demand results never wait): fewer, larger commits.
    spool_commit_delay_s: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.1
    batch_max_records: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 2000
    push_interval_s: PositiveFloat = 5.0
    push_timeout_s: PositiveFloat = 30.0
    push_backoff_max_s: PositiveFloat = 10.0
    job_wait_s: Annotated[float, msgspec.Meta(gt=0, le=30)] = 25.0
    shutdown_grace_s: NonNegFloat = 10.0  # in-flight probes may finish within this
    final_push_s: NonNegFloat = 5.0  # one last push on shutdown, bounded
    # "auto": uvloop when installed; "asyncio" or "uvloop" pin one (env LINEWATCH_EVENT_LOOP wins).
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"

    def __repr__(self) -> str:
        return (
            f"AgentSection(name={self.name!r}, collector_url={self.collector_url!r}, "
            f"token={_HIDDEN if self.token else None}, token_env={self.token_env!r}, "
            f"interval_s={self.interval_s}, concurrency={self.concurrency}, "
            f"spool_path={self.spool_path!r})"
        )

    def resolve_token(self) -> str | None:
        if self.token:
            return self.token
        return os.environ.get(self.token_env) or None


class SnmpSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    timeout_s: PositiveFloat = 2.0
    retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 1


class PingSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    interval_s: PositiveFloat = 0.2
    timeout_s: PositiveFloat = 1.0


class ThroughputSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    duration_s: PositiveFloat = 5.0
    streams: Annotated[int, msgspec.Meta(ge=1, le=128)] = 1
    timeout_s: PositiveFloat = 30.0


class PathSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    max_hops: Annotated[int, msgspec.Meta(ge=1, le=64)] = 16
    tcp_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 80
    timeout_s: PositiveFloat = 10.0


class ResolverSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Target names (probes/resolve.py). The system resolver gives no TTL, so an
    answer is kept ``ttl_s`` and a failure ``negative_ttl_s``; a lookup past
    ``timeout_s`` makes that poll ``unresolved``."""

    ttl_s: NonNegFloat = 60.0
    negative_ttl_s: NonNegFloat = 5.0
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=30)] = 2.0
    max_entries: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 100_000


class HeadendSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Headend polls (CMTS, DSLAM, OLT: probes/snmp/headend.py), on their own cycle."""

    enabled: bool = True
    interval_s: PositiveFloat = 60.0  # each headend once per interval
    timeout_s: PositiveFloat = 5.0  # per SNMP request (a headend's GETBULK answers are big)
    retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 1
    max_rows: Annotated[int, msgspec.Meta(ge=1, le=MAX_HEADEND_ROWS)] = 20_000  # per table
    max_time_s: PositiveFloat = 45.0  # one whole poll; past it the reading is "truncated"
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=256)] = 4  # headend polls in flight
    # A local headends CSV (headend,host,kind,nodes,...), read with [agent] inventory;
    # with the collector's assignment the headends come from there.
    inventory: str | None = None
    profiles: str | None = None  # TOML with [headend_profiles.NAME] tables (vendor OLTs...)


class CredentialsSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One named SNMP credential set; targets refer to it by name."""

    version: Literal["1", "2c", "3"] = "2c"
    community: str | None = None
    community_env: str | None = None
    user: str | None = None
    auth_protocol: Literal["MD5", "SHA", "SHA256"] | None = None
    auth_key: str | None = None
    auth_key_env: str | None = None
    priv_protocol: Literal["DES", "AES", "AES256"] | None = None
    priv_key: str | None = None
    priv_key_env: str | None = None

    def __repr__(self) -> str:
        return (
            f"CredentialsSection(version={self.version!r}, "
            f"community={_HIDDEN if self.community else None}, user={self.user!r}, "
            f"auth_protocol={self.auth_protocol!r}, "
            f"auth_key={_HIDDEN if self.auth_key else None}, "
            f"priv_protocol={self.priv_protocol!r}, "
            f"priv_key={_HIDDEN if self.priv_key else None})"
        )

    def resolved(self, name: str) -> dict[str, str | None]:
        """Secrets with ``*_env`` looked up; raises ConfigError naming what is missing."""

        def pick(value: str | None, env: str | None, key: str) -> str | None:
            if value:
                return value
            if env:
                found = os.environ.get(env)
                if not found:
                    raise ConfigError(f"credentials.{name}.{key}_env: ${env} is not set")
                return found
            return None

        community = pick(self.community, self.community_env, "community")
        auth_key = pick(self.auth_key, self.auth_key_env, "auth_key")
        priv_key = pick(self.priv_key, self.priv_key_env, "priv_key")
        if self.version in ("1", "2c") and community is None:
            community = "public"
        if self.version == "3" and not self.user:
            raise ConfigError(f"credentials.{name}: version 3 needs user")
        return {
            "version": self.version,
            "community": community,
            "user": self.user,
            "auth_protocol": self.auth_protocol,
            "auth_key": auth_key,
            "priv_protocol": self.priv_protocol,
            "priv_key": priv_key,
        }


def _default_credentials() -> dict[str, CredentialsSection]:
    return {"default": CredentialsSection()}


class AgentConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    agent: AgentSection
    snmp: SnmpSection = msgspec.field(default_factory=SnmpSection)
    ping: PingSection = msgspec.field(default_factory=PingSection)
    throughput: ThroughputSection = msgspec.field(default_factory=ThroughputSection)
    path: PathSection = msgspec.field(default_factory=PathSection)
    headend: HeadendSection = msgspec.field(default_factory=HeadendSection)
    resolver: ResolverSection = msgspec.field(default_factory=ResolverSection)
    credentials: dict[str, CredentialsSection] = msgspec.field(
        default_factory=_default_credentials
    )

    def __repr__(self) -> str:
        return f"AgentConfig(agent={self.agent!r}, credentials={sorted(self.credentials)})"


def parse_config(data: dict[str, Any], base_dir: Path | None = None) -> AgentConfig:
    """Validate a decoded TOML document. Relative paths are taken from ``base_dir``."""
    try:
        config = msgspec.convert(data, AgentConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid agent config: {exc}") from None
    if "default" not in config.credentials:
        config.credentials["default"] = CredentialsSection()
    agent = config.agent
    scheme = agent.collector_url.partition("://")[0].lower()
    if scheme not in ("http", "https"):
        raise ConfigError(f"agent.collector_url must be http:// or https://, got {scheme!r}")
    if scheme == "http" and (agent.ca_file or agent.client_cert):
        raise ConfigError("agent.ca_file / client_cert need an https:// collector_url")
    if agent.client_key and not agent.client_cert:
        raise ConfigError("agent.client_key needs agent.client_cert")
    if base_dir is not None:
        if agent.inventory and not os.path.isabs(agent.inventory):
            agent.inventory = str(base_dir / agent.inventory)
        if not os.path.isabs(agent.spool_path):
            agent.spool_path = str(base_dir / agent.spool_path)
        for key in ("ca_file", "client_cert", "client_key"):
            value = getattr(agent, key)
            if value and not os.path.isabs(value):
                setattr(agent, key, str(base_dir / value))
        for key in ("inventory", "profiles"):
            value = getattr(config.headend, key)
            if value and not os.path.isabs(value):
                setattr(config.headend, key, str(base_dir / value))
    return config


def load_config(path: str | Path) -> AgentConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, base_dir=path.resolve().parent)
