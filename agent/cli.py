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

from agent.config import AgentConfig, ConfigError, load_config


async def _serve(config: AgentConfig) -> int:
    from agent.daemon import AgentDaemon

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


def _run_loop(main: Coroutine[Any, Any, int], choice: str = "auto") -> int:
    """uvloop when installed (cheaper wake-ups and timers for thousands of polls in
    flight), else asyncio's own loop; ``choice`` ("auto", "uvloop", "asyncio",
    from ``[agent] event_loop`` or LINEWATCH_EVENT_LOOP) pins one. The probes'
    sockets never go through the loop's own UDP code (probes/netio.py), so both
    loops meet kernel errors the same way."""
    if choice == "asyncio":
        return asyncio.run(main)
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            main.close()
            raise ConfigError("agent.event_loop = 'uvloop' but uvloop is not installed") from None
        return asyncio.run(main)
    return uvloop.run(main)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=os.environ.get("LINEWATCH_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(args.config)
        choice = os.environ.get("LINEWATCH_EVENT_LOOP") or config.agent.event_loop
        if choice not in ("auto", "uvloop", "asyncio"):
            raise ConfigError(f"LINEWATCH_EVENT_LOOP must be auto, uvloop or asyncio: {choice!r}")
        return _run_loop(_serve(config), choice)
    except ConfigError as exc:
        print(f"linewatch agent: {exc}", file=sys.stderr)
        return 2
