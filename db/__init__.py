"""The SQL schema, engines, Alembic migrations and the few query functions objects are built from."""
