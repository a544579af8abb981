"""Create and upgrade the schema with Alembic, from code.

``hoststate db sync`` and the test fixtures call ``sync``; there is no
alembic.ini: the script location is the ``hoststate.db`` package itself, so
it works the same from a source tree and from an installed wheel.
"""
import alembic.command
import alembic.config
import alembic.runtime.migration
import alembic.script

from hoststate.db import engine as db_engine

SCRIPT_LOCATION = "hoststate.db:migrations"


def _alembic_config(connection=None):
    config = alembic.config.Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def head_revision():
    """The newest revision this release of hoststate knows."""
    script = alembic.script.ScriptDirectory.from_config(_alembic_config())
    return script.get_current_head()


def current_revision(engine):
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return alembic.runtime.migration.MigrationContext.configure(
            conn).get_current_revision()


def sync(engine_or_url, revision="head"):
    """Create or upgrade the schema to ``revision``; return the revision."""
    engine = engine_or_url
    if isinstance(engine_or_url, str):
        engine = db_engine.create_engine(engine_or_url)
    with engine.begin() as conn:
        alembic.command.upgrade(_alembic_config(conn), revision)
    return current_revision(engine)


def downgrade(engine, revision):
    with engine.begin() as conn:
        alembic.command.downgrade(_alembic_config(conn), revision)
    return current_revision(engine)
