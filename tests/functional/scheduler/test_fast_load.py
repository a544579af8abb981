"""The column-at-a-time load gives the table the per-node path gives.

A HostManager load reads the nodes as columns (``nodes.NodeColumns``) and
writes the table a column at a time; a claim or a re-read writes one node
through ``HostTable.write_nodes``. On every backend, a cloud with every
kind of column (NUMA, PCI, traits, metrics, stats, aggregates and zones,
ratios unset or 0.0, disk_available_least, NULL documents), deleted rows,
disabled, forced-down, stale and missing services must load into exactly
the table that writing its rows one at a time builds; and a refresh after
changes must hold exactly what a full load of the changed database holds.
"""
import datetime
import json

import sqlalchemy as sa

from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import pci as pci_obj
from hoststate.objects import traits
from hoststate.scheduler import db_reader
from hoststate.scheduler import host_manager
from hoststate.scheduler import service_rows
from hoststate.scheduler import host_table
from hoststate.scheduler.records import AggregateRecord
from hoststate.servicegroup import api as sg_api
from support import cloud
from support import table_snapshot
from unit.hardware import numa_builders as nb

NODES = schema.compute_nodes
SERVICES = schema.services


def _manager(ctx, conf):
    return host_manager.HostManager(
        ctx, conf=conf, refresh_overlap=0.0, aggregates_interval=0.0,
        liveness_interval=0.0)


def _server_now(engine):
    with engine.connect() as conn:
        return db_reader.server_now(conn)


def _pools(*numa_nodes):
    return pci_obj.PciDevicePoolList.from_dicts([
        dict(vendor_id="8086", product_id="154c", numa_node=node, count=2,
             dev_type="type-VF") for node in numa_nodes]).to_json()


def _metrics(**values):
    return json.dumps([{"name": k.replace("_", "."), "value": v,
                        "source": "fake", "timestamp": None}
                       for k, v in values.items()])


def _shapes():
    """Twelve nodes, each with something the others lack."""
    numa = nb.nova_numa_topology().to_json()
    numa_ht = nb.nova_numa_topology_w_ht().to_json()
    return [
        dict(numa_topology=numa, pci_stats=_pools(0, 1)),
        dict(numa_topology=numa_ht, pci_stats=_pools(None)),
        dict(numa_topology=numa, disk_available_least=20),  # + traits
        dict(),                                       # + driver traits
        dict(metrics=_metrics(cpu_percent=0.25, cpu_frequency=2400)),
        dict(cpu_allocation_ratio=None, ram_allocation_ratio=0.0,
             disk_allocation_ratio=None, host_ip="10.0.0.7"),
        dict(free_disk_gb=None),                      # not ready
        dict(cpu_info="", supported_instances=None, stats=None,
             hypervisor_type="ironic"),               # NULL documents
        dict(stats=json.dumps({"num_instances": "7", "io_workload": "2",
                               "failed_builds": "1"}),
             vcpus_used=5, memory_mb_used=4096, local_gb_used=30),
        dict(disabled=True),
        dict(forced_down=True),
        dict(),                                       # service deleted
    ]


def _varied_cloud(engine):
    """The cloud of ``_shapes``, plus: a second node on host 0 (one service,
    two nodes), two soft-deleted nodes, host 11's service deleted, host
    4's heartbeat stale, and aggregates (three zones, one host in two)."""
    hosts = cloud.populate(engine, _shapes())
    _set_traits(engine, hosts[2], ["HW_CPU_X86_AVX2"], ["CUSTOM_GOLD"])
    _set_traits(engine, hosts[3], ["HW_CPU_X86_AVX2"], [])
    with engine.begin() as conn:
        service_0 = conn.execute(sa.select(SERVICES.c.id).where(
            SERVICES.c.host == hosts[0])).scalar()
        conn.execute(sa.insert(NODES), [cloud.node_values(
            hosts[0], "baremetal-b", service_0,
            numa_topology=nb.nova_numa_topology().to_json())])
        conn.execute(sa.insert(NODES), [
            dict(cloud.node_values(hosts[1], f"gone-{i}", None),
                 deleted=1 + i, deleted_at=db_api.utcnow())
            for i in range(2)])
        conn.execute(sa.update(SERVICES).where(SERVICES.c.host == hosts[11])
                     .values(deleted=SERVICES.c.id))
        conn.execute(sa.update(SERVICES).where(SERVICES.c.host == hosts[4])
                     .values(last_seen_up=datetime.datetime(2001, 1, 1)))
    cloud.add_aggregate(engine, "z1", hosts[0:4],
                        {"availability_zone": "az1"})
    cloud.add_aggregate(engine, "z2", hosts[4:8],
                        {"availability_zone": "az2", "ssd": "true"})
    cloud.add_aggregate(engine, "fast", hosts[2:6], {"cpu_weight": "2.0"})
    cloud.add_aggregate(engine, "empty", [], {})
    return hosts


