"""The ``hoststate`` command: global options, then one subcommand.

    hoststate [--config-file FILE ...] [--database-url URL] [--debug]
              COMMAND ... [--config-file FILE ...] [--database-url URL]
              [--debug]

The global options may come after the command too. Given in both places,
the later one wins: ``--database-url`` after the command replaces the one
before it, and every ``--config-file`` is read, those before the command
first (a later file overrides an earlier one, as always).

Configuration is read the way Nova reads it (oslo.config, the same option
names), so an existing nova.conf can be passed as is.

Only the module of the command being run is imported: ``hoststate
--help`` and ``--version`` import none, and the parser lists the other
commands from :data:`COMMANDS` alone. Failures are explained by
:mod:`hoststate.cli.failures` (one line, documented exit statuses).
"""
import argparse
import importlib
import os
import re
import sys
import traceback

from hoststate import version
from hoststate.cli import failures

#: (module under hoststate.cli, {command: one-line help}), in the order
#: ``hoststate --help`` lists them. The module defines the command's
#: arguments in ``add_commands``; it is imported only when its command runs.
COMMANDS = (
    ("db_commands", {
        "db": "create, upgrade or inspect the schema"}),
    ("config_commands", {
        "config": "show the configuration hoststate reads"}),
    ("simulate_command", {
        "simulate": "simulate a cloud: agents, a request stream and a "
                    "scheduler, then report"}),
    ("host_commands", {
        "host-list": "list hosts with their services and zones",
        "host-describe": "a host's capacity, usage and usage by project",
        "host-update": "enable or disable a compute host, or put it in or "
                       "out of maintenance (through the driver of the "
                       "machine this runs on)",
        "host-action": "start up, shut down or reboot a host through the "
                       "virt driver of the machine this runs on"}),
    ("service_commands", {
        "service-list": "list services: zone, enabled or disabled, up or "
                        "down"}),
    ("hypervisor_commands", {
        "hypervisor-list": "list compute nodes with their service's state "
                           "and status",
        "hypervisor-show": "every detail of one compute node",
        "hypervisor-stats": "capacity and usage summed over the enabled "
                            "compute nodes",
        "hypervisor-delete": "delete a compute node its driver no longer "
                             "reports"}),
    ("scheduler_command", {
        "scheduler": "serve select_destinations on the bus until stopped"}),
    ("conductor_command", {
        "conductor": "serve agents without database access and the build "
                     "flow on the bus until stopped"}),
    ("compute_command", {
        "compute": "run a compute agent: register this host and its nodes, "
                   "keep them up to date until stopped"}),
    ("boot_commands", {
        "boot": "build instances through the conductor (no database "
                "needed)",
        "delete": "delete an instance through the conductor"}),
    ("cell_commands", {
        "cell-add": "record this cell's parent or a child cell",
        "cell-list": "list this cell's parent and children",
        "cell-remove": "forget this cell's parent or a child cell",
        "cell-capacities": "what this cell's cells service holds of its "
                           "own and its children's capacity"}),
    ("cells_command", {
        "cells": "run this cell's cells service until stopped"}),
)

#: dest of each global option given after the command (merged by
#: _merge_late_options)
_LATE = {"config_file": "late_config_file", "database_url": "late_database_url",
         "debug": "late_debug"}


def _global_options(parser, late=False):
    """--config-file, --database-url and --debug on ``parser``; after the
    command (``late``) they default to nothing at all, so that an option
    not given there leaves the global one alone. An option the command
    defines itself is left to it."""
    def where(name, default):
        if late:
            return dict(dest=_LATE[name], default=argparse.SUPPRESS)
        return dict(dest=name, default=default)

    known = parser._option_string_actions
    if "--config-file" not in known:
        parser.add_argument(
            "--config-file", action="append", metavar="FILE",
            help="a nova.conf-style file; may be given several times, later "
                 "files override earlier ones", **where("config_file", []))
    if "--database-url" not in known:
        parser.add_argument(
            "--database-url", metavar="URL",
            help="database to use instead of [database] connection "
                 "(default: an SQLite file under [DEFAULT] state_path)",
            **where("database_url", None))
    if "--debug" not in known:
        parser.add_argument(
            "--debug", action="store_true",
            help="show tracebacks (and debug log messages) instead of "
                 "one-line errors", **where("debug", False))


