"""Tests of the host and instance NUMA objects: page arithmetic, pinning
bookkeeping and its errors, version backports (target-only and with a
manifest) and the JSON stored in compute_nodes.numa_topology."""
import pytest
from oslo_serialization import jsonutils

from hoststate import exception
from hoststate.objects import numa

NS = "hoststate_object."


def prim(name, version, data):
    return {NS + "name": name, NS + "namespace": "hoststate",
            NS + "version": version, NS + "data": data}


def pages(**kw):
    values = dict(size_kb=2048, total=512, used=100, reserved=12)
    values.update(kw)
    return numa.NUMAPagesTopology(**values)


def cell(**kw):
    values = dict(id=0, cpuset={0, 1}, pcpuset={2, 3, 6, 7}, memory=4096,
                  cpu_usage=1, memory_usage=1024, pinned_cpus={2},
                  siblings=[{0, 4}, {1, 5}, {2, 6}, {3, 7}],
                  mempages=[pages()], socket=1)
    values.update(kw)
    obj = numa.NUMACell(**values)
    obj.obj_reset_changes(recursive=True)
    return obj


def topology(**kw):
    obj = numa.NUMATopology(cells=[cell(**kw)])
    obj.obj_reset_changes(recursive=True)
    return obj


# Expected primitives of pages() and cell() at each version.
PAGES_1_1 = prim("NUMAPagesTopology", "1.1",
                 {"size_kb": 2048, "total": 512, "used": 100, "reserved": 12})
# 1.0 has no reserved; the 12 reserved pages count as used: 100 + 12 = 112,
# so a 1.0 reader still computes free = 512 - 112 = 400.
PAGES_1_0 = prim("NUMAPagesTopology", "1.0",
                 {"size_kb": 2048, "total": 512, "used": 112})
CELL_DATA_1_3 = {"id": 0, "cpuset": (0, 1), "pcpuset": (2, 3, 6, 7),
                 "memory": 4096, "cpu_usage": 1, "memory_usage": 1024,
                 "pinned_cpus": (2,),
                 "siblings": [(0, 4), (1, 5), (2, 6), (3, 7)],
                 "mempages": [PAGES_1_1], "socket": 1}
CELL_DATA_1_2 = {k: v for k, v in CELL_DATA_1_3.items() if k != "socket"}
CELL_DATA_1_1 = dict(CELL_DATA_1_2, mempages=[PAGES_1_0])
# 1.0 knows one cpuset: {0, 1} | {2, 3, 6, 7}; the one pinned CPU counts in
# cpu_usage: 1 + 1 = 2.
CELL_DATA_1_0 = {"id": 0, "cpuset": (0, 1, 2, 3, 6, 7), "memory": 4096,
                 "cpu_usage": 2, "memory_usage": 1024, "pinned_cpus": (2,),
                 "siblings": [(0, 4), (1, 5), (2, 6), (3, 7)],
                 "mempages": [PAGES_1_0]}


# --- pages -------------------------------------------------------------------

def test_free_pages_are_total_minus_used_minus_reserved():
    p = pages()
    assert p.free == 400                   # 512 - 100 - 12
    assert p.free_kb == 400 * 2048 == 819200
    assert p.total_kb == 512 * 2048 == 1048576


def test_pages_used_and_reserved_default_to_zero():
    p = numa.NUMAPagesTopology(size_kb=4, total=1000)
    assert (p.used, p.reserved, p.free) == (0, 0, 1000)


@pytest.mark.parametrize("version,expected", [("1.1", PAGES_1_1),
                                              ("1.0", PAGES_1_0)])
def test_pages_backport_counts_reserved_as_used(version, expected):
    p = pages()
    p.obj_reset_changes()
    assert p.obj_to_primitive(version) == expected


# --- cell capacity -----------------------------------------------------------

def test_cell_capacity_helpers():
    c = cell()
    assert c.free_pcpus == {3, 6, 7}      # {2,3,6,7} - pinned {2}
    assert c.avail_pcpus == 3
    assert c.avail_cpus == 1               # 2 shared cpus - usage 1
    assert c.avail_memory == 3072          # 4096 - 1024
    assert c.has_threads
    assert c.free_siblings == [set(), set(), {6}, {3, 7}]


