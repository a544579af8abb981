"""Alembic environment: runs on the connection hoststate hands it.

hoststate drives Alembic from code (``hoststate.db.migration``), never from
an alembic.ini, so the connection always arrives in ``config.attributes``.
"""
from alembic import context

from hoststate.db import schema


def _run(connection):
    context.configure(
        connection=connection,
        target_metadata=schema.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "hoststate migrations run through hoststate.db.migration, which "
        "passes a connection; there is no alembic.ini to read a URL from")
_run(connection)
