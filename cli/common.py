"""What every subcommand needs: the loaded configuration and a database."""
import argparse

from hoststate import conf as hs_conf
from hoststate import context as hs_context
from hoststate.db import engine as db_engine


def load_conf(args):
    """Load the files named on the command line into the process's CONF.

    The global CONF, because library code reads options from it (a compute
    node's default allocation ratios, for one).
    """
    return hs_conf.load(args=[], config_files=args.config_file)


def database_url(args, conf):
    return hs_conf.database_url(conf, override=args.database_url)


def admin_context(args):
    """An admin context on the database the command line and config name."""
    conf = load_conf(args)
    engine = db_engine.create_engine(database_url(args, conf))
    return hs_context.get_admin_context(engine=engine)


def print_table(headers, rows):
    """Rows as an aligned plain-text table, one line per row."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(str(cell))) for w, cell in zip(widths, row)]
    line = "  ".join("{:<%d}" % w for w in widths)
    print(line.format(*headers).rstrip())
    for row in rows:
        print(line.format(*(str(cell) for cell in row)).rstrip())


def int_at_least(low, what, flag=None):
    """An argparse ``type``: an integer of at least ``low``; anything else
    is a usage error saying it must be ``what`` (prefixed with ``flag``
    when given) and quoting what was typed."""
    prefix = f"{flag} " if flag else ""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(
                f"{prefix}must be {what}, not {text!r}")
        return value
    return parse
