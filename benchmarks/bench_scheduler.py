"""Scheduler costs: one select_destinations at 1k/10k/100k hosts, a stream
of placements in memory and with claims on PostgreSQL and MariaDB, and
HostManager load and refresh from PostgreSQL.

CI runs each once with small sizes (``--benchmark-disable``); run
``pytest benchmarks/bench_scheduler.py --benchmark-enable`` for the full
figures (goals: one select <= 0.25 ms at 10,000 hosts and <= 2 ms at
100,000; >= 2,000 placements/s in memory and >= 500/s with claims on
PostgreSQL at 10,000 hosts (MariaDB measured alongside); full load of
100,000 rows <= 3 s; refresh with 1% changed <= 50 ms; the liveness read
of 100,000 hosts, once per liveness_interval, measured beside it).
"""
import time
import uuid

import pytest
import sqlalchemy as sa
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate.conf import node_defaults
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec
from hoststate.scheduler import host_manager
from hoststate.scheduler import manager as manager_mod
from support import cloud
from support import cloud_mix
from support import host_tables
from support.ledger import violations
from run_mode import full_mode

FILTERS = ["ComputeFilter", "AvailabilityZoneFilter", "RamFilter",
           "CoreFilter", "DiskFilter", "ComputeCapabilitiesFilter",
           "ImagePropertiesFilter", "ServerGroupAntiAffinityFilter",
           "ServerGroupAffinityFilter"]


def _full(request):
    """Full sizes when timings are wanted (``--benchmark-enable``)."""
    return full_mode(request.config)


def _conf():
    options = cfg.ConfigOpts()
    hs_conf.load(args=[], config_files=[], conf=options)
    options.set_override("enabled_filters", FILTERS, group="filter_scheduler")
    return options


def _spec(zone="az2"):
    flavor = flavor_obj.Flavor(id=1, flavorid="m1", name="m1.medium",
                               vcpus=2, memory_mb=4096, root_gb=40,
                               ephemeral_gb=0, swap=0,
                               extra_specs={"capabilities:cpu_info:arch":
                                            "x86_64"})
    return request_spec.RequestSpec.from_components(
        str(uuid.uuid4()), flavor,
        image={"id": str(uuid.uuid4()),
               "properties": {"hw_architecture": "x86_64"}},
        availability_zone=zone, project_id="p1")


def _in_memory_scheduler(hosts, conf):
    nodes = cloud_mix.table_nodes(hosts)
    table = host_tables.make_table(
        nodes, aggregates=cloud_mix.aggregates([n["host"] for n in nodes]))
    manager = host_manager.HostManager(None, conf=conf)
    manager.table = table
    return manager_mod.Scheduler(manager, conf=conf, seed=1,
                                 claim_in_database=False, refresh=False)


def _measure_placements(benchmark, scheduler, spec, count):
    """Place ``count`` one-instance requests in a row; record the rate."""
    def place_all():
        started = time.perf_counter()
        for _ in range(count):
            scheduler.select_destinations(spec, [str(uuid.uuid4())],
                                          return_alternates=False)
        return count / (time.perf_counter() - started)

    rate = benchmark.pedantic(place_all, rounds=1, iterations=1)
    benchmark.extra_info["placements_per_second"] = round(rate)
    return rate


@pytest.mark.parametrize("hosts", [1_000, 10_000, 100_000])
def test_one_select_destinations(benchmark, hosts, request):
    if hosts == 100_000 and not _full(request):
        hosts = 20_000
    conf = _conf()
    scheduler = _in_memory_scheduler(hosts, conf)
    spec = _spec()
    uuids = [str(uuid.uuid4())]
    result = benchmark(scheduler.select_destinations, spec, uuids)
    assert result[0][0].availability_zone == "az2"


def test_placements_in_memory(benchmark, request):
    count = 10_000 if _full(request) else 500
    conf = _conf()
    scheduler = _in_memory_scheduler(10_000, conf)
    spec = _spec(zone=None)

    _measure_placements(benchmark, scheduler, spec, count)


@pytest.mark.parametrize("empty_database", ["postgresql", "mysql"],
                         indirect=True)
def test_placements_with_claims(benchmark, ctx, request):
    hosts, count = (10_000, 5_000) if _full(request) else (1_000, 200)
    conf = _conf()
    # nodes as their agents store them: usage = the reserved baseline
    reserved = node_defaults.resolve(conf)
    cloud.populate(ctx.engine, [dict(
        vcpus=64, memory_mb=524288, local_gb=4000,
        vcpus_used=reserved.reserved_vcpus,
        memory_mb_used=reserved.reserved_memory_mb,
        local_gb_used=reserved.reserved_disk_gb)] * hosts)
    manager = host_manager.HostManager(ctx, conf=conf).load()
    scheduler = manager_mod.Scheduler(manager, conf=conf, seed=1,
                                      refresh=False)
    spec = _spec(zone=None)

    _measure_placements(benchmark, scheduler, spec, count)
    with ctx.engine.connect() as conn:
        placed = conn.execute(sa.select(sa.func.count()).select_from(
            schema.instances)).scalar()
    assert placed == count
    # every claim wrote its ledger row with its counters
    assert violations(ctx.engine, conf) == []


@pytest.fixture
def big_cloud(ctx, request):
    hosts = 100_000 if _full(request) else 5_000
    cloud_mix.populate(ctx.engine, hosts)
    return hosts


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
def test_host_manager_full_load(benchmark, ctx, big_cloud):
    conf = _conf()
    manager = host_manager.HostManager(ctx, conf=conf)
    benchmark.pedantic(manager.load, rounds=3 if big_cloud > 10_000 else 1,
                       iterations=1)
    assert len(manager.table) == big_cloud


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
def test_host_manager_refresh_one_percent(benchmark, ctx, big_cloud):
    """The rows that moved, without the liveness read (its own interval,
    measured by ``test_host_manager_liveness_read``)."""
    conf = _conf()
    manager = host_manager.HostManager(ctx, conf=conf, refresh_overlap=0.0,
                                       liveness_interval=3600.0).load()
    nodes = schema.compute_nodes
    changed = max(1, big_cloud // 100)
    state = {"offset": 0}

    def change_one_percent():
        start = state["offset"]
        state["offset"] += changed
        with ctx.engine.begin() as conn:
            conn.execute(sa.update(nodes)
                         .where(nodes.c.id > start,
                                nodes.c.id <= start + changed)
                         .values(free_ram_mb=nodes.c.free_ram_mb - 1,
                                 generation=nodes.c.generation + 1,
                                 updated_at=db_api.server_utcnow()))
        time.sleep(0.01)
        return (), {}

    benchmark.pedantic(manager.refresh, setup=change_one_percent,
                       rounds=5, iterations=1)
    row = manager.table.row_of_uuid[next(iter(manager.table.row_of_uuid))]
    assert manager.table.generation[row] >= 1


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
def test_host_manager_liveness_read(benchmark, ctx, big_cloud):
    """The ``up`` column of every host from the db driver, as a refresh
    does once per ``liveness_interval`` (ids in, a bool column out)."""
    conf = _conf()
    manager = host_manager.HostManager(ctx, conf=conf).load()

    benchmark.pedantic(manager.refresh_liveness, kwargs={"force": True},
                       rounds=5 if big_cloud > 10_000 else 1, iterations=1)
    table = manager.table
    assert len(table.up_of_host) == big_cloud
    # the shapes' forced-down services (about 1%) are down, the rest up
    assert 0 < big_cloud - int(table.up[table.live_rows()].sum()) < \
        big_cloud // 20
