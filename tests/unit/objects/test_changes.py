"""What changed in an object and forgetting it (changes.py): child
objects and objects in list fields count, a recursive reset reaches
them, ``fields`` limits the top level only."""
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import hv_spec
from hoststate.objects import numa


def _node():
    node = cn_obj.ComputeNode(
        vcpus=4, memory_mb=4096, local_gb=10,
        supported_hv_specs=[hv_spec.HVSpec.from_list(
            ["x86_64", "kvm", "hvm"])],
        numa_topology=numa.NUMATopology(cells=[numa.NUMACell(
            id=0, cpuset={0}, pcpuset=set(), memory=1024, cpu_usage=0,
            memory_usage=0, pinned_cpus=set(), siblings=[], mempages=[])]))
    node.obj_reset_changes(recursive=True)
    return node


def test_nothing_changed_after_a_recursive_reset():
    node = _node()
    assert node.obj_what_changed() == set()
    assert node.numa_topology.obj_what_changed() == set()
    assert node.numa_topology.cells[0].obj_what_changed() == set()


def test_a_change_inside_a_child_and_inside_a_list_item_shows():
    node = _node()
    node.numa_topology.cells[0].cpu_usage = 1
    node.supported_hv_specs[0].vm_mode = "hvm"
    assert node.obj_what_changed() == {"numa_topology",
                                       "supported_hv_specs"}
    node.vcpus = 8
    assert node.obj_what_changed() == {"numa_topology",
                                       "supported_hv_specs", "vcpus"}


def test_a_recursive_reset_reaches_children_and_list_items():
    node = _node()
    node.numa_topology.cells[0].cpu_usage = 1
    node.supported_hv_specs[0].vm_mode = "hvm"
    node.obj_reset_changes(recursive=True)
    assert node.obj_what_changed() == set()
    assert node.supported_hv_specs[0].obj_what_changed() == set()


def test_fields_limit_a_reset_to_those_fields():
    node = _node()
    node.vcpus = 8
    node.numa_topology.cells[0].cpu_usage = 1
    node.obj_reset_changes(fields=["vcpus"], recursive=True)
    assert node.obj_what_changed() == {"numa_topology"}
    node.obj_reset_changes(fields=["numa_topology"], recursive=True)
    assert node.obj_what_changed() == set()


def test_a_plain_reset_leaves_the_children_changed():
    node = _node()
    node.numa_topology.cells[0].cpu_usage = 1
    node.obj_reset_changes()
    assert node.obj_what_changed() == {"numa_topology"}
