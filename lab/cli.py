"""`linewatch lab fleet`: run the simulated modem fleet until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from lab.fleet import Fleet
from lab.fleet.control import ControlServer
from lab.fleet.kernel import KernelFaultError
from lab.fleet.layout import DOCSIS_WIDE, TECH_PATTERN

log = logging.getLogger("linewatch.lab")


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


async def run_fleet(args: argparse.Namespace) -> int:
    control_host, control_port = _host_port(args.control)
    fleet = Fleet(modems=args.modems, nodes=args.nodes, seed=args.seed, port=args.port,
                  community=args.community,
                  docsis_channels=DOCSIS_WIDE if args.docsis_wide else None,
                  technologies=tuple(args.technology or TECH_PATTERN),
                  kernel_faults=getattr(args, "kernel_faults", None),
                  ipv6_base=getattr(args, "ipv6_base", None))
    control = ControlServer(fleet, control_host, control_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await fleet.start()
    try:
        await control.start()
        headends = getattr(args, "headends", None)
        if headends:  # before the inventory: who waits for the inventory finds both
            await asyncio.to_thread(Path(headends).write_text, fleet.headends_csv())
        if args.inventory:
            text = fleet.inventory_csv()
            await asyncio.to_thread(Path(args.inventory).write_text, text)
        s = fleet.summary()
        print(
            f"fleet: {s['modems']} modems on {s['nodes']} nodes "
            f"({', '.join(f'{n} {t}' for t, n in s['technologies'].items())}); "
            f"SNMP v1/v2c on UDP {fleet.port} at "
            f"{s['first_host']}..{s['last_host']}; control {control.url}"
            + (f"; inventory {args.inventory}" if args.inventory else "")
            + (f"; headends {headends}" if headends else ""),
            flush=True,
        )
        await stop.wait()
    finally:
        await control.stop()
        await fleet.stop()
    return 0


def fleet(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        return asyncio.run(run_fleet(args))
    except (ValueError, OSError, KernelFaultError) as exc:
        print(f"linewatch lab fleet: {exc}", file=sys.stderr)
        return 2
