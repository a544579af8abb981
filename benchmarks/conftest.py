"""Fixtures for the benchmarks: the same databases the tests use."""
from support.databases import ctx, database, empty_database  # noqa: F401
