"""Skip-or-fail policy for tests that need root, a system package or ../shared.

On a user's machine such tests skip with a reason. With CI=true, a missing
binary or root is a failure: CI must run them (it runs as root and `make test`
installs the Debian packages first).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import asyncpg
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("LINEWATCH_SHARED", REPO.parent / "shared"))
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def need_root() -> None:
    if os.geteuid() != 0:
        _missing("needs root (network namespaces / raw sockets); run as root or in CI")


def need_binary(*names: str) -> None:
    for name in names:
        if shutil.which(name) is None:
            _missing(f"needs `{name}` (Debian package; `make test` installs it as root)")


def shared_path(*parts: str) -> Path:
    """A file under ../shared; skips where the shared folder is absent.

    ../shared lives beside the project, never in it. Its recordings are not
    ours to copy, so where they are absent the test skips, even in CI, and
    says so loudly.
    """
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is beside the project, not in it)")
    return path


PG_ADMIN_URL = os.environ.get("LINEWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def pg_admin() -> asyncpg.Connection:
    """A connection to the test PostgreSQL, for creating and dropping scratch
    databases/schemas; skips (fails under CI) when the server is unreachable."""
    try:
        return await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        _missing(f"PostgreSQL at {PG_ADMIN_URL} unreachable ({exc}); see ../shared/PEERS.md")
        raise  # not reached: _missing skips or fails
