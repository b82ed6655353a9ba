"""`linewatch` command line: the argument contract lives here; work lives in the layers.

Each subcommand imports its implementation lazily so `linewatch status` does not
pay for scapy or pysnmp imports.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

DEFAULT_COLLECTOR_URL = "http://127.0.0.1:8470"


def _lazy(path: str) -> Callable[[argparse.Namespace], int]:
    module_name, func_name = path.split(":")

    def call(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module_name), func_name)(args)

    return call


def _client_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--url",
        default=os.environ.get("LINEWATCH_URL", DEFAULT_COLLECTOR_URL),
        help="collector base URL (env LINEWATCH_URL)",
    )
    p.add_argument(
        "--token-env",
        default="LINEWATCH_TOKEN",
        help="environment variable holding the bearer token (default LINEWATCH_TOKEN)",
    )
    p.add_argument("--json", action="store_true",
                   help="print JSON for scripts (times stay UTC epoch seconds)")
    p.add_argument("--tz", default=None, metavar="NAME",
                   help="show times in this IANA zone, e.g. Europe/Warsaw "
                   "(default: TZ, else the host's zone)")
    p.add_argument("--lang", default=None, choices=["en", "sv", "pl"],
                   help="language of labels and messages (default: from LANGUAGE, LC_ALL, "
                   "LC_MESSAGES, LANG; else en)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linewatch", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    collector = sub.add_parser("collector", help="the collector service")
    csub = collector.add_subparsers(dest="collector_command", required=True)
    serve = csub.add_parser("serve", help="run the collector HTTP service")
    serve.add_argument("--config", help="TOML config file")
    serve.add_argument("--db", help="SQLite path or postgresql:// URL (overrides config)")
    serve.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:8470)")
    serve.add_argument("--tls-cert", help="PEM certificate chain: serve HTTPS (overrides config)")
    serve.add_argument("--tls-key", help="PEM private key of --tls-cert (overrides config)")
    serve.set_defaults(func=_lazy("collector.cli:serve"))

    agent = sub.add_parser("agent", help="the probing agent")
    asub = agent.add_subparsers(dest="agent_command", required=True)
    run = asub.add_parser("run", help="run the agent daemon")
    run.add_argument("--config", required=True, help="agent TOML config file")
    run.set_defaults(func=_lazy("agent.cli:run"))

    status = sub.add_parser("status", help="verdict and evidence for one account")
    status.add_argument("account")
    status.add_argument(
        "--call", action="store_true",
        help="record a call on the account (channel agent) before showing it",
    )
    status.add_argument(
        "--agent", default=None,
        help="who took the call, with --call (default: your login name)",
    )
    _client_args(status)
    status.set_defaults(func=_lazy("linewatch.client_cli:status"))

    check = sub.add_parser("check", help="run a fresh check on one or more accounts now")
    check.add_argument("accounts", nargs="+", metavar="ACCOUNT")
    check.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (30)")
    _client_args(check)
    check.set_defaults(func=_lazy("linewatch.client_cli:check"))

    nodes = sub.add_parser("nodes", help="nodes with counts per verdict and outage flags")
    _client_args(nodes)
    nodes.set_defaults(func=_lazy("linewatch.client_cli:nodes"))

    outages = sub.add_parser("outages", help="node outages and plant faults, open and closed")
    outages.add_argument("--since", type=float, default=None,
                         help="closed ones since this unix time (default: 30 days back)")
    _client_args(outages)
    outages.set_defaults(func=_lazy("linewatch.client_cli:outages"))

    credits = sub.add_parser("credits", help="each account's downtime in one outage (billing)")
    credits.add_argument("outage", help="the outage's id, as `linewatch outages` lists it")
    credits.add_argument("--csv", action="store_true", help="print the CSV for billing")
    _client_args(credits)
    credits.set_defaults(func=_lazy("linewatch.client_cli:credits"))

    inventory = sub.add_parser("inventory", help="inventory management")
    isub = inventory.add_subparsers(dest="inventory_command", required=True)
    imp = isub.add_parser("import", help="import an inventory CSV into the collector")
    imp.add_argument("file", help="CSV file ('-' for stdin)")
    _client_args(imp)
    imp.set_defaults(func=_lazy("linewatch.client_cli:inventory_import"))

    token = sub.add_parser("token", help="API tokens")
    tsub = token.add_subparsers(dest="token_command", required=True)
    create = tsub.add_parser("create", help="create a token; prints it once")
    create.add_argument("--role", required=True, choices=["agent", "support", "ivr", "admin"])
    create.add_argument("--name", help="who or what holds it (default: ROLE-<random>)")
    create.add_argument("--config", help="collector TOML config file")
    create.add_argument("--db", help="SQLite path or postgresql:// URL")
    create.set_defaults(func=_lazy("collector.cli:token_create"))

    demo = sub.add_parser("demo", help="collector + simulated fleet + agent + scripted faults")
    demo.add_argument("--duration", type=float, default=0.0, help="seconds; 0 = until Ctrl-C")
    demo.add_argument("--modems", type=int, default=600)
    demo.add_argument("--nodes", type=int, default=12)
    demo.add_argument("--listen", default="127.0.0.1:8470", help="collector HOST:PORT")
    demo.add_argument("--once", action="store_true", help="poll the fleet once, print, exit")
    demo.add_argument("--webhooks-out", help="file for the demo receiver's webhook deliveries "
                      "(JSON lines; default webhooks.jsonl in the demo's working directory)")
    demo.set_defaults(func=_lazy("linewatch.demo:main"))

    lab = sub.add_parser("lab", help="the simulated access network")
    lsub = lab.add_subparsers(dest="lab_command", required=True)
    fleet = lsub.add_parser("fleet", help="run the SNMP modem fleet simulator")
    fleet.add_argument("--modems", type=int, default=600)
    fleet.add_argument("--nodes", type=int, default=12)
    fleet.add_argument("--seed", type=int, default=1)
    fleet.add_argument("--port", type=int, default=1161, help="SNMP UDP port (1161)")
    fleet.add_argument("--control", default="127.0.0.1:8471", help="fault control HOST:PORT")
    fleet.add_argument("--inventory", help="write the fleet's inventory CSV here")
    fleet.add_argument("--headends", help="write the fleet's headends CSV here (a CMTS, "
                       "DSLAM or OLT per node; written before --inventory)")
    fleet.add_argument("--community", default="public",
                       help="SNMP v1/v2c community the modems answer (never printed)")
    fleet.add_argument("--technology", action="append",
                       choices=["docsis", "dsl", "gpon", "ethernet"],
                       help="node technologies, repeated over the nodes (default: the mix)")
    fleet.add_argument("--docsis-wide", action="store_true",
                       help="every DOCSIS modem 32 downstream x 8 upstream channels")
    fleet.add_argument("--kernel-faults", choices=["auto", "on", "off"], default=None,
                       help="modems a fault leaves unreachable rejected by the kernel with "
                       "ICMP errors, as on a real network (root + nft; auto: when possible; "
                       "default: $LINEWATCH_FLEET_KERNEL_FAULTS, else auto)")
    fleet.add_argument("--ipv6-base", default=None,
                       help="also answer over IPv6: address BASE + k for 127.20.0.0 + k, "
                       "listed in the CSVs (the range must be local: an AnyIP route in a "
                       "namespace of yours, `ip -6 route add local PREFIX dev lo`)")
    fleet.set_defaults(func=_lazy("lab.cli:fleet"))

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
