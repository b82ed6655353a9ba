"""`make bench`: every benchmark in turn, each as its own process.

Each prints its figures and its ratio against the peer measured in the same
run; this only sequences them (never in parallel: the machine has 2 cores and
the ratios must not steal from each other).
"""

from __future__ import annotations

import subprocess
import sys

BENCHES: tuple[tuple[str, ...], ...] = (
    ("bench.snmp_poll",),
    ("bench.bench_snmp",),
    ("bench.bench_fleet",),
    ("bench.bench_ping",),
    ("bench.bench_ipv6",),
    ("bench.bench_engine",),
    ("bench.bench_headend",),
    ("bench.bench_headend_outage",),
    ("bench.bench_store",),
    ("bench.bench_ingest",),
    ("bench.bench_status_http",),
    ("bench.bench_agent",),
)


def main() -> int:
    failed = []
    for module, *args in BENCHES:
        print(f"\n=== {module} {' '.join(args)}", flush=True)
        if subprocess.call([sys.executable, "-m", module, *args]) != 0:
            failed.append(module)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
