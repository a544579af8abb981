"""Alembic migrations build exactly the schema the code declares, and
0003 back-fills the allocation ledger of a database as 0002 left it."""
import uuid as uuid_lib

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.dialects import mysql as mysql_types

from hoststate.db import migration
from hoststate.db import schema
from hoststate.objects import fields
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import migration_context as mc_obj


def test_sync_builds_the_declared_schema(empty_database):
    engine = empty_database.engine
    assert migration.current_revision(engine) is None

    assert migration.sync(engine) == migration.head_revision() == "0007"

    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}),
            schema.metadata)
    assert diff == []


def test_sync_twice_is_a_no_op(empty_database):
    engine = empty_database.engine
    migration.sync(engine)
    assert migration.sync(engine) == "0007"


def test_downgrade_to_base_removes_every_table(empty_database):
    engine = empty_database.engine
    migration.sync(engine)
    assert migration.downgrade(engine, "base") is None
    with engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}


# --- 0003: the ledger back-filled from a database as 0002 left it ------------
#
# The rows are written with SQLAlchemy Core against the tables reflected
# from the 0002 database (the versioned objects expect the head schema).

NODE_A, NODE_B = "node-a", "node-b"
SMALL = dict(vcpus=2, memory_mb=2048, root_gb=20)        # disk 20 GiB
VOLUME = dict(vcpus=1, memory_mb=1024, root_gb=40, ephemeral_gb=5)
SWAP = dict(vcpus=1, memory_mb=512, root_gb=10, swap=512)  # 10.5 -> 11
OLD = dict(vcpus=2, memory_mb=4096, root_gb=30)
NEW = dict(vcpus=4, memory_mb=8192, root_gb=50, ephemeral_gb=10,
           swap=1024)                                       # 61 GiB


def _uuid(name):
    return str(uuid_lib.uuid5(uuid_lib.NAMESPACE_URL, name))


def _flavor(name, sizes):
    return flavor_obj.Flavor(flavorid=name, name=name, **sizes)


def _tables_at(conn):
    tables = sa.MetaData()
    tables.reflect(conn, only=("services", "compute_nodes", "instances",
                               "migrations"))
    return tables.tables


def _insert(conn, table, **values):
    return conn.execute(sa.insert(table).values(**values)) \
        .inserted_primary_key[0]


def _node(conn, tables, service_id, name):
    return _insert(conn, tables["compute_nodes"], uuid=_uuid(name),
                   service_id=service_id, host="compute1",
                   hypervisor_hostname=name, vcpus=32, memory_mb=65536,
                   local_gb=1000, hypervisor_type="fake",
                   hypervisor_version=1, cpu_info="{}",
                   cpu_allocation_ratio=1.1)


def _instance(conn, tables, name, node_id, flavor, image_ref="image-1",
              **values):
    flavor = _flavor(name, flavor)
    columns = dict(uuid=_uuid(name), display_name=name, host="compute1",
                   node=NODE_A, compute_id=node_id, vm_state="active",
                   image_ref=image_ref, flavor=fields.dump_json(flavor),
                   vcpus=flavor.vcpus, memory_mb=flavor.memory_mb,
                   root_gb=flavor.root_gb, ephemeral_gb=flavor.ephemeral_gb)
    columns.update(values)
    return _insert(conn, tables["instances"], **columns)


def _migration(conn, tables, instance, status, dest_id):
    return _insert(conn, tables["migrations"], uuid=_uuid(f"move-{instance}"),
                   instance_uuid=_uuid(instance), source_compute="compute1",
                   source_node=NODE_A, dest_compute="compute1",
                   dest_node=NODE_B, dest_host="compute1",
                   dest_compute_id=dest_id, status=status,
                   migration_type="resize")


def _moved(conn, tables, name, node_a, node_b, status, **instance):
    """An instance resized from OLD on node A to NEW on node B, with a
    migration in ``status`` that its migration context names; the
    instance's columns (placement, flavor, states) from ``instance``."""
    _instance(conn, tables, name, **instance)
    migration_id = _migration(conn, tables, name, status, node_b)
    context = mc_obj.MigrationContext(
        instance_uuid=_uuid(name), migration_id=migration_id,
        old_flavor=_flavor("old", OLD), new_flavor=_flavor("new", NEW))
    instances = tables["instances"]
    conn.execute(sa.update(instances)
                 .where(instances.c.uuid == _uuid(name))
                 .values(migration_context=fields.dump_json(context)))


