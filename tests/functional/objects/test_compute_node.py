"""ComputeNode persistence on SQLite, PostgreSQL and MariaDB."""
import pytest
import sqlalchemy as sa
from oslo_config import cfg
from oslo_serialization import jsonutils

from hoststate import conf as hs_conf
from hoststate import exception
from hoststate.db import schema
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import hv_spec
from hoststate.objects import numa
from hoststate.objects import pci
from hoststate.objects import service as service_obj

NODE_UUID = "1b5b1a54-7a4e-4c35-a2c7-3f0f4a9e0c11"


def _topology():
    return numa.NUMATopology(cells=[
        numa.NUMACell(id=0, cpuset={0, 1}, pcpuset={2, 3}, memory=1024,
                      siblings=[{0, 2}, {1, 3}], socket=0),
        numa.NUMACell(id=1, cpuset={4, 5}, pcpuset={6, 7}, memory=1024,
                      siblings=[{4, 6}, {5, 7}], socket=1),
    ])


def _node(ctx, **overrides):
    values = dict(
        uuid=NODE_UUID, host="host1", hypervisor_hostname="node1", vcpus=8,
        memory_mb=2048, local_gb=100, vcpus_used=0, memory_mb_used=512,
        local_gb_used=0, free_ram_mb=1536, free_disk_gb=100,
        hypervisor_type="QEMU", hypervisor_version=8002000,
        cpu_info='{"arch": "x86_64"}', host_ip="192.0.2.10",
        supported_hv_specs=[hv_spec.HVSpec.from_list(["x86_64", "kvm", "hvm"])],
        stats={"num_instances": "0"}, numa_topology=_topology(),
        pci_device_pools=pci.PciDevicePoolList(objects=[pci.PciDevicePool(
            vendor_id="10de", product_id="20b5", numa_node=1, count=2,
            tags={"dev_type": "type-PF"})]),
        cpu_allocation_ratio=16.0, ram_allocation_ratio=1.5,
        disk_allocation_ratio=1.0)
    values.update(overrides)
    node = cn_obj.ComputeNode(ctx, **values)
    node.create()
    return node


def _rows(ctx):
    with ctx.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(schema.compute_nodes).order_by(schema.compute_nodes.c.id))]


def test_create_then_get_returns_every_field_as_stored(ctx):
    created = _node(ctx)

    loaded = cn_obj.ComputeNode.get_by_uuid(ctx, NODE_UUID)

    for name in ("id", "uuid", "host", "hypervisor_hostname", "vcpus",
                 "memory_mb", "local_gb", "memory_mb_used", "free_ram_mb",
                 "hypervisor_type", "hypervisor_version", "cpu_info",
                 "cpu_allocation_ratio", "ram_allocation_ratio", "generation"):
        assert getattr(loaded, name) == getattr(created, name), name
    assert str(loaded.host_ip) == "192.0.2.10"
    assert [s.to_list() for s in loaded.supported_hv_specs] == \
        [["x86_64", "kvm", "hvm"]]
    assert loaded.stats == {"num_instances": "0"}
    assert [(c.id, c.cpuset, c.pcpuset, c.socket)
            for c in loaded.numa_topology.cells] == \
        [(0, {0, 1}, {2, 3}, 0), (1, {4, 5}, {6, 7}, 1)]
    pool = loaded.pci_device_pools.objects[0]
    assert (pool.vendor_id, pool.product_id, pool.numa_node, pool.count,
            pool.tags) == ("10de", "20b5", 1, 2, {"dev_type": "type-PF"})
    assert loaded.obj_what_changed() == set()


def test_other_getters_find_the_same_node(ctx):
    node = _node(ctx)
    assert cn_obj.ComputeNode.get_by_id(ctx, node.id).uuid == NODE_UUID
    assert cn_obj.ComputeNode.get_by_host_and_nodename(
        ctx, "host1", "node1").id == node.id
    assert cn_obj.ComputeNode.get_by_nodename(ctx, "node1").id == node.id


