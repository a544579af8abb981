"""What every subcommand needs: the loaded configuration and a database."""
import argparse

from hoststate import conf as hs_conf
from hoststate import context as hs_context
from hoststate.db import engine as db_engine


def load_conf(args):
    """Load the files named on the command line into the process's CONF.

    The global CONF, because library code reads options from it (a compute
    node's default allocation ratios, for one). A file that is missing,
    not text or not INI is ConfigFileInvalid naming it (hoststate.conf
    says so).
    """
    return hs_conf.load(args=[], config_files=args.config_file)


def database_url(args, conf):
    return hs_conf.database_url(conf, override=args.database_url)


def admin_context(args):
    """An admin context on the database the command line and config name."""
    conf = load_conf(args)
    engine = db_engine.create_engine(database_url(args, conf))
    return hs_context.get_admin_context(engine=engine)


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


def int_between(low, high, flag=None):
    """An argparse ``type``: an integer from ``low`` to ``high`` inclusive;
    anything else is a usage error naming ``flag``, the range and (the
    start of) what was typed. A huge number is refused as typed, before
    anything is sized by it."""
    prefix = f"{flag} " if flag else ""

    def parse(text):
        try:
            value = int(text)
        except ValueError:      # not a number, or more digits than int reads
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{prefix}must be an integer from {low:,} to {high:,}, "
                f"not {typed(text)}")
        return value
    return parse


#: how much of a refused argument a usage error quotes
TYPED_SHOWN = 40


def typed(text):
    """What was typed, as a usage error quotes it: in quotes, its start
    only when it is long (a 5,000-digit number is not worth a screenful)."""
    if len(text) > TYPED_SHOWN:
        text = text[:TYPED_SHOWN - 3] + "..."
    return repr(text)
