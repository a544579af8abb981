"""A refresh after heartbeats (issue 14): every heartbeat stamps its
service's ``updated_at``, so a refresh reads the service again; a row
that only heartbeat is written into the held record in place (its stamps)
without touching the table's columns or version, and any other change,
even one heartbeated over before the refresh, is taken whole."""
import sqlalchemy as sa

from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.scheduler import host_manager
from hoststate.servicegroup.drivers import db_bulk
from support import cloud
from support import table_snapshot

SERVICES = schema.services


def _manager(ctx, conf):
    return host_manager.HostManager(
        ctx, conf=conf, refresh_overlap=0.0, aggregates_interval=0.0,
        servicegroup=host_manager.ALL_UP).load()


def _heartbeat(engine, hosts):
    """One bulk heartbeat of ``hosts``, the statement the db driver runs."""
    with engine.begin() as conn:
        ids = list(conn.execute(sa.select(SERVICES.c.id).where(
            SERVICES.c.host.in_(hosts))).scalars())
        conn.execute(db_bulk._HEARTBEAT, {"ids": ids})


def _stored(engine, host):
    with engine.connect() as conn:
        return conn.execute(sa.select(SERVICES).where(
            SERVICES.c.host == host)).one()


def _same_as_a_load(manager, ctx, conf):
    found = table_snapshot.differences(
        table_snapshot.snapshot(manager.table),
        table_snapshot.snapshot(_manager(ctx, conf).table))
    assert found == []


def test_a_heartbeat_restamps_the_held_service_and_leaves_the_table(
        ctx, conf):
    hosts = cloud.populate(ctx.engine, [{}, {}])
    manager = _manager(ctx, conf)
    held = manager.table.services[hosts[0]]
    version = manager.table.version

    _heartbeat(ctx.engine, hosts)
    manager.refresh()

    stored = _stored(ctx.engine, hosts[0])
    assert manager.table.services[hosts[0]] is held
    assert (held.last_seen_up, held.updated_at, manager.table.version) == \
        (stored.last_seen_up, stored.updated_at, version)
    _same_as_a_load(manager, ctx, conf)


def test_a_change_heartbeated_over_before_the_refresh_is_taken(ctx, conf):
    hosts = cloud.populate(ctx.engine, [{}, {}])
    manager = _manager(ctx, conf)
    with ctx.engine.begin() as conn:
        conn.execute(sa.update(SERVICES).where(SERVICES.c.host == hosts[1])
                     .values(disabled=True, disabled_reason="maintenance",
                             generation=SERVICES.c.generation + 1,
                             updated_at=db_api.server_utcnow()))
    _heartbeat(ctx.engine, hosts)      # the last write is a heartbeat

    manager.refresh()

    table = manager.table
    assert {h: bool(table.disabled[table.row_of_host_node[(h, h)]])
            for h in hosts} == {hosts[0]: False, hosts[1]: True}
    assert table.services[hosts[1]].disabled_reason == "maintenance"
    _same_as_a_load(manager, ctx, conf)
