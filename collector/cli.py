"""`linewatch collector serve` and `linewatch token create` (arguments in linewatch/cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from collector.config import CollectorConfig, ConfigError, load_config


def _config(args: argparse.Namespace) -> CollectorConfig | None:
    try:
        return load_config(
            getattr(args, "config", None),
            db=getattr(args, "db", None),
            listen=getattr(args, "listen", None),
            tls_cert=getattr(args, "tls_cert", None),
            tls_key=getattr(args, "tls_key", None),
        )
    except ConfigError as exc:
        print(f"linewatch: config: {exc}", file=sys.stderr)
        return None


def _ensure_db_dir(db: str) -> None:
    if "://" not in db:
        Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)


def serve(args: argparse.Namespace) -> int:
    config = _config(args)
    if config is None:
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _ensure_db_dir(config.db)
    from collector.app import run
    from collector.tls import server_context

    try:
        ssl_context = server_context(config)
    except OSError as exc:  # ssl.SSLError is one: a bad key, a cert that is no PEM
        print(f"linewatch: collector: tls: {exc}", file=sys.stderr)
        return 2
    try:
        run(config, ssl_context=ssl_context)
    except OSError as exc:  # port in use, db not reachable at bind time
        print(f"linewatch: collector: {exc}", file=sys.stderr)
        return 1
    return 0


async def _create_token(db: str, role: str, name: str | None) -> tuple[str, str]:
    from collector.auth import create_token
    from collector.store.factory import open_store

    store = open_store(db)
    await store.start()
    try:
        return await create_token(store, role, name)
    finally:
        await store.stop()


def token_create(args: argparse.Namespace) -> int:
    """Print the new token once on stdout (the store keeps only its hash)."""
    config = _config(args)
    if config is None:
        return 2
    _ensure_db_dir(config.db)
    try:
        name, token = asyncio.run(_create_token(config.db, args.role, args.name))
    except (OSError, ValueError) as exc:
        print(f"linewatch: token create: {exc}", file=sys.stderr)
        return 1
    print(f"created {args.role} token {name!r}; it is shown only once:", file=sys.stderr)
    print(token)
    return 0
