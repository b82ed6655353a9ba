"""`python -m lab.fleet`: the bare SNMP side of the fleet (no control API), for benchmarks.

Prints ``ready <port>`` once answering, runs until SIGTERM/SIGINT. ``--wide``
gives every DOCSIS modem 32 downstream + 8 upstream channels (DOCSIS_WIDE),
the benchmark's full DOCSIS profile. ``--uvloop`` runs on uvloop when installed.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from lab.fleet.fleet import Fleet
from lab.fleet.kernel import KernelFaultError
from lab.fleet.layout import DOCSIS_WIDE


async def _serve(args: argparse.Namespace) -> int:
    fleet = Fleet(modems=args.modems, nodes=args.nodes, seed=args.seed, port=args.port,
                  base_address=args.base, bind_host=args.bind,
                  docsis_channels=DOCSIS_WIDE if args.wide else None,
                  kernel_faults=args.kernel_faults)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with fleet:
        print(f"ready {fleet.port}", flush=True)
        await stop.wait()
    print(f"stats {fleet.stats}", file=sys.stderr, flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.fleet",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--modems", type=int, default=600)
    parser.add_argument("--nodes", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=0, help="SNMP UDP port (0: any free one)")
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--base", default="127.20.0.0", help="modem i answers on base + 1 + i")
    parser.add_argument("--wide", action="store_true", help="every DOCSIS modem 32x8")
    parser.add_argument("--uvloop", action="store_true", help="use uvloop when installed")
    parser.add_argument("--kernel-faults", choices=["auto", "on", "off"], default="off",
                        help="unreachable modems rejected by the kernel (lab/fleet/kernel.py); "
                        "off by default: this side injects no faults")
    args = parser.parse_args()
    run: Callable[[Coroutine[Any, Any, int]], int] = asyncio.run
    if args.uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            run = uvloop.run
    try:
        return run(_serve(args))
    except (ValueError, KernelFaultError) as exc:
        print(f"python -m lab.fleet: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
