"""The `pexbot` command line (INTERFACE §1). Each subcommand is a small function; the imports
sit inside them so `pexbot audit` does not pay for Slack and `pexbot simulator` needs no config.

A user's mistake (bad configuration, a bad flag) is one line on stderr and a non-zero exit, never
a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from bot.config import ConfigError, Settings, configure_logging

Handler = Callable[[argparse.Namespace], int]


def _simulator(args: argparse.Namespace) -> int:
    from bot.sandbox.simulator import serve_forever

    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together: give both for HTTPS")
    configure_logging("INFO")
    serve_forever(
        host=args.host,
        port=args.port,
        username=args.username,
        password=args.password,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from bot.slack.server import serve

    return serve(Settings.load())


def _clock(args: argparse.Namespace) -> int:
    from bot.backup.clock import run_clock

    return run_clock(Settings.load(), metrics_port=args.metrics_port)


def _backup_run(args: argparse.Namespace) -> int:
    from bot.backup.clock import run_backup_cli

    return run_backup_cli(Settings.load())


def _check(args: argparse.Namespace) -> int:
    from bot.check import run_check

    return run_check()


def _events_register(args: argparse.Namespace) -> int:
    from bot.events.register import run_register

    return run_register(Settings.load(), args.location or [])


def _demo(args: argparse.Namespace) -> int:
    from bot.sandbox.console import run_demo

    return run_demo(args.as_user)


def _audit(args: argparse.Namespace) -> int:
    from bot.store.audit_cli import parse_since, run_audit_cli

    settings = Settings.load()
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        raise ConfigError(f"--since: {exc}") from None
    return run_audit_cli(settings.database_url, as_json=args.json, limit=args.limit, since=since)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be a port number from 1 to 65535")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pexbot", description="Slack chat-ops for Pexip Infinity video conferencing."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the Slack app (HTTP on $PORT, or Socket Mode)")
    serve.set_defaults(handler=_serve)

    clock = commands.add_parser(
        "clock", help="run the scheduler: the nightly backup and, with OPS_CHANNEL, health alerts"
    )
    clock.add_argument(
        "--metrics-port",
        type=_port,
        metavar="N",
        help="also serve Prometheus metrics on http://0.0.0.0:N/metrics",
    )
    clock.set_defaults(handler=_clock)

    backup = commands.add_parser("backup", help="backups of the management node")
    backup_commands = backup.add_subparsers(dest="backup_command", required=True, metavar="ACTION")
    backup_run = backup_commands.add_parser(
        "run", help="run the nightly backup job once, now (exit 0 on success, 1 on failure)"
    )
    backup_run.set_defaults(handler=_backup_run)

    check = commands.add_parser(
        "check", help="validate configuration, permissions, database, management node and Slack"
    )
    check.set_defaults(handler=_check)

    events = commands.add_parser("events", help="the management node's event sink (live meetings)")
    events_commands = events.add_subparsers(dest="events_command", required=True, metavar="ACTION")
    register = events_commands.add_parser(
        "register",
        help="create or update the event sink pointing at PUBLIC_URL/pexip/events and attach "
        "it to system locations (all when none is named)",
    )
    register.add_argument(
        "--location", action="append", metavar="NAME", help="a system location (repeatable)"
    )
    register.set_defaults(handler=_events_register)

    demo = commands.add_parser(
        "demo", help="try pexbot locally: simulator, Slack stand-in and an interactive console"
    )
    demo.add_argument(
        "--as", dest="as_user", metavar="USER", help="start as this demo user (id, role or name)"
    )
    demo.set_defaults(handler=_demo)

    sim = commands.add_parser("simulator", help="run the bundled Pexip management-node simulator")
    sim.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=8080, help="listen port (default 8080)")
    sim.add_argument("--username", default="admin", help="API user name (default admin)")
    sim.add_argument("--password", default="admin", help="API password (default admin)")
    sim.add_argument("--tls-cert", help="PEM certificate: serve HTTPS")
    sim.add_argument("--tls-key", help="PEM private key for --tls-cert")
    sim.set_defaults(handler=_simulator)

    audit = commands.add_parser("audit", help="print the audit log, newest first")
    audit.add_argument("--json", action="store_true", help="one JSON object per line")
    audit.add_argument("--limit", type=_positive, default=50, help="most entries (default 50)")
    audit.add_argument("--since", help="only entries at or after this ISO 8601 time")
    audit.set_defaults(handler=_audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"pexbot: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