#: how argparse starts the message of an argument's error: "argument
#: --nodes: " (names joined with "/")
_ARGUMENT_PREFIX = re.compile(r"argument (?P<names>[^:]+): (?P<rest>.*)",
                              re.DOTALL)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, as every other
    expected failure of the command (see :mod:`hoststate.cli.failures`)::

        hoststate simulate: --nodes must be ...; see hoststate simulate --help

    exit status 2, as argparse's own. The usage block argparse prints
    before its error is left to ``--help``, whose output is unchanged.
    Every parser made through ``add_subparsers`` is of this class too
    (argparse gives subparsers their parent's class).
    """

    def error(self, message):
        line = f"{self.prog}: {usage_message(message)}; see {self.prog} --help"
        self.exit(failures.EXIT_CONFIG, line + "\n")

    def parse_args(self, args=None, namespace=None):
        """argparse's, but an unrecognized argument is the error of the
        command it was given to (``hoststate simulate: unrecognized
        arguments: --x; see hoststate simulate --help``), not of
        ``hoststate``."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self._command_parser(parsed).error(
                f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _command_parser(self, parsed):
        """The innermost (sub)parser the parse went through."""
        parser = self
        while True:
            chosen = next((action for action in parser._actions if
                           isinstance(action, argparse._SubParsersAction)),
                          None)
            name = getattr(parsed, chosen.dest, None) if chosen else None
            if name not in getattr(chosen, "choices", {}):
                return parser
            parser = chosen.choices[name]


def usage_message(message):
    """argparse's ``message`` in one line, without its "argument --x: "
    when the rest names the option already (``common.int_between``'s
    messages do)."""
    message = failures.one_line(message)
    found = _ARGUMENT_PREFIX.fullmatch(message)
    if found and any(found["rest"].startswith(f"{name} ")
                     for name in found["names"].split("/")):
        return found["rest"]
    return message


def _top_parser():
    parser = OneLineParser(
        prog="hoststate",
        description="Resource tracking and host selection for Nova-style "
                    "clouds.",
        epilog="Exit status: 0 success, 1 failure, 2 usage or configuration "
               "error, 3 simulate found broken invariants, 128+N stopped by "
               "signal N (130: Ctrl-C).")
    parser.add_argument("--version", action="version",
                        version=f"hoststate {version.version_string()}")
    _global_options(parser)
    return parser


def command_named(argv):
    """The command ``argv`` names (its first positional argument after the
    global options), or None."""
    globals_only = argparse.ArgumentParser(add_help=False,
                                           exit_on_error=False)
    _global_options(globals_only)
    for words in (argv, argv[:-1]):     # an option's value missing at
        try:                            # the end: the real parser says so
            _, rest = globals_only.parse_known_args(words)
        except argparse.ArgumentError:
            continue
        return next((word for word in rest if not word.startswith("-")),
                    None)
    return None


def build_parser(argv=(), load=None):
    """The parser of ``hoststate``: the command ``argv`` names (or every
    module in ``load``) with its real arguments, the others as
    placeholders that only know their name and help."""
    wanted = command_named(list(argv))
    load = set(load or ())
    parser = _top_parser()
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for module_name, helps in COMMANDS:
        if wanted in helps or module_name in load:
            importlib.import_module(
                f"hoststate.cli.{module_name}").add_commands(commands)
            continue
        for name, text in helps.items():
            placeholder = commands.add_parser(name, help=text, add_help=False)
            placeholder.add_argument("rest", nargs=argparse.REMAINDER)
            placeholder.set_defaults(placeholder_module=module_name)
    for sub in _leaf_parsers(commands):
        _global_options(sub, late=True)
    return parser


def _leaf_parsers(action):
    """Every parser under a subparsers ``action`` that runs a command."""
    for sub in dict.fromkeys(action.choices.values()):
        nested = [a for a in sub._actions
                  if isinstance(a, argparse._SubParsersAction)]
        if nested:
            for each in nested:
                yield from _leaf_parsers(each)
        elif "placeholder_module" not in sub._defaults:
            yield sub


def parse(argv):
    """The parsed arguments, the global options after the command merged
    into the global ones."""
    _refuse_undecodable(argv)
    args = build_parser(argv).parse_args(argv)
    if getattr(args, "placeholder_module", None):
        # the first guess at the command was wrong (an unusual spelling of
        # the global options): parse again with its module loaded
        args = build_parser(argv, load=[args.placeholder_module]).parse_args(
            argv)
    return _merge_late_options(args)


def _refuse_undecodable(argv):
    """A usage error for an argument that is not text: a lone surrogate
    (bytes of the command line that were not UTF-8, which Python keeps
    as surrogates) reaches no name, no database and no output intact."""
    for position, argument in enumerate(argv, start=1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise failures.UsageError(
                f"argument {position} is not UTF-8 text (character "
                f"{exc.start + 1} of it)") from None


def _merge_late_options(args):
    values = vars(args)
    late_files = values.pop("late_config_file", [])
    late_url = values.pop("late_database_url", None)
    late_debug = values.pop("late_debug", False)
    args.config_file = args.config_file + late_files
    if late_url is not None:
        args.database_url = late_url
    args.debug = args.debug or late_debug
    return args


def main(argv=None):
    """Run the command ``argv`` (default: the process's arguments); returns
    its exit status (see :mod:`hoststate.cli.failures`)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    restore_logging = None
    debug = "--debug" in argv
    try:
        args = parse(argv)
        debug = args.debug
        from hoststate.cli import logs
        restore_logging = logs.configure(
            debug, service=getattr(args, "log_as_service", False))
        if hasattr(args, "view_fields"):
            from hoststate.cli import output
            output.check_options(args)
        status = args.handler(args) or 0
        sys.stdout.flush()
        return status
    except (Exception, KeyboardInterrupt) as exc:
        failure = failures.explain(exc)
        if failure is None:
            raise                       # a bug: its traceback is the report
        if isinstance(exc, BrokenPipeError):
            _drop_stdout()
        if debug:
            traceback.print_exc()
        elif failure.line is not None:
            print(f"hoststate: {failure.line}", file=sys.stderr)
        return failure.status
    finally:
        if restore_logging is not None:
            restore_logging()


def _drop_stdout():
    """The reader of stdout went away: send what is left to /dev/null, so
    that Python's flush at exit does not complain about it."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):       # not a real file (a test's capture)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
