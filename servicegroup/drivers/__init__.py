"""Liveness drivers: db (heartbeats in the services table), zk (ephemeral
znodes in ZooKeeper), mc (expiring keys in memcached)."""