@pytest.mark.parametrize("getter, args, message", [
    ("get_by_uuid", ("0d9c9d5e-0000-4000-8000-000000000000",),
     "Compute node 0d9c9d5e-0000-4000-8000-000000000000 could not be found"),
    ("get_by_host_and_nodename", ("host1", "nodeX"),
     "Compute node host1/nodeX could not be found"),
    ("get_by_id", (4242,), "Compute node 4242 could not be found"),
])
def test_missing_node_is_a_named_error(ctx, getter, args, message):
    with pytest.raises(exception.ComputeNodeNotFound) as err:
        getattr(cn_obj.ComputeNode, getter)(ctx, *args)
    assert str(err.value) == message


def test_save_writes_only_what_changed_and_bumps_generation(ctx):
    node = _node(ctx)
    node.vcpus_used = 4
    node.save()

    assert node.generation == 1
    assert node.obj_what_changed() == set()
    row = _rows(ctx)[0]
    assert (row["vcpus_used"], row["generation"]) == (4, 1)
    assert row["updated_at"] is not None


def test_save_with_nothing_changed_writes_nothing(ctx):
    node = _node(ctx)
    created = _rows(ctx)[0]["updated_at"]
    node.save()
    assert created is not None      # a new node is a change for schedulers
    assert (_rows(ctx)[0]["generation"], _rows(ctx)[0]["updated_at"]) == \
        (0, created)


def test_changes_inside_the_numa_topology_are_saved(ctx):
    node = _node(ctx)
    node.numa_topology.cells[0].pin_cpus({2})
    node.save()
    loaded = cn_obj.ComputeNode.get_by_uuid(ctx, NODE_UUID)
    assert loaded.numa_topology.cells[0].pinned_cpus == {2}
    assert loaded.generation == 1


def test_lost_race_raises_and_leaves_the_winner_in_place(ctx):
    mine = _node(ctx)
    theirs = cn_obj.ComputeNode.get_by_uuid(ctx, NODE_UUID)
    theirs.vcpus_used = 2
    theirs.save()

    mine.vcpus_used = 6
    with pytest.raises(exception.GenerationConflict):
        mine.save()

    assert cn_obj.ComputeNode.get_by_uuid(ctx, NODE_UUID).vcpus_used == 2
    assert (mine.vcpus_used, mine.generation) == (6, 0)
    assert "vcpus_used" in mine.obj_what_changed()


def test_destroy_soft_deletes_unless_the_host_changed(ctx):
    node = _node(ctx)
    stale = cn_obj.ComputeNode.get_by_uuid(ctx, NODE_UUID)
    node.host = "host2"              # taken over by another compute host
    node.save()

    with pytest.raises(exception.ObjectActionError):
        stale.destroy()
    node.destroy()

    with pytest.raises(exception.ComputeNodeNotFound):
        cn_obj.ComputeNode.get_by_uuid(ctx, NODE_UUID)
    assert cn_obj.ComputeNode.get_by_uuid(
        ctx.with_read_deleted("yes"), NODE_UUID).deleted is True
    assert _rows(ctx)[0]["deleted"] == node.id


def test_duplicate_host_and_nodename_is_a_named_error(ctx):
    _node(ctx)
    with pytest.raises(exception.DuplicateRecord) as err:
        _node(ctx, uuid="2b5b1a54-7a4e-4c35-a2c7-3f0f4a9e0c11")
    assert err.value.table == "compute_nodes"
    assert len(_rows(ctx)) == 1


@pytest.mark.parametrize("field, value", [
    ("vcpus", -1), ("memory_mb", -512), ("local_gb", "lots"),
    ("hypervisor_version", -3), ("cpu_allocation_ratio", -1.0),
    ("host_ip", "not-an-ip"), ("uuid", "not-a-uuid"),
])
def test_bad_input_is_rejected_naming_the_field_and_nothing_is_written(
        ctx, field, value):
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        _node(ctx, **{field: value})
    assert (err.value.objname, err.value.field, err.value.value) == \
        ("ComputeNode", field, value)
    assert _rows(ctx) == []


