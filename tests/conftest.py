"""Fixtures every test can use; see support/databases.py."""
from support.databases import ctx, database, empty_database  # noqa: F401
