"""The compute proxy: serves remotable object calls to processes without database access."""