def test_unknown_field_is_rejected_and_nothing_is_written(ctx):
    with pytest.raises(exception.UnknownObjectField) as err:
        _node(ctx, free_disk_mb=10)
    assert err.value.field == "free_disk_mb"
    assert _rows(ctx) == []


def test_unset_allocation_ratios_come_from_config(ctx):
    conf = hs_conf.CONF
    conf.set_override("cpu_allocation_ratio", 3.0)
    try:
        _node(ctx, cpu_allocation_ratio=None, ram_allocation_ratio=0.0,
              disk_allocation_ratio=None)
        loaded = cn_obj.ComputeNode.get_by_uuid(ctx, NODE_UUID)
    finally:
        conf.clear_override("cpu_allocation_ratio")
    # configured cpu ratio wins; ram and disk fall back to initial_* (1.0)
    assert (loaded.cpu_allocation_ratio, loaded.ram_allocation_ratio,
            loaded.disk_allocation_ratio) == (3.0, 1.0, 1.0)


def test_unset_allocation_ratios_come_from_the_conf_the_reader_passes(ctx):
    """A scheduler with a configuration of its own reads a node with it
    (``_from_db_object(..., conf=)``); without one the process's CONF."""
    own = cfg.ConfigOpts()
    hs_conf.load(args=[], config_files=[], conf=own)
    own.set_override("initial_ram_allocation_ratio", 1.5)
    own.set_override("disk_allocation_ratio", 2.0)
    _node(ctx, cpu_allocation_ratio=None, ram_allocation_ratio=0.0,
          disk_allocation_ratio=None)
    [row] = _rows(ctx)
    read = cn_obj.ComputeNode._from_db_object(
        ctx, cn_obj.ComputeNode(ctx), row, conf=own)
    assert (read.cpu_allocation_ratio, read.ram_allocation_ratio,
            read.disk_allocation_ratio) == (4.0, 1.5, 2.0)
    assert read.obj_what_changed() == set()
    loaded = cn_obj.ComputeNode.get_by_uuid(ctx, NODE_UUID)
    assert (loaded.cpu_allocation_ratio, loaded.ram_allocation_ratio,
            loaded.disk_allocation_ratio) == (4.0, 1.0, 1.0)


def test_list_queries(ctx):
    service = service_obj.Service(ctx, host="host1", binary="nova-compute",
                                  topic="compute")
    service.create()
    first = _node(ctx, service_id=service.id)
    second = _node(ctx, uuid="3b5b1a54-7a4e-4c35-a2c7-3f0f4a9e0c11",
                   hypervisor_hostname="node2")
    _node(ctx, uuid="4b5b1a54-7a4e-4c35-a2c7-3f0f4a9e0c11", host="host2",
          hypervisor_hostname="node3")

    assert [n.hypervisor_hostname for n in
            cn_obj.ComputeNodeList.get_all_by_host(ctx, "host1")] == \
        ["node1", "node2"]
    assert len(cn_obj.ComputeNodeList.get_all(ctx)) == 3
    assert [n.id for n in cn_obj.ComputeNodeList.get_all_by_uuids(
        ctx, [first.uuid, second.uuid])] == [first.id, second.id]
    assert [n.id for n in cn_obj.ComputeNodeList.get_by_service_id(
        ctx, service.id)] == [first.id]
    with pytest.raises(exception.ComputeHostNotFound):
        cn_obj.ComputeNodeList.get_all_by_host(ctx, "host9")


def test_update_from_virt_driver_copies_known_keys_and_keeps_the_uuid():
    node = cn_obj.ComputeNode(uuid=NODE_UUID)
    node.update_from_virt_driver({"vcpus": 4, "memory_mb": 512, "local_gb": 6,
                                  "uuid": NODE_UUID, "unknown_key": 1})
    assert (node.vcpus, node.memory_mb, node.local_gb) == (4, 512, 6)
    with pytest.raises(exception.ObjectActionError, match="cannot become"):
        node.update_from_virt_driver(
            {"uuid": "5b5b1a54-7a4e-4c35-a2c7-3f0f4a9e0c11"})


