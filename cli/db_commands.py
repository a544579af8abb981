"""``hoststate db sync|version|status``: create, upgrade and inspect the schema.

``db sync --revision`` takes ``head`` (the default) or one of this
release's revisions (:func:`known_revisions`); anything else is a usage
error (exit 2) listing them. It only upgrades: asked for a revision older
than the database's, it changes nothing and says so.

``db status`` of a database without a schema (an SQLite file that does
not exist is not created) fails with one line saying to run ``hoststate
db sync`` (exit 1); ``db version`` prints ``none`` for it.
"""
import argparse
import os

import alembic.config
import alembic.script
import sqlalchemy as sa

from hoststate.cli import common
from hoststate.cli import output
from hoststate.db import engine as db_engine
from hoststate.db import migration
from hoststate.db import schema


def add_commands(commands):
    db = commands.add_parser("db", help="create, upgrade or inspect the schema")
    actions = db.add_subparsers(dest="db_command", metavar="ACTION")
    actions.required = True
    sync = actions.add_parser(
        "sync", help="create the schema, or upgrade it to this release's")
    sync.add_argument("--revision", default="head", type=_revision,
                      help="revision to upgrade to: head (the default) or "
                           "one of this release's; never a downgrade")
    sync.set_defaults(handler=sync_command)
    actions.add_parser("version", help="print the schema revision").set_defaults(
        handler=version_command)
    actions.add_parser(
        "status", help="print the revision and each table's row count"
    ).set_defaults(handler=status_command)


def known_revisions():
    """This release's schema revisions, oldest first."""
    config = alembic.config.Config()
    config.set_main_option("script_location", migration.SCRIPT_LOCATION)
    script = alembic.script.ScriptDirectory.from_config(config)
    return [each.revision for each in reversed(list(script.walk_revisions()))]


def _revision(text):
    """An argparse ``type``: head or a revision of this release, checked
    before alembic (which says a wrong one with a traceback)."""
    if text == "head":
        return text
    known = known_revisions()
    if text not in known:
        raise argparse.ArgumentTypeError(
            f"--revision must be head or one of this release's revisions "
            f"({', '.join(known)}), not {common.typed(text)}")
    return text


def _engine(args, create=False):
    """(URL, engine) of the database the command line and configuration
    name. An SQLite file in a missing directory is SQLiteDirectoryMissing,
    whatever the command: hoststate creates no directory for a path it was
    given, except, with ``create`` (``db sync``), its own state directory
    ([DEFAULT] state_path) when the database is the default one there."""
    conf = common.load_conf(args)
    url = db_engine.normalize_url(common.database_url(args, conf))
    if create and _is_default_database(args, conf):
        os.makedirs(os.path.dirname(url.database), exist_ok=True)
    db_engine.require_sqlite_directory(url)
    return url, db_engine.create_engine(url)


def _is_default_database(args, conf):
    return not args.database_url and not conf.database.connection


def _absent(url):
    """Whether ``url`` is an SQLite file that does not exist (reading its
    revision must not create it)."""
    return url.get_backend_name() == "sqlite" and \
        not db_engine.is_sqlite_memory(url) and \
        not os.path.exists(url.database)


def sync_command(args):
    url, engine = _engine(args, create=True)
    try:
        before = migration.current_revision(engine)
    except sa.exc.DBAPIError as exc:
        # this command creates the schema: the remedy stops short of it
        raise db_engine.explain_error(exc, url, creates_schema=True) from exc
    after = migration.sync(engine, args.revision)
    where = url.render_as_string(hide_password=True)
    if before != after:
        print(f"{where}: upgraded from {before or 'an empty database'} "
              f"to revision {after}")
    elif args.revision in ("head", after):
        print(f"{where}: already at revision {after}")
    else:
        print(f"{where}: at revision {after}, newer than {args.revision}; "
              f"db sync does not downgrade")


def version_command(args):
    url, engine = _engine(args)
    current = None if _absent(url) else migration.current_revision(engine)
    print(current or "none")


def status_command(args):
    url, engine = _engine(args)
    if _absent(url):
        raise db_engine.DatabaseUnavailable(
            f"database {db_engine.shown(url)} does not exist",
            "run hoststate db sync to create it")
    current = migration.current_revision(engine)
    if current is None:
        raise db_engine.DatabaseUnavailable(
            f"database {db_engine.shown(url)} has no hoststate schema",
            "run hoststate db sync")
    head = migration.head_revision()
    print(f"database: {url.render_as_string(hide_password=True)}")
    behind = "" if current == head else f" (this release: {head}; run " \
                                        f"hoststate db sync)"
    print(f"revision: {current}{behind}")
    with engine.connect() as conn:
        present = set(sa.inspect(conn).get_table_names())
        # a database behind this release lacks the newer tables
        rows = [(table.name, conn.execute(
            sa.select(sa.func.count()).select_from(table)).scalar()
            if table.name in present else "absent")
            for table in schema.metadata.sorted_tables]
    output.print_table(("table", "rows"), rows)
    return 0
