"""``hoststate db sync|version|status``: create, upgrade and inspect the schema."""
import os

import sqlalchemy as sa

from hoststate.cli import common
from hoststate.db import engine as db_engine
from hoststate.db import migration
from hoststate.db import schema


def add_commands(commands):
    db = commands.add_parser("db", help="create, upgrade or inspect the schema")
    actions = db.add_subparsers(dest="db_command", metavar="ACTION")
    actions.required = True
    sync = actions.add_parser(
        "sync", help="create the schema, or upgrade it to this release's")
    sync.add_argument("--revision", default="head",
                      help="revision to upgrade to (default: head)")
    sync.set_defaults(handler=sync_command)
    actions.add_parser("version", help="print the schema revision").set_defaults(
        handler=version_command)
    actions.add_parser(
        "status", help="print the revision and each table's row count"
    ).set_defaults(handler=status_command)


def _engine(args):
    conf = common.load_conf(args)
    url = db_engine.normalize_url(common.database_url(args, conf))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        os.makedirs(os.path.dirname(os.path.abspath(url.database)), exist_ok=True)
    return url, db_engine.create_engine(url)


def sync_command(args):
    url, engine = _engine(args)
    before = migration.current_revision(engine)
    after = migration.sync(engine, args.revision)
    where = url.render_as_string(hide_password=True)
    if before == after:
        print(f"{where}: already at revision {after}")
    else:
        print(f"{where}: upgraded from {before or 'an empty database'} "
              f"to revision {after}")


def version_command(args):
    _, engine = _engine(args)
    print(migration.current_revision(engine) or "none")


def status_command(args):
    url, engine = _engine(args)
    current = migration.current_revision(engine)
    head = migration.head_revision()
    print(f"database: {url.render_as_string(hide_password=True)}")
    if current is None:
        print("revision: none (run hoststate db sync)")
        return 1
    behind = "" if current == head else f" (this release: {head}; run " \
                                        f"hoststate db sync)"
    print(f"revision: {current}{behind}")
    with engine.connect() as conn:
        rows = [(table.name, conn.execute(
            sa.select(sa.func.count()).select_from(table)).scalar())
            for table in schema.metadata.sorted_tables]
    common.print_table(("table", "rows"), rows)
    return 0
