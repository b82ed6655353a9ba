"""`linewatch agent run --config agent.toml`: run the daemon until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from agent.config import ConfigError, load_config


async def _serve(config_path: str) -> int:
    from agent.daemon import AgentDaemon

    config = load_config(config_path)
    daemon = AgentDaemon(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await daemon.start()
    try:
        await stop.wait()
    finally:
        await daemon.stop()
    return 0


def _run_loop(main: Coroutine[Any, Any, int]) -> int:
    """uvloop when installed (cheaper wake-ups and timers for thousands of polls in
    flight), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=os.environ.get("LINEWATCH_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _run_loop(_serve(args.config))
    except ConfigError as exc:
        print(f"linewatch agent: {exc}", file=sys.stderr)
        return 2
