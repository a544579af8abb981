"""Alembic migration scripts, run from code by hoststate.db.migration."""