def test_cell_without_multi_thread_cores_has_no_threads():
    assert not cell(siblings=[{0}, {1}]).has_threads
    assert not cell(siblings=[]).has_threads


def test_cell_defaults_usage_to_nothing():
    c = numa.NUMACell(id=1, cpuset={0}, memory=512)
    assert (c.pcpuset, c.cpu_usage, c.memory_usage, c.pinned_cpus,
            c.siblings, c.mempages, c.socket) == (set(), 0, 0, set(), [],
                                                  [], None)


# --- pinning -----------------------------------------------------------------

def test_pin_cpus_marks_them_pinned():
    c = cell()
    c.pin_cpus({3, 6})
    assert c.pinned_cpus == {2, 3, 6}
    assert c.free_pcpus == {7}


def test_pin_cpus_outside_pcpuset_is_unknown_and_changes_nothing():
    c = cell()
    with pytest.raises(numa.CPUPinningUnknown) as err:
        c.pin_cpus({0, 3})                 # 0 is shared, not dedicated
    assert err.value.requested == [0, 3]
    assert err.value.available == [2, 3, 6, 7]
    assert c.pinned_cpus == {2}


def test_pin_cpus_already_pinned_is_invalid():
    c = cell()
    with pytest.raises(numa.CPUPinningInvalid) as err:
        c.pin_cpus({2, 3})
    assert err.value.available == [3, 6, 7]
    assert "[2, 3]" in str(err.value)
    assert c.pinned_cpus == {2}


def test_unpin_cpus_releases_them():
    c = cell(pinned_cpus={2, 3})
    c.unpin_cpus({3})
    assert c.pinned_cpus == {2}


def test_unpin_cpus_outside_pcpuset_is_unknown():
    with pytest.raises(numa.CPUUnpinningUnknown) as err:
        cell().unpin_cpus({1})
    assert err.value.requested == [1]


def test_unpin_cpus_not_pinned_is_invalid():
    with pytest.raises(numa.CPUUnpinningInvalid) as err:
        cell().unpin_cpus({2, 3})
    assert err.value.pinned == [2]


def test_pin_with_siblings_takes_whole_cores():
    c = cell(pinned_cpus=set())
    c.pin_cpus_with_siblings({3})          # core {3, 7}
    assert c.pinned_cpus == {3, 7}
    c.unpin_cpus_with_siblings({7})
    assert c.pinned_cpus == set()


def test_pin_with_siblings_fails_when_a_sibling_is_pinned():
    c = cell()                             # 2 pinned; its sibling is 6
    with pytest.raises(numa.CPUPinningInvalid):
        c.pin_cpus_with_siblings({6})
    assert c.pinned_cpus == {2}


def test_pinning_errors_are_hoststate_errors():
    assert issubclass(numa.CPUPinningUnknown, exception.HoststateError)
    assert issubclass(numa.CPUUnpinningInvalid, exception.HoststateError)


# --- page sizes --------------------------------------------------------------

@pytest.mark.parametrize("memory_kb,use_free,fits", [
    (400 * 2048, True, True),     # exactly the 400 free pages
    (401 * 2048, True, False),    # one page more than free
    (401 * 2048, False, True),    # but fewer than the 512 in total
    (513 * 2048, False, False),   # more than the cell has at all
    (2048 + 1024, True, False),   # not a whole number of pages
])
def test_can_fit_pagesize(memory_kb, use_free, fits):
    assert cell().can_fit_pagesize(2048, memory_kb, use_free) is fits


def test_can_fit_unknown_pagesize_raises():
    with pytest.raises(numa.MemoryPageSizeNotSupported) as err:
        cell().can_fit_pagesize(1048576, 1048576)
    assert (err.value.cell, err.value.pagesize) == (0, 1048576)


# --- bad input ---------------------------------------------------------------

