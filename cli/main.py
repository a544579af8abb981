"""The ``hoststate`` command: global options, then one subcommand.

    hoststate [--config-file FILE ...] [--database-url URL] COMMAND ...

Configuration is read the way Nova reads it (oslo.config, the same option
names), so an existing nova.conf can be passed as is.
"""
import argparse
import sys
import warnings

# oslo.versionedobjects imports oslo.messaging, which imports eventlet only
# to warn that eventlet is deprecated; hoststate never uses eventlet, and
# a command's stderr is for its own messages.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

from hoststate import exception  # noqa: E402
from hoststate import version
from hoststate.cli import compute_command
from hoststate.cli import config_commands
from hoststate.cli import db_commands
from hoststate.cli import host_commands
from hoststate.cli import hypervisor_commands
from hoststate.cli import service_commands
from hoststate.cli import simulate_command

COMMAND_MODULES = (db_commands, config_commands, simulate_command,
                   host_commands, service_commands, hypervisor_commands,
                   compute_command)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="hoststate",
        description="Resource tracking and host selection for Nova-style "
                    "clouds.")
    parser.add_argument("--version", action="version",
                        version=f"hoststate {version.version_string()}")
    parser.add_argument(
        "--config-file", action="append", default=[], metavar="FILE",
        help="a nova.conf-style file; may be given several times, later "
             "files override earlier ones")
    parser.add_argument(
        "--database-url", metavar="URL",
        help="database to use instead of [database] connection (default: "
             "an SQLite file under [DEFAULT] state_path)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for module in COMMAND_MODULES:
        module.add_commands(commands)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args) or 0
    except exception.ConfigInvalid as exc:
        print(f"hoststate: configuration error: {exc}", file=sys.stderr)
        return 2
    except exception.HoststateError as exc:
        print(f"hoststate: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