def _set_traits(engine, nodename, driver, operator):
    with engine.begin() as conn:
        conn.execute(sa.update(NODES).where(
            NODES.c.hypervisor_hostname == nodename).values(
            driver_traits=traits.to_text(driver),
            operator_traits=traits.to_text(operator)))


def _one_at_a_time(ctx, conf):
    """The table of the database at ``ctx``, built as the per-node paths
    build it: each node row written alone (``write_nodes`` of one
    mapping), each service alone, liveness asked service by service."""
    manager = _manager(ctx, conf)
    table = host_table.HostTable(
        default_availability_zone=conf.default_availability_zone)
    with ctx.engine.connect() as conn:
        rows = conn.execute(sa.select(NODES).where(NODES.c.deleted == 0)
                            .order_by(NODES.c.id)).all()
        services, _ = db_reader.read_services(conn)
        aggregates = db_reader.read_aggregates(conn)
    table.set_aggregates(aggregates)
    for service in services:
        table.set_services([service])
    for row in rows:
        table.write_nodes([row._mapping], cell=host_manager.DEFAULT_CELL_UUID,
                          ratio_defaults=manager.ratio_defaults())
    group = sg_api.API(conf=conf, context=ctx)
    for service in services:
        [up] = group.services_up([service_rows.as_dict(service)])
        table.set_up({service.host: up})
    return table


def _same(left, right):
    found = table_snapshot.differences(table_snapshot.snapshot(left),
                                       table_snapshot.snapshot(right))
    assert found == []


def test_a_load_is_the_table_of_its_rows_written_one_by_one(ctx, conf):
    _varied_cloud(ctx.engine)
    loaded = _manager(ctx, conf).load().table

    _same(loaded, _one_at_a_time(ctx, conf))