@pytest.mark.parametrize("field,value", [
    ("memory", -1), ("memory", "lots"), ("cpuset", [0, 1]),
    ("cpuset", {-1}), ("siblings", [{0}, "x"]), ("socket", -2),
    ("memory", None),
])
def test_bad_cell_values_raise_naming_the_field(field, value):
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        cell(**{field: value})
    assert err.value.objname == "NUMACell"
    assert err.value.field == field


def test_unknown_cell_field_raises():
    with pytest.raises(exception.UnknownObjectField) as err:
        cell(cores=4)
    assert err.value.field == "cores"
    with pytest.raises(exception.UnknownObjectField):
        cell().cores = 4


def test_negative_pages_raise():
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        pages(reserved=-1)
    assert err.value.field == "reserved"


# --- versions ----------------------------------------------------------------

@pytest.mark.parametrize("version,data", [
    ("1.3", CELL_DATA_1_3), ("1.2", CELL_DATA_1_2),
    ("1.1", CELL_DATA_1_1), ("1.0", CELL_DATA_1_0),
])
def test_cell_backport_at_each_version(version, data):
    assert cell().obj_to_primitive(version) == prim("NUMACell", version, data)


@pytest.mark.parametrize("version,data", [
    ("1.3", CELL_DATA_1_3), ("1.2", CELL_DATA_1_2),
    ("1.1", CELL_DATA_1_1), ("1.0", CELL_DATA_1_0),
])
def test_topology_version_alone_sets_the_cell_version(version, data):
    assert topology().obj_to_primitive(version) == prim(
        "NUMATopology", version, {"cells": [prim("NUMACell", version, data)]})


def test_topology_backport_follows_a_manifest():
    # A peer with the newest NUMATopology but older cells and pages.
    manifest = {"NUMATopology": "1.3", "NUMACell": "1.1",
                "NUMAPagesTopology": "1.0"}
    assert topology().obj_to_primitive("1.3", manifest) == prim(
        "NUMATopology", "1.3",
        {"cells": [prim("NUMACell", "1.1", CELL_DATA_1_1)]})


def test_topology_manifest_of_current_versions_changes_nothing():
    manifest = {"NUMATopology": "1.3", "NUMACell": "1.3",
                "NUMAPagesTopology": "1.1"}
    assert topology().obj_to_primitive("1.3", manifest) == \
        topology().obj_to_primitive()


def test_old_cell_primitive_loads_with_defaults():
    c = numa.NUMACell.obj_from_primitive(prim("NUMACell", "1.0",
                                              CELL_DATA_1_0))
    assert c.cpuset == {0, 1, 2, 3, 6, 7}
    assert c.pcpuset == set()
    assert c.socket is None
    assert c.mempages[0].reserved == 0
    assert c.mempages[0].free == 400       # 512 - 112 - 0


# --- round trips and JSON ----------------------------------------------------

def test_topology_round_trips_through_primitive():
    t = topology()
    again = numa.NUMATopology.obj_from_primitive(t.obj_to_primitive())
    assert again == t
    assert again.cells[0].siblings == [{0, 4}, {1, 5}, {2, 6}, {3, 7}]


def test_topology_round_trips_through_json():
    t = topology()
    again = numa.NUMATopology.from_json(t.to_json())
    assert again.obj_to_primitive() == t.obj_to_primitive()
    assert again.cells[0].mempages[0].free == 400


def test_topology_json_is_the_primitive_without_changes():
    t = numa.NUMATopology(cells=[cell()])  # changes left unreset
    assert jsonutils.loads(t.to_json()) == jsonutils.loads(
        jsonutils.dumps(topology().obj_to_primitive()))


def test_topology_json_text_does_not_depend_on_set_order():
    a = topology(pcpuset={2, 3, 6, 7, 130})
    b = topology(pcpuset={130, 7, 6, 3, 2})
    assert a.to_json() == b.to_json()


def test_topology_json_at_an_old_version_loads_folded():
    again = numa.NUMATopology.from_json(topology().to_json("1.0"))
    assert again.cells[0].cpuset == {0, 1, 2, 3, 6, 7}
    assert again.cells[0].pcpuset == set()


