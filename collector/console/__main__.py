"""Serve the collector with the console: ``python -m collector.console --db DB --listen H:P``.

For tests and demos until ``collector.app.build_app`` calls ``setup_console``
itself; then ``linewatch collector serve`` does the same.
"""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from collector.app import build_app
from collector.config import ConfigError, load_config
from collector.console import setup_console


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collector.console")
    parser.add_argument("--config")
    parser.add_argument("--db")
    parser.add_argument("--listen")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, db=args.db, listen=args.listen)
    except ConfigError as exc:
        print(f"config: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = build_app(config)
    setup_console(app)  # idempotent once build_app adds the console itself
    host, port = config.listen_host_port()
    web.run_app(app, host=host, port=port, shutdown_timeout=config.shutdown_timeout_s,
                access_log=None, print=lambda msg: logging.info("%s", msg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