def test_a_load_holds_nova_values_for_every_kind_of_node(ctx, conf):
    """The values, worked out by hand from ``_shapes``, so the comparison
    above cannot pass on two equally wrong tables."""
    hosts = _varied_cloud(ctx.engine)
    table = _manager(ctx, conf).load().table
    snap = table_snapshot.snapshot(table)

    def node(host, name=None):
        row = table.row_of_host_node[(host, name or host)]
        return snap["nodes"][table.uuid[row]]

    # 12 shapes + a second node on host 0; the deleted nodes are absent
    assert snap["size"] == 13
    assert node(hosts[0], "baremetal-b")["numa_topology"] == \
        nb.nova_numa_topology().to_json()
    assert node(hosts[0])["pci_stats"] == _pools(0, 1)
    assert table.value("numa_topology", table.row_of_host_node[
        (hosts[1], hosts[1])]).cells[0].id == 0
    # free_disk_mb = min(disk_available_least 20, free_disk_gb 1000) * 1024
    assert node(hosts[2])["free_disk_mb"] == 20 * 1024
    assert node(hosts[3])["free_disk_mb"] == 1000 * 1024
    assert table.value("traits", table.row_of_host_node[
        (hosts[2], hosts[2])]) == frozenset({"HW_CPU_X86_AVX2",
                                             "CUSTOM_GOLD"})
    assert table.metric("cpu.percent")[table.row_of_host_node[
        (hosts[4], hosts[4])]] == 25.0
    # unset ratios: the configured initial ones (cpu 4.0, ram 1.0, disk 1.0)
    ratios = node(hosts[5])
    assert (ratios["cpu_allocation_ratio"], ratios["ram_allocation_ratio"],
            ratios["disk_allocation_ratio"], ratios["host_ip"]) == \
        (4.0, 1.0, 1.0, "10.0.0.7")
    assert (node(hosts[6])["ready"], node(hosts[6])["free_disk_mb"]) == \
        (False, 0.0)
    assert (node(hosts[7])["cpu_info"], node(hosts[7])["stats"],
            node(hosts[7])["hypervisor_type"]) == ("", None, "ironic")
    busy = node(hosts[8])
    assert (busy["num_instances"], busy["num_io_ops"], busy["failed_builds"],
            busy["vcpus_used"], busy["free_ram_mb"], busy["disk_mb_used"]) \
        == (7.0, 2.0, 1.0, 5.0, 131072.0 - 4096, 30.0 * 1024)
    flags = {i: (node(hosts[i])["has_service"], node(hosts[i])["disabled"],
                 node(hosts[i])["forced_down"], node(hosts[i])["up"])
             for i in (3, 4, 9, 10, 11)}
    assert flags == {3: (True, False, False, True),
                     4: (True, False, False, False),       # stale
                     9: (True, True, False, True),
                     10: (True, False, True, False),
                     11: (False, False, False, False)}     # no service
    zones = {i: node(hosts[i])["zone"] for i in (0, 3, 4, 7, 8)}
    assert zones == {0: "az1", 3: "az1", 4: "az2", 7: "az2", 8: "nova"}
    assert [a.name for a in table.aggregates_of_set(table.aggregate_codes[
        table.row_of_host_node[(hosts[2], hosts[2])]])] == ["z1", "fast"]
    assert sorted(table.host_of(r) for r in table.live_rows()
                  if table.candidates()[r]) == \
        sorted([hosts[0]] + [hosts[i] for i in range(11) if i != 6])


def _change_everything(engine, hosts):
    """One of each change a refresh must pick up."""
    now = _server_now(engine)
    with engine.begin() as conn:
        # usage and a document change
        conn.execute(sa.update(NODES).where(
            NODES.c.hypervisor_hostname == hosts[8]).values(
            free_ram_mb=1000, vcpus_used=9, pci_stats=_pools(0),
            generation=NODES.c.generation + 1, updated_at=now))
        # a node deleted
        conn.execute(sa.update(NODES).where(
            NODES.c.hypervisor_hostname == hosts[3]).values(
            deleted=NODES.c.id, deleted_at=now, updated_at=now))
        # a service disabled, another enabled
        conn.execute(sa.update(SERVICES).where(
            SERVICES.c.host == hosts[0]).values(disabled=True,
                                                updated_at=now))
        conn.execute(sa.update(SERVICES).where(
            SERVICES.c.host == hosts[9]).values(disabled=False,
                                                updated_at=now))
        # a service deleted: its nodes stay, without a service
        conn.execute(sa.update(SERVICES).where(
            SERVICES.c.host == hosts[5]).values(
            deleted=SERVICES.c.id, deleted_at=now, updated_at=now))
    # a new host with its node
    cloud.populate(engine, [dict(numa_topology=_pools_free_numa())],
                   host_format="late{:02d}")
    # aggregates: a host joins a zone, another aggregate changes metadata
    with engine.begin() as conn:
        z1 = conn.execute(sa.select(schema.aggregates.c.id).where(
            schema.aggregates.c.name == "z1")).scalar()
        conn.execute(sa.insert(schema.aggregate_hosts).values(
            aggregate_id=z1, host=hosts[8], created_at=db_api.utcnow()))
        conn.execute(sa.update(schema.aggregate_metadata).where(
            schema.aggregate_metadata.c.key == "availability_zone",
            schema.aggregate_metadata.c.value == "az2").values(
            value="az9", updated_at=db_api.utcnow()))


def _pools_free_numa():
    return nb.nova_numa_topology_w_ht().to_json()


