"""Deep copies of objects (copying.copied, behind obj_clone): equal to
the original, sharing nothing that can change, and still coercing."""
import pytest

from hoststate.objects import compute_node as cn_obj
from hoststate.objects import copying
from hoststate.objects import numa


def _node():
    cell = numa.NUMACell(
        id=0, cpuset={0, 1}, pcpuset={2, 3}, memory=4096, cpu_usage=0,
        memory_usage=0, pinned_cpus={2}, siblings=[{0, 2}, {1, 3}],
        mempages=[numa.NUMAPagesTopology(size_kb=4, total=1024, used=0)],
        socket=0)
    node = cn_obj.ComputeNode(
        vcpus=4, memory_mb=4096, local_gb=10, hypervisor_type="QEMU",
        hypervisor_version=1, cpu_info="", stats={"num_instances": "1"},
        numa_topology=numa.NUMATopology(cells=[cell]))
    node.obj_reset_changes(recursive=True)
    return node


def test_a_clone_is_equal_and_unchanged():
    node = _node()
    clone = node.obj_clone()
    assert clone.obj_to_primitive() == node.obj_to_primitive()
    assert clone.obj_what_changed() == set()


def test_a_clone_shares_no_mutable_value():
    node = _node()
    clone = node.obj_clone()
    cell, original = clone.numa_topology.cells[0], node.numa_topology.cells[0]
    cell.pinned_cpus.add(3)
    cell.siblings[0].add(9)
    cell.mempages[0].used = 5
    clone.stats["num_instances"] = "2"
    assert original.pinned_cpus == {2}
    assert original.siblings[0] == {0, 2}
    assert original.mempages[0].used == 0
    assert node.stats == {"num_instances": "1"}
    assert clone.numa_topology.obj_what_changed() == {"cells"}
    assert node.numa_topology.obj_what_changed() == set()


def test_the_clone_of_a_coercing_collection_still_coerces_for_the_clone():
    clone = _node().obj_clone()
    pinned = clone.numa_topology.cells[0].pinned_cpus
    assert pinned._obj is clone.numa_topology.cells[0]
    with pytest.raises(ValueError):
        pinned.add("x")
    assert clone.stats._obj is clone
    with pytest.raises(ValueError):
        clone.stats[1] = "a key must be text"


def test_a_value_held_twice_is_copied_once():
    inner = {1, 2}
    held = [inner, inner, {"k": [inner]}]
    clone = copying.copied(held, {})
    assert clone == held
    assert clone[0] is clone[1] is clone[2]["k"][0]
    assert clone[0] is not inner