def _cloud_at_0002(engine):
    """Two nodes and instances in every case the back-fill tells apart;
    returns the ids of nodes A and B."""
    with engine.begin() as conn:
        tables = _tables_at(conn)
        service_id = _insert(conn, tables["services"], uuid=_uuid("svc"),
                             host="compute1", binary="nova-compute",
                             topic="compute")
        node_a = _node(conn, tables, service_id, NODE_A)
        node_b = _node(conn, tables, service_id, NODE_B)
        _instance(conn, tables, "active", node_a, SMALL)
        _instance(conn, tables, "from-volume", node_a, VOLUME, image_ref=None)
        _instance(conn, tables, "with-swap", node_b, SWAP, node=NODE_B)
        # soft-deleted (deleted = id): the column alone rules it out
        gone = _instance(conn, tables, "deleted", node_a, SMALL)
        instances = tables["instances"]
        conn.execute(sa.update(instances).where(instances.c.id == gone)
                     .values(deleted=gone))
        _instance(conn, tables, "vm-deleted", node_a, SMALL,
                  vm_state="deleted")
        _instance(conn, tables, "offloaded", node_a, SMALL,
                  vm_state="shelved_offloaded")
        _instance(conn, tables, "unplaced", None, SMALL, host=None, node=None)
        _moved(conn, tables, "resizing", node_a, node_b, "pre-migrating",
               node_id=node_a, flavor=OLD, task_state="resize_prep")
        # a move that is over (its context left behind): the instance holds
        # the new flavor on node B, its migration nothing
        _moved(conn, tables, "resized", node_a, node_b, "confirmed",
               node_id=node_b, node=NODE_B, flavor=NEW)
    return node_a, node_b


def _ledger(engine):
    table = schema.allocations
    with engine.connect() as conn:
        return set(conn.execute(sa.select(
            table.c.consumer_uuid, table.c.instance_uuid,
            table.c.compute_node_id, table.c.vcpus, table.c.memory_mb,
            table.c.disk_gb)).all())


def _expected_ledger(node_a, node_b):
    def row(consumer, instance, node, vcpus, memory_mb, disk_gb):
        return (_uuid(consumer), _uuid(instance), node, vcpus, memory_mb,
                disk_gb)
    return {
        row("active", "active", node_a, 2, 2048, 20),
        row("from-volume", "from-volume", node_a, 1, 1024, 5),
        row("with-swap", "with-swap", node_b, 1, 512, 11),
        row("resizing", "resizing", node_a, 2, 4096, 30),
        row("move-resizing", "resizing", node_b, 4, 8192, 61),
        row("resized", "resized", node_b, 4, 8192, 61),
    }


def test_0003_back_fills_the_ledger_from_instances_and_moves(
        empty_database):
    engine = empty_database.engine
    assert migration.sync(engine, "0002") == "0002"
    node_a, node_b = _cloud_at_0002(engine)

    assert migration.sync(engine, "0003") == "0003"

    assert _ledger(engine) == _expected_ledger(node_a, node_b)


def test_0003_downgrades_and_upgrades_again(empty_database):
    engine = empty_database.engine
    migration.sync(engine, "0002")
    node_a, node_b = _cloud_at_0002(engine)
    migration.sync(engine)

    assert migration.downgrade(engine, "0002") == "0002"
    with engine.connect() as conn:
        assert "allocations" not in sa.inspect(conn).get_table_names()

    assert migration.sync(engine, "0003") == "0003"
    assert _ledger(engine) == _expected_ledger(node_a, node_b)


def _ratio_times_ten(engine, name):
    """The node's cpu ratio x 10, multiplied in SQL as the scheduler's
    claim does (MySQL prints a FLOAT column rounded to 6 digits; the
    arithmetic shows the single-precision value)."""
    nodes = schema.compute_nodes
    with engine.connect() as conn:
        return conn.execute(sa.select(nodes.c.cpu_allocation_ratio * 10)
                            .where(nodes.c.hypervisor_hostname == name)
                            ).scalar_one()


def test_0003_keeps_ratios_in_double_precision(empty_database):
    engine = empty_database.engine
    migration.sync(engine, "0002")
    _cloud_at_0002(engine)
    single = empty_database.backend == "mysql"
    # MySQL's FLOAT is single precision: 1.1 is 1.100000023841858 there
    assert (_ratio_times_ten(engine, NODE_A) == 11.0) is not single

    migration.sync(engine)

    assert _ratio_times_ten(engine, NODE_A) == 11.0   # the noise rounded off
    nodes = schema.compute_nodes
    with engine.begin() as conn:
        conn.execute(sa.update(nodes)
                     .where(nodes.c.hypervisor_hostname == NODE_B)
                     .values(cpu_allocation_ratio=1.2345678901234))
        stored = conn.execute(sa.select(nodes.c.cpu_allocation_ratio).where(
            nodes.c.hypervisor_hostname == NODE_B)).scalar_one()
    assert stored == 1.2345678901234
    if single:
        with engine.connect() as conn:
            columns = {c["name"]: c["type"] for c in
                       sa.inspect(conn).get_columns("compute_nodes")}
        for name in ("cpu_allocation_ratio", "ram_allocation_ratio",
                     "disk_allocation_ratio"):
            assert isinstance(columns[name], mysql_types.DOUBLE), name