# --- version history --------------------------------------------------------

def _full_node():
    return cn_obj.ComputeNode(
        id=1, uuid=NODE_UUID, host="h", vcpus=8, memory_mb=2048, local_gb=10,
        hypervisor_type="QEMU", hypervisor_version=1, cpu_info="{}",
        numa_topology=_topology(), cpu_allocation_ratio=16.0,
        ram_allocation_ratio=1.5, disk_allocation_ratio=1.0, mapped=1)


@pytest.mark.parametrize("target, absent", [
    ("1.0", {"cpu_allocation_ratio", "ram_allocation_ratio",
             "disk_allocation_ratio", "mapped"}),
    ("1.1", {"disk_allocation_ratio", "mapped"}),
    ("1.2", {"mapped"}),
    ("1.3", {"mapped"}),
    ("1.4", set()),
    ("1.5", set()),
    ("1.6", set()),
])
def test_backport_drops_fields_added_after_the_target(target, absent):
    data = _full_node().obj_to_primitive(target_version=target)[
        "hoststate_object.data"]
    added = {"cpu_allocation_ratio", "ram_allocation_ratio",
             "disk_allocation_ratio", "mapped"}
    assert absent.isdisjoint(data)
    assert added - absent <= set(data)


def test_backport_before_1_3_sends_numa_topology_as_json_text():
    primitive = _full_node().obj_to_primitive(target_version="1.2")
    text = primitive["hoststate_object.data"]["numa_topology"]

    assert isinstance(text, str)
    topology = numa.NUMATopology.obj_from_primitive(jsonutils.loads(text))
    assert [c.cpuset for c in topology.cells] == [{0, 1}, {4, 5}]


def test_backport_with_an_old_peers_manifest_backports_the_cells_too():
    manifest = {"ComputeNode": "1.2", "NUMATopology": "1.0", "NUMACell": "1.0",
                "NUMAPagesTopology": "1.0", "HVSpec": "1.0",
                "PciDevicePoolList": "1.0", "PciDevicePool": "1.0"}
    primitive = _full_node().obj_to_primitive(target_version="1.2",
                                              version_manifest=manifest)
    topology = jsonutils.loads(primitive["hoststate_object.data"]["numa_topology"])
    cells = topology["hoststate_object.data"]["cells"]

    assert topology["hoststate_object.version"] == "1.0"
    assert [c["hoststate_object.version"] for c in cells] == ["1.0", "1.0"]
    # NUMACell 1.0 has no pcpuset: the dedicated cpus are folded into cpuset
    assert [sorted(c["hoststate_object.data"]["cpuset"]) for c in cells] == \
        [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_undelete_brings_the_same_node_back(ctx):
    node = _node(ctx)
    node.destroy()
    gone = cn_obj.ComputeNode.get_by_uuid(ctx.with_read_deleted("yes"), NODE_UUID)

    gone.undelete()

    back = cn_obj.ComputeNode.get_by_uuid(ctx, NODE_UUID)
    assert (back.id, back.deleted, back.deleted_at) == (node.id, False, None)
    assert back.generation == gone.generation


def test_undelete_of_a_live_node_is_refused(ctx):
    node = _node(ctx)
    with pytest.raises(exception.NotFound, match="is not deleted"):
        node.undelete()


def test_nodenames_by_host_lists_only_live_nodes_of_that_host(ctx):
    _node(ctx)
    _node(ctx, uuid="5c5b1a54-7a4e-4c35-a2c7-3f0f4a9e0c11",
          hypervisor_hostname="node0")
    gone = _node(ctx, uuid="6c5b1a54-7a4e-4c35-a2c7-3f0f4a9e0c11",
                 hypervisor_hostname="node9")
    gone.destroy()
    _node(ctx, uuid="7c5b1a54-7a4e-4c35-a2c7-3f0f4a9e0c11", host="host2",
          hypervisor_hostname="other")
    assert cn_obj.ComputeNodeList.get_nodenames_by_host(ctx, "host1") == \
        ["node0", "node1"]
