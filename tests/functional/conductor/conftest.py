"""A conductor serving the test's database, and an agent's side of it."""
import pytest
from oslo_config import cfg

from hoststate import conf as hconf
from hoststate import rpc
from hoststate.conductor import rpcapi
from hoststate.conductor import service
from hoststate.objects import indirection
from support.conductor import agent_context  # noqa: F401


@pytest.fixture(params=["local", "rabbit"])
def bus_conf(request):
    conf = hconf.load([], conf=cfg.ConfigOpts())
    conf.set_override("rpc_response_timeout", 20)
    if request.param == "rabbit":
        conf.set_override("transport_url",
                          request.getfixturevalue("rabbitmq_url"))
    yield conf
    rpc.cleanup()


@pytest.fixture
def conductor(bus_conf, ctx):
    """One conductor serving ``ctx``'s database; this process's remotable
    calls go to it (the test's own reads of the database use
    ``indirection.serving_locally()`` or plain SQL)."""
    server = service.make_server(bus_conf, ctx.engine, "conductor-1")
    server.start()
    api = rpcapi.use_conductor(bus_conf)
    try:
        yield api
    finally:
        indirection.set_api(None)
        server.stop()
        server.wait()


#: parameters whose variant runs on SQLite only (see below)
SQLITE_ONLY = {"bus_conf": "rabbit", "cloud": "agents through the conductor"}


def pytest_collection_modifyitems(config, items):
    """Over RabbitMQ, and the build flow's agents through the conductor,
    on SQLite only: what the broker or the conductor adds (JSON on the
    wire, the policy, a second process's view) is the same for every
    database, and each database is tested on the in-process bus with
    agents that have it. (A RabbitMQ server's stop costs about a second
    per test.)"""
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if any(params.get(name) == value
               for name, value in SQLITE_ONLY.items()) and \
                params.get("empty_database", "sqlite") != "sqlite":
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
