"""HostManager against real databases: load, refresh by watermark, deletes,
nodes without services or not ready, aggregates, liveness in bulk."""
import datetime

import sqlalchemy as sa

from hoststate import exception
from hoststate.db import schema
from hoststate.scheduler import host_manager
from hoststate.servicegroup import api as sg_api
from support import cloud


def _manager(ctx, conf, **kwargs):
    kwargs.setdefault("refresh_overlap", 0.0)
    kwargs.setdefault("aggregates_interval", 0.0)
    return host_manager.HostManager(ctx, conf=conf, **kwargs).load()


def _set_node(engine, nodename, **values):
    """Write a node row as a tracker does: server-stamped, generation+1."""
    table = schema.compute_nodes
    with engine.begin() as conn:
        conn.execute(sa.update(table)
                     .where(table.c.hypervisor_hostname == nodename)
                     .values(generation=table.c.generation + 1,
                             updated_at=_server_now(conn), **values))


def _server_now(conn):
    from hoststate.db import api as db_api
    return conn.execute(sa.select(db_api.server_utcnow())).scalar()


def _free_ram(manager):
    table = manager.table
    return {table.host_of(r): float(table.free_ram_mb[r])
            for r in table.live_rows()}


def test_load_reads_every_live_node_with_nova_scalars(ctx, conf):
    hosts = cloud.populate(ctx.engine, [
        dict(memory_mb=4096, memory_mb_used=1024, local_gb=100,
             local_gb_used=10, disk_available_least=50),
        dict(memory_mb=8192)])
    manager = _manager(ctx, conf)
    state = manager.host_state(hosts[0], hosts[0])
    # free_disk_mb = min(disk_available_least 50, free_disk_gb 90) * 1024
    assert (state.free_ram_mb, state.total_usable_ram_mb, state.free_disk_mb,
            state.disk_mb_used) == (3072, 4096, 50 * 1024, 10 * 1024)
    assert sorted(manager.host_state_map) == [(h, h) for h in hosts]


def test_a_node_without_service_or_not_ready_is_not_a_candidate(ctx, conf):
    hosts = cloud.populate(ctx.engine, [{}, {}, dict(free_disk_gb=None)])
    with ctx.engine.begin() as conn:
        conn.execute(sa.update(schema.services)
                     .where(schema.services.c.host == hosts[0])
                     .values(deleted=schema.services.c.id))
    manager = _manager(ctx, conf)
    assert sorted(manager.host_state_map) == [(hosts[1], hosts[1])]


def test_refresh_reads_changed_rows_and_forgets_deleted_nodes(ctx, conf):
    hosts = cloud.populate(ctx.engine, [dict(memory_mb=4096)] * 3)
    manager = _manager(ctx, conf)
    _set_node(ctx.engine, hosts[1], free_ram_mb=1000, memory_mb_used=3096)
    with ctx.engine.begin() as conn:
        conn.execute(sa.update(schema.compute_nodes)
                     .where(schema.compute_nodes.c.hypervisor_hostname ==
                            hosts[2])
                     .values(deleted=schema.compute_nodes.c.id,
                             deleted_at=_server_now(conn)))
    manager.refresh()
    assert _free_ram(manager) == {hosts[0]: 4096.0, hosts[1]: 1000.0}


def test_refresh_sees_new_nodes_and_new_services(ctx, conf):
    cloud.populate(ctx.engine, [{}])
    manager = _manager(ctx, conf)
    later = cloud.populate(ctx.engine, [dict(memory_mb=2048)],
                           host_format="late{:02d}")
    manager.refresh()
    assert manager.host_state(later[0], later[0]).free_ram_mb == 2048


def test_refresh_ignores_rows_older_than_the_watermark(ctx, conf):
    """A row changed without moving updated_at is not re-read: the proof
    that refresh reads only what the watermark says moved."""
    hosts = cloud.populate(ctx.engine, [dict(memory_mb=4096)])
    manager = _manager(ctx, conf)
    old = datetime.datetime(2000, 1, 1)
    with ctx.engine.begin() as conn:
        conn.execute(sa.update(schema.compute_nodes)
                     .values(free_ram_mb=1, updated_at=old))
    manager.refresh()
    assert _free_ram(manager) == {hosts[0]: 4096.0}


def test_disabling_a_service_reaches_the_table_on_refresh(ctx, conf):
    hosts = cloud.populate(ctx.engine, [{}, {}])
    manager = _manager(ctx, conf)
    with ctx.engine.begin() as conn:
        conn.execute(sa.update(schema.services)
                     .where(schema.services.c.host == hosts[0])
                     .values(disabled=True, updated_at=_server_now(conn)))
    manager.refresh()
    row = manager.table.row_of_host_node[(hosts[0], hosts[0])]
    assert bool(manager.table.disabled[row]) is True


def test_aggregates_and_zones_follow_the_database(ctx, conf):
    hosts = cloud.populate(ctx.engine, [{}, {}])
    manager = _manager(ctx, conf)
    assert manager.host_state(hosts[0], hosts[0]).availability_zone == "nova"
    cloud.add_aggregate(ctx.engine, "rack1", [hosts[0]],
                        {"availability_zone": "az1"})
    manager.refresh()
    assert [manager.host_state(h, h).availability_zone for h in hosts] == \
        ["az1", "nova"]
    assert [a.name for a in manager.host_state(hosts[0], hosts[0])
            .aggregates] == ["rack1"]


