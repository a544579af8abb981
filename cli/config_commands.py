"""``hoststate config show``: the options as hoststate uses them.

The values are the effective ones: what the files, the environment and
the command line made of them. ``[database] connection`` is the database
the commands use: ``--database-url`` when given, else the option, else the
SQLite file under ``[DEFAULT] state_path``. A secret option shows
``****``, except a URL, which shows with its password masked
(``mysql+pymysql://nova:***@db/nova``): where it points is worth seeing.
"""
import dataclasses

import sqlalchemy as sa

from hoststate import conf as hs_conf
from hoststate.cli import common
from hoststate.cli import output
from hoststate.db import engine as db_engine

#: What a secret value that is not a URL shows as.
MASK = "****"


@dataclasses.dataclass(frozen=True)
class OptionRow:
    group: str
    option: str
    value: object


def add_commands(commands):
    config = commands.add_parser(
        "config", help="show the configuration hoststate reads")
    actions = config.add_subparsers(dest="config_command", metavar="ACTION")
    actions.required = True
    show = actions.add_parser(
        "show", help="print every option's effective value (secrets masked)")
    show.add_argument("--group", help="only this group (DEFAULT for the "
                                      "options outside any group)")
    output.add_format_option(show, OptionRow)
    show.set_defaults(handler=show_command)


def show_command(args):
    conf = common.load_conf(args)
    output.emit_list(args, OptionRow, effective_options(
        conf, database_url=args.database_url, group=args.group))


def effective_options(conf, database_url=None, group=None):
    """OptionRows of every option (of ``group`` only, when given), sorted
    by group then name, as the commands use them."""
    rows = []
    for name, opts in hs_conf.list_opts():
        if group and group != name:
            continue
        section = conf if name == "DEFAULT" else conf[name]
        for opt in sorted(opts, key=lambda o: o.dest):
            value = section[opt.dest]
            if (name, opt.dest) == ("database", "connection"):
                value = hs_conf.database_url(conf, override=database_url)
            rows.append(OptionRow(name, opt.dest,
                                  masked(value) if opt.secret else value))
    return rows


def masked(value):
    """A secret as it may be shown: a URL with its password masked, any
    other value as MASK (None stays None: nothing to hide)."""
    if value is None:
        return None
    if isinstance(value, str) and "://" in value:
        try:
            return db_engine.shown(value)
        except (ValueError, sa.exc.ArgumentError):  # not a URL after all
            return MASK
    return MASK
