"""Fixtures every test can use; see support/databases.py."""
from support.databases import (  # noqa: F401
    ctx, database, databases_dropped_at_the_end, empty_database)
# Real ZooKeeper and memcached servers, one of each per test session.
from support.memcached import memcached_factory, memcached_server  # noqa: F401,E402
from support.zookeeper import zookeeper_server  # noqa: F401,E402
# The real RabbitMQ broker: one vhost per test session.
from support.rabbitmq import (  # noqa: F401,E402
    rabbitmq_module_vhosts, rabbitmq_url, rabbitmq_vhost, rabbitmq_vhosts)
