"""Service liveness: the servicegroup API and its db, zk and mc drivers."""
