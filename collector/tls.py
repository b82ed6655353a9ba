"""The collector's HTTPS: a server SSL context from the config's ``tls_*`` keys.

Kept apart from the app so a bad key or certificate file fails at start-up
with the file named, before the port is bound.
"""

from __future__ import annotations

import ssl

from collector.config import CollectorConfig


def server_context(config: CollectorConfig) -> ssl.SSLContext | None:
    """None for plain HTTP. With ``tls_client_ca`` every client must present a
    certificate signed by that CA (mutual TLS); the bearer token still applies."""
    if config.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key)
    if config.tls_client_ca is not None:
        context.load_verify_locations(cafile=config.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
