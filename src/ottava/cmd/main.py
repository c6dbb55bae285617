"""`ottava <subcommand>`: parse arguments, load configuration, run the chosen process."""

from __future__ import annotations

import argparse
import sys
from typing import Any

# Heavy imports (oslo, SQLAlchemy, the controller) happen inside main(), after the
# amphora-agent subcommands have branched off: the agent processes import only ottava.agent.

def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ottava", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--config-file", action="append", default=[],
                       help="ottava.conf (may be given more than once)")
        p.add_argument("--state-dir", help="folder for the SQLite database and state")
        p.add_argument("--debug", action="store_true")
        return p

    standalone = command("standalone", "API, network API and worker in one process")
    standalone.add_argument("--bind", type=_host_port, default=None, metavar="HOST:PORT")
    standalone.add_argument("--network-api-bind", type=_host_port, default=None,
                            metavar="HOST:PORT")
    standalone.add_argument("--key-manager-api-bind", type=_host_port, default=None,
                            metavar="HOST:PORT",
                            help="where the Barbican-compatible key manager API listens "
                                 "(default 127.0.0.1:9311)")
    standalone.add_argument("--noop", action="store_true",
                            help="noop compute, network and amphora drivers (no data plane)")
    api = command("api", "the REST API (development server; use gunicorn in production)")
    api.add_argument("--bind", type=_host_port, default=None, metavar="HOST:PORT")
    command("worker", "run operations cast by the API")
    command("health-manager", "receive heartbeats, derive statuses, fail over silent amphorae")
    command("housekeeping", "re-drive operations whose worker died, purge deleted rows, "
                            "rotate amphora certificates")
    agent = sub.add_parser("amphora-agent", help="the amphora agent (inside an amphora)")
    source = agent.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", metavar="FILE",
                        help="the agent's JSON configuration (ottava.wire.agent.AgentConfig)")
    source.add_argument("--boot", metavar="FILE",
                        help="a VM amphora's boot document (its config drive's user data), "
                             "installed into --dir first")
    agent.add_argument("--dir", default="/var/lib/ottava-agent", metavar="FOLDER",
                       help="with --boot: where the agent's files go")
    agent.add_argument("--bind-host", default="0.0.0.0",
                       help="with --boot: the address the agent listens on")
    agent.add_argument("--debug", action="store_true")
    host_agent = sub.add_parser("amphora-host-agent",
                                help="one agent for every local amphora (namespaces) of a folder")
    host_agent.add_argument("--dir", required=True, metavar="FOLDER",
                            help="the amphorae's folder (<state_dir>/amphorae)")
    host_agent.add_argument("--debug", action="store_true")
    logs = command("logs", "the logs `ottava standalone` collected from a load balancer's "
                           "amphorae")
    logs.add_argument("load_balancer", help="id or name")
    logs.add_argument("--admin", action="store_true",
                      help="HAProxy's own events instead of the flow logs")
    logs.add_argument("-n", "--lines", type=int, default=20, help="last lines shown (20)")
    logs.add_argument("-f", "--follow", action="store_true", help="then wait for more")
    db = command("db", "database schema")
    db.add_argument("action", choices=["upgrade", "downgrade", "current"])
    db.add_argument("revision", nargs="?")
    return top


def overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if getattr(args, "bind", None):
        out["api_settings"] = {"bind_host": args.bind[0], "bind_port": args.bind[1]}
    if getattr(args, "network_api_bind", None):
        out["network_api"] = {"bind_host": args.network_api_bind[0],
                              "bind_port": args.network_api_bind[1]}
    if getattr(args, "key_manager_api_bind", None):
        out["key_manager_api"] = {"bind_host": args.key_manager_api_bind[0],
                                  "bind_port": args.key_manager_api_bind[1]}
    if getattr(args, "noop", False):
        out["controller_worker"] = {"compute_driver": "noop", "network_driver": "noop",
                                    "amphora_driver": "noop"}
    if args.debug:
        out["DEFAULT"] = {"debug": True}
    return out


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "amphora-agent":
        from ottava.agent import server as agent_server

        if args.boot:
            return agent_server.main_from_boot(args.boot, args.dir, args.bind_host,
                                               debug=args.debug)
        return agent_server.main(args.config, debug=args.debug)
    if args.command == "amphora-host-agent":
        from ottava.agent import host

        return host.main(args.dir, debug=args.debug)

    from oslo_log import log as logging

    from ottava import bootstrap
    from ottava.db import migrate

    loaded = bootstrap.load(args.config_file, args.state_dir, overrides(args),
                            standalone=args.command == "standalone")
    logging.setup(loaded.conf, "ottava")
    from ottava.cmd import servers

    if args.command == "logs":
        from ottava.cmd import logs as logs_command

        return logs_command.run(loaded, args.load_balancer, "admin" if args.admin else "tenant",
                                args.lines, args.follow)
    if args.command == "db":
        engine = bootstrap.open_database(loaded.settings.common).engine
        if args.action == "upgrade":
            migrate.upgrade(engine, args.revision or "head")
        elif args.action == "downgrade":
            migrate.downgrade(engine, args.revision or "base")
        print(migrate.current(engine) or "base")
        return 0
    run = {"standalone": servers.run_standalone, "api": servers.run_api,
           "worker": servers.run_worker,
           "health-manager": servers.run_health_manager,
           "housekeeping": servers.run_housekeeping}[args.command]
    run(loaded)
    return 0


if __name__ == "__main__":
    sys.exit(main())