def test_from_json_of_garbage_raises_value_error():
    with pytest.raises(ValueError):
        numa.NUMATopology.from_json("{not json")


def test_from_json_of_another_object_raises():
    with pytest.raises(exception.ObjectActionError):
        numa.NUMATopology.from_json(
            jsonutils.dumps(numa.NUMATopologyLimits(
                cpu_allocation_ratio=1.0,
                ram_allocation_ratio=1.0).obj_to_primitive()))
    with pytest.raises(exception.ObjectActionError):
        numa.NUMATopology.from_json('{"cells": []}')


def test_from_json_of_a_newer_version_raises():
    text = topology().to_json().replace('"1.3"', '"1.9"')
    with pytest.raises(exception.IncompatibleObjectVersion):
        numa.NUMATopology.from_json(text)


def test_topology_finds_cells_by_id():
    t = numa.NUMATopology(cells=[cell(id=0), cell(id=1, socket=0)])
    assert t.cell(1).socket == 0
    assert t.has_threads
    with pytest.raises(LookupError):
        t.cell(2)


def test_limits_reject_negative_ratios():
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        numa.NUMATopologyLimits(cpu_allocation_ratio=-1.0,
                                ram_allocation_ratio=1.0)
    assert err.value.field == "cpu_allocation_ratio"


# --- instance side -----------------------------------------------------------

UUID = "6e3a5b1c-0d6c-4c8e-9a43-3f1f8c0a1b2d"


def instance_topology():
    cells = [
        numa.InstanceNUMACell(id=0, pcpuset={0, 1}, memory=1024,
                              pagesize=2048, cpu_pinning={0: 2, 1: 3},
                              cpu_policy="DEDICATED",
                              cpu_thread_policy="isolate",
                              cpuset_reserved={6}),
        numa.InstanceNUMACell(id=1, pcpuset={2, 3}, memory=1024,
                              cpu_pinning={2: 10, 3: 11},
                              cpu_policy="dedicated"),
    ]
    obj = numa.InstanceNUMATopology(instance_uuid=UUID, cells=cells,
                                    emulator_threads_policy="isolate")
    obj.obj_reset_changes(recursive=True)
    return obj


def test_instance_cell_canonicalizes_policies():
    c = instance_topology().cells[0]
    assert c.cpu_policy == "dedicated"
    assert c.cpu_pinning_requested
    assert c.total_cpus == 2


def test_instance_cell_rejects_unknown_policy():
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        numa.InstanceNUMACell(id=0, memory=1, cpu_policy="exclusive")
    assert err.value.field == "cpu_policy"


def test_instance_cell_rejects_negative_pinning():
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        numa.InstanceNUMACell(id=0, memory=1, cpu_pinning={0: -1})
    assert err.value.field == "cpu_pinning"


def test_instance_topology_helpers():
    t = instance_topology()
    assert t.cpu_pinning_requested
    assert t.cpu_pinning == {2, 3, 10, 11}
    assert t.cpuset_reserved == {6}
    assert t.emulator_threads_isolated


def test_shared_instance_topology_does_not_request_pinning():
    t = numa.InstanceNUMATopology(cells=[
        numa.InstanceNUMACell(id=0, cpuset={0, 1}, memory=512)])
    assert not t.cpu_pinning_requested
    assert t.cpu_pinning == set()
    assert not t.emulator_threads_isolated


def test_instance_topology_json_keeps_integer_pinning_keys():
    t = instance_topology()
    text = t.to_json()
    # JSON object keys are strings on the wire ...
    assert '"cpu_pinning": {"0": 2, "1": 3}' in text
    # ... and integers again once loaded.
    again = numa.InstanceNUMATopology.from_json(text)
    assert again.cells[0].cpu_pinning == {0: 2, 1: 3}
    assert again.obj_to_primitive() == t.obj_to_primitive()


def test_instance_topology_rejects_a_bad_uuid():
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        numa.InstanceNUMATopology(instance_uuid="not-a-uuid")
    assert err.value.field == "instance_uuid"
