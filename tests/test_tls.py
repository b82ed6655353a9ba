"""The agent-collector link over TLS, with a throwaway CA made here.

The story: the collector serves HTTPS with a certificate for 127.0.0.1 signed
by a CA made in this test; the agent trusts only that CA (``ca_file``) and
delivers. Then the collector comes back with a certificate the agent must
refuse — another CA's, one for another address, one that has expired — and
each time the agent keeps every result in its spool, logs the TLS reason
(never its token), counts it in linewatch_agent_push_tls_errors_total, and
delivers all of it, exactly once, when the right certificate is back.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from stack import Stack, assert_delivered_exactly_once, need_collector

from agent.config import ConfigError, parse_config
from collector.config import ConfigError as CollectorConfigError
from collector.config import load_config

TLS_ERRORS = "linewatch_agent_push_tls_errors_total"
PUSHED_OK = 'linewatch_agent_pushes_total{outcome="ok"}'
_NOW = dt.datetime.now(dt.UTC)


@dataclass
class Authority:
    """A CA key and certificate; ``issue`` signs leaf certificates with it."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_NOW - dt.timedelta(days=1))
            .not_valid_after(_NOW + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def write_ca(self, path: Path) -> Path:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return path

    def issue(self, tmp: Path, name: str, ip: str = "127.0.0.1", *, client: bool = False,
              not_after: dt.datetime | None = None) -> tuple[Path, Path]:
        """A leaf (server, or client with ``client``) for IP SAN ``ip``: (cert, key) files."""
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        not_after = not_after or _NOW + dt.timedelta(days=7)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(min(_NOW - dt.timedelta(days=1), not_after - dt.timedelta(days=1)))
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = tmp / f"{name}.pem", tmp / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        return cert_path, key_path


def _tls_args(cert: tuple[Path, Path]) -> list[str]:
    return ["--tls-cert", str(cert[0]), "--tls-key", str(cert[1])]


@pytest.fixture
def pki(tmp_path: Path) -> Iterator[tuple[Authority, Path]]:
    ca = Authority.create("linewatch test CA")
    yield ca, ca.write_ca(tmp_path / "ca.pem")


def _wait_spool_empty(stack: Stack, timeout_s: float) -> None:
    for _ in range(int(timeout_s * 10)):
        if stack.agent_metric("linewatch_agent_spool_records") == 0:
            return
        time.sleep(0.1)
    raise AssertionError("the spool did not drain over TLS")


def test_agent_delivers_over_tls_and_refuses_wrong_certificates(
    tmp_path: Path, pki: tuple[Authority, Path]
) -> None:
    need_collector()
    ca, ca_file = pki
    good = ca.issue(tmp_path, "collector")
    bad = {
        "certificate verify failed: unable to get local issuer certificate":
            Authority.create("someone else's CA").issue(tmp_path, "other-ca"),
        "certificate verify failed: IP address mismatch":
            ca.issue(tmp_path, "wrong-ip", ip="127.0.0.2"),
        "certificate verify failed: certificate has expired":
            ca.issue(tmp_path, "expired", not_after=_NOW - dt.timedelta(hours=1)),
    }
    stack = Stack(tmp_path, modems=30, nodes=2, ping=False, collector_args=_tls_args(good),
                  ca_file=ca_file)
    try:
        assert stack.collector.url.startswith("https://127.0.0.1:")
        stack.start_agent()
        stack.wait_metric(PUSHED_OK, 2, timeout_s=30)
        assert stack.agent_metric(TLS_ERRORS) == 0
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(f"{stack.collector.url}/healthz", timeout=5)  # system store
        refused = 0.0
        for reason, cert in bad.items():
            stack.collector.stop()
            stack.collector.extra_args = _tls_args(cert)
            stack.collector.start()
            ok_before = stack.agent_metric(PUSHED_OK)
            refused = stack.wait_metric(TLS_ERRORS, refused + 2, timeout_s=30)
            assert stack.agent_metric(PUSHED_OK) == ok_before, f"{reason}: pushed anyway"
            assert stack.agent_metric("linewatch_agent_spool_records") > 0
            log = (tmp_path / "agent.log").read_text(errors="replace")
            assert reason in log, f"agent log lacks {reason!r}:\n{log[-2000:]}"
        stack.collector.stop()
        stack.collector.extra_args = _tls_args(good)
        stack.collector.start()
        _wait_spool_empty(stack, timeout_s=30)
        assert stack.stop_agent() == 0
        log = (tmp_path / "agent.log").read_text(errors="replace")
        assert stack.agent_token not in log and "Bearer" not in log
        accepted = assert_delivered_exactly_once(stack)
        print(f"\nTLS: {len(bad)} wrong certificates refused ({refused:.0f} TLS push "
              f"failures); {accepted} records accepted, {accepted} delivered once")
    finally:
        stack.close()


def test_mutual_tls_client_certificate(tmp_path: Path, pki: tuple[Authority, Path]) -> None:
    """With tls_client_ca the collector talks only to clients holding a certificate
    from that CA; the agent presents one with client_cert/client_key."""
    need_collector()
    ca, ca_file = pki
    server = ca.issue(tmp_path, "collector")
    client = ca.issue(tmp_path, "agent-client", client=True)
    config = tmp_path / "collector.toml"
    config.write_text(f'tls_client_ca = "{ca_file}"\n')
    stack = Stack(tmp_path, modems=10, nodes=1, ping=False,
                  collector_args=[*_tls_args(server), "--config", str(config)],
                  ca_file=ca_file, client_cert=client,
                  agent_extra=f'client_cert = "{client[0]}"\nclient_key = "{client[1]}"')
    try:
        stack.start_agent()
        stack.wait_metric(PUSHED_OK, 1, timeout_s=30)
        anonymous = ssl.create_default_context(cafile=str(ca_file))
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            urllib.request.urlopen(f"{stack.collector.url}/healthz", timeout=5,
                                   context=anonymous).read()
        _wait_spool_empty(stack, timeout_s=30)
        assert stack.stop_agent() == 0
        assert_delivered_exactly_once(stack)
    finally:
        stack.close()


def test_tls_config_contract(tmp_path: Path) -> None:
    """Verification cannot be switched off by a config mistake: TLS files with a
    plain http:// URL, or a key without its certificate, are config errors."""
    with pytest.raises(ConfigError, match="https"):
        parse_config({"agent": {"name": "a", "ca_file": "ca.pem"}})
    with pytest.raises(ConfigError, match="client_cert"):
        parse_config({"agent": {"name": "a", "collector_url": "https://c.example",
                                "client_key": "k.pem"}})
    with pytest.raises(ConfigError, match="http"):
        parse_config({"agent": {"name": "a", "collector_url": "ftp://c.example"}})
    config = parse_config({"agent": {"name": "a", "collector_url": "https://c.example",
                                     "ca_file": "ca.pem"}}, base_dir=tmp_path)
    assert config.agent.ca_file == str(tmp_path / "ca.pem")
    with pytest.raises(CollectorConfigError, match="tls_cert"):
        load_config(None, tls_key="server.key")
    assert load_config(None, tls_cert="c.pem", tls_key="k.pem").tls_cert == "c.pem"