def test_aggregates_are_looked_at_once_per_interval(ctx, conf):
    hosts = cloud.populate(ctx.engine, [{}])
    manager = _manager(ctx, conf, aggregates_interval=3600)
    cloud.add_aggregate(ctx.engine, "rack1", hosts, {"availability_zone":
                                                     "az1"})
    manager.refresh()           # within the interval: not looked at
    assert manager.host_state(hosts[0], hosts[0]).availability_zone == "nova"
    manager.load()              # a full load always reads them
    assert manager.host_state(hosts[0], hosts[0]).availability_zone == "az1"


class _Liveness:
    def __init__(self, up, fail=False):
        self.up = up
        self.fail = fail
        self.calls = []

    def services_up(self, services):
        self.calls.append([s["host"] for s in services])
        if self.fail:
            raise exception.ServiceGroupUnavailable(driver="test",
                                                    reason="down")
        return [self.up.get(s["host"], False) for s in services]


def test_liveness_is_one_bulk_call_and_kept_when_unknown(ctx, conf):
    hosts = cloud.populate(ctx.engine, [{}, {}, {}])
    liveness = _Liveness({hosts[0]: True, hosts[1]: False, hosts[2]: True})
    manager = _manager(ctx, conf, servicegroup=liveness,
                       liveness_interval=0)
    table = manager.table
    up = {table.host_of(r): bool(table.up[r]) for r in table.live_rows()}
    assert up == {hosts[0]: True, hosts[1]: False, hosts[2]: True}
    assert len(liveness.calls) == 1 and sorted(liveness.calls[0]) == hosts
    liveness.fail = True
    manager.refresh()
    assert {table.host_of(r): bool(table.up[r])
            for r in table.live_rows()} == up


def test_an_outage_of_liveness_is_one_warning_and_one_recovery_line(
        ctx, conf, caplog):
    hosts = cloud.populate(ctx.engine, [{}])
    liveness = _Liveness({hosts[0]: True})
    manager = _manager(ctx, conf, servicegroup=liveness,
                       liveness_interval=0)
    caplog.set_level("DEBUG", logger="hoststate.scheduler.host_manager")
    liveness.fail = True
    for _ in range(5):
        manager.refresh()
    liveness.fail = False
    manager.refresh()
    manager.refresh()
    lines = [(r.levelname, r.getMessage().split(":")[0].split(" after")[0])
             for r in caplog.records if r.levelname != "DEBUG"]
    assert lines == [
        ("WARNING", "Liveness unknown, keeping the last answers until it "
                    "is known again"),
        ("INFO", "Liveness known again")]
    assert len([r for r in caplog.records if r.levelname == "DEBUG" and
                "still unknown" in r.getMessage()]) == 4


def test_liveness_from_the_db_driver(ctx, conf):
    hosts = cloud.populate(ctx.engine, [{}, {}])
    stale = datetime.datetime(2000, 1, 1)
    with ctx.engine.begin() as conn:
        conn.execute(sa.update(schema.services)
                     .where(schema.services.c.host == hosts[1])
                     .values(last_seen_up=stale, created_at=stale))
    group = sg_api.API(conf, context=ctx)
    manager = _manager(ctx, conf, servicegroup=group)
    table = manager.table
    assert {table.host_of(r): bool(table.up[r])
            for r in table.live_rows()} == {hosts[0]: True, hosts[1]: False}


def _make_stale(engine, host):
    stale = datetime.datetime(2000, 1, 1)
    with engine.begin() as conn:
        conn.execute(sa.update(schema.services)
                     .where(schema.services.c.host == host)
                     .values(last_seen_up=stale, created_at=stale))


def _up(manager):
    table = manager.table
    return {table.host_of(r): bool(table.up[r]) for r in table.live_rows()}


def test_by_default_liveness_comes_from_the_configured_driver(ctx, conf):
    """No servicegroup argument: the driver servicegroup_driver names (db
    here) answers, so a host whose last heartbeat is years old is down,
    and never chosen."""
    hosts = cloud.populate(ctx.engine, [{}, {}])
    _make_stale(ctx.engine, hosts[1])
    manager = _manager(ctx, conf)
    assert _up(manager) == {hosts[0]: True, hosts[1]: False}
    assert type(manager.servicegroup.driver).__name__ == "DbDriver"


def test_the_default_driver_is_the_given_configurations(ctx, conf):
    """servicegroup_driver = mc in the configuration the manager was given
    (not the process's CONF): an in-process memcached store nobody joined,
    so every host is down."""
    hosts = cloud.populate(ctx.engine, [{}, {}])
    conf.set_override("servicegroup_driver", "mc")
    manager = _manager(ctx, conf)
    assert type(manager.servicegroup.driver).__name__ == "MemcachedDriver"
    assert _up(manager) == {hosts[0]: False, hosts[1]: False}


def test_all_up_is_an_explicit_opt_out(ctx, conf):
    hosts = cloud.populate(ctx.engine, [{}, {}])
    _make_stale(ctx.engine, hosts[1])
    manager = _manager(ctx, conf, servicegroup=host_manager.ALL_UP)
    assert _up(manager) == {hosts[0]: True, hosts[1]: True}
