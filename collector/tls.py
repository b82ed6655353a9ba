"""The collector's HTTPS: a server SSL context from the config's ``tls_*`` keys.

Kept apart from the app so a bad key or certificate file fails at start-up
with the file named, before the port is bound.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

from collector.config import CollectorConfig


def _load(keys: str, paths: str, load: Callable[[], None]) -> None:
    """Run ``load``; an error names the config keys and files (OpenSSL's own
    message, e.g. "[SSL] PEM lib", says neither)."""
    try:
        load()
    except OSError as exc:
        raise OSError(f"{keys} ({paths}): {exc.strerror or exc}") from None


def server_context(config: CollectorConfig) -> ssl.SSLContext | None:
    """None for plain HTTP. With ``tls_client_ca`` every client must present a
    certificate signed by that CA (mutual TLS); the bearer token still applies."""
    if config.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    cert, key, client_ca = config.tls_cert, config.tls_key, config.tls_client_ca
    _load("tls_cert/tls_key", f"{cert}, {key or 'key in the cert file'}",
          lambda: context.load_cert_chain(cert, key))
    if client_ca is not None:
        _load("tls_client_ca", client_ca, lambda: context.load_verify_locations(cafile=client_ca))
        context.verify_mode = ssl.CERT_REQUIRED
    return context
