"""The hoststate command line."""