def test_a_refresh_after_changes_holds_what_a_full_load_holds(ctx, conf):
    hosts = _varied_cloud(ctx.engine)
    refreshed = _manager(ctx, conf).load()
    _change_everything(ctx.engine, hosts)

    refreshed.refresh()

    _same(refreshed.table, _manager(ctx, conf).load().table)
    table = refreshed.table
    assert (hosts[3], hosts[3]) not in table.row_of_host_node
    row = table.row_of_host_node[(hosts[8], hosts[8])]
    assert (table.free_ram_mb[row], table.vcpus_used[row]) == (1000, 9)
    assert table.zone_codes()[1][table.aggregate_codes[row]] == "az1"
    assert table.has_service[table.row_of_host_node[(hosts[5],
                                                     hosts[5])]] == False  # noqa: E712


def test_a_refresh_that_reads_nothing_new_changes_nothing(ctx, conf):
    _varied_cloud(ctx.engine)
    manager = _manager(ctx, conf).load()
    before = table_snapshot.snapshot(manager.table)

    manager.refresh()

    assert table_snapshot.differences(
        before, table_snapshot.snapshot(manager.table)) == []


def test_rows_read_again_in_the_overlap_are_not_rewritten(ctx, conf):
    """With an overlap every refresh reads the last changes again; a node
    at the generation and host the table holds is skipped (its row keeps
    what a claim may have written since)."""
    hosts = cloud.populate(ctx.engine, [{}, {}])
    manager = host_manager.HostManager(ctx, conf=conf, refresh_overlap=60.0,
                                       servicegroup=host_manager.ALL_UP)
    manager.load()
    row = manager.table.row_of_host_node[(hosts[0], hosts[0])]
    manager.table.columns["free_ram_mb"][row] = 5.0   # as a consume would

    manager.refresh()

    assert manager.table.free_ram_mb[row] == 5.0


def test_write_columns_reuses_the_rows_of_deleted_nodes(ctx, conf):
    hosts = cloud.populate(ctx.engine, [{}, {}, {}])
    manager = _manager(ctx, conf).load()
    gone = manager.table.row_of_host_node[(hosts[1], hosts[1])]
    with ctx.engine.begin() as conn:
        conn.execute(sa.update(NODES).where(
            NODES.c.hypervisor_hostname == hosts[1]).values(
            deleted=NODES.c.id, deleted_at=db_api.server_utcnow()))
    manager.refresh()
    later = cloud.populate(ctx.engine, [{}], host_format="late{:02d}")

    manager.refresh()

    assert manager.table.row_of_host_node[(later[0], later[0])] == gone
    assert manager.table.size == 3
    _same(manager.table, _manager(ctx, conf).load().table)


def test_aggregate_records_keep_hosts_and_metadata(ctx, conf):
    hosts = _varied_cloud(ctx.engine)
    with ctx.engine.connect() as conn:
        found = {a.name: a for a in db_reader.read_aggregates(conn)}
    assert isinstance(found["z1"], AggregateRecord)
    assert (found["z1"].hosts, found["z2"].metadata, found["empty"].hosts) \
        == (frozenset(hosts[0:4]), {"availability_zone": "az2",
                                    "ssd": "true"}, frozenset())


def test_a_liveness_read_writes_the_answers_that_moved(ctx, conf):
    hosts = cloud.populate(ctx.engine, [{}] * 4)
    manager = _manager(ctx, conf).load()
    now = _server_now(ctx.engine)
    with ctx.engine.begin() as conn:
        # stale, in a row written since the load (refresh reads it again)
        conn.execute(sa.update(SERVICES).where(SERVICES.c.host == hosts[1])
                     .values(last_seen_up=datetime.datetime(2001, 1, 1),
                             updated_at=now))

    manager.refresh()

    table = manager.table
    assert {h: bool(table.up[table.row_of_host_node[(h, h)]])
            for h in hosts} == {hosts[0]: True, hosts[1]: False,
                                hosts[2]: True, hosts[3]: True}
    _same(table, _manager(ctx, conf).load().table)


def test_a_new_service_is_asked_about_at_once(ctx, conf):
    cloud.populate(ctx.engine, [{}])
    manager = host_manager.HostManager(ctx, conf=conf, refresh_overlap=0.0,
                                       liveness_interval=3600.0).load()
    later = cloud.populate(ctx.engine, [{}], host_format="late{:02d}")

    manager.refresh()

    row = manager.table.row_of_host_node[(later[0], later[0])]
    assert (bool(manager.table.up[row]),
            manager.table.up_of_host[later[0]]) == (True, True)
