"""SNMP credentials, referenced by name from the inventory (``target.credentials``).

Secrets can come from environment variables (``community_env`` etc.) so the
config file holds only names. ``repr`` never shows a secret.
"""

from __future__ import annotations

import os
from typing import Literal

import msgspec

Version = Literal["1", "2c", "3"]
AuthProtocol = Literal["SHA", "SHA256", "MD5"]
PrivProtocol = Literal["AES", "AES256", "DES"]


class CredentialsError(ValueError):
    """Credentials that cannot be used (missing env var, v3 without a user...)."""


class SnmpCredentials(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    version: Version = "2c"
    community: str | None = None
    community_env: str | None = None
    user: str | None = None
    auth_protocol: AuthProtocol | None = None
    auth_key: str | None = None
    auth_key_env: str | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: str | None = None
    priv_key_env: str | None = None

    def __repr__(self) -> str:
        shown = f"version={self.version!r}"
        if self.user:
            shown += f", user={self.user!r}, auth={self.auth_protocol}, priv={self.priv_protocol}"
        return f"SnmpCredentials({shown}, secrets=<hidden>)"

    __str__ = __repr__

    def resolved(self, environ: dict[str, str] | None = None) -> SnmpCredentials:
        """A copy with ``*_env`` indirections replaced by the variables' values."""
        env = os.environ if environ is None else environ
        changes: dict[str, str] = {}
        for field in ("community", "auth_key", "priv_key"):
            var = getattr(self, f"{field}_env")
            if var:
                if var not in env:
                    raise CredentialsError(f"environment variable {var} for {field} is not set")
                changes[field] = env[var]
        creds = msgspec.structs.replace(self, **changes) if changes else self
        creds.check()
        return creds

    def check(self) -> None:
        if self.version == "3":
            if not self.user:
                raise CredentialsError("SNMPv3 needs a user")
            if self.priv_protocol and not self.auth_protocol:
                raise CredentialsError("SNMPv3 privacy needs authentication")
            if self.auth_protocol and not self.auth_key:
                raise CredentialsError("SNMPv3 auth protocol without auth_key")
            if self.priv_protocol and not self.priv_key:
                raise CredentialsError("SNMPv3 priv protocol without priv_key")
        elif self.community is None:
            raise CredentialsError(f"SNMPv{self.version} needs a community")
