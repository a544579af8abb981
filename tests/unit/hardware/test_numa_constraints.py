"""get_constraints: flavor extra specs and image properties -> the guest's
unplaced NUMA topology (Nova's numa_get_constraints), and the errors that
name the key at fault."""
import pytest

from hoststate import exception
from hoststate.hardware import numa as hw
from hoststate.objects import fields
from hoststate.objects import image_meta as image_meta_obj

from .numa_builders import DEDICATED, ISOLATE, MIXED, PREFER, REQUIRE, \
    SHARED, flavor

EMU_ISOLATE = fields.CPUEmulatorThreadsPolicy.ISOLATE


def image(**props):
    return image_meta_obj.ImageMeta.from_dict({"properties": props})


def layout(topology):
    """(id, shared, dedicated, MiB) per cell, sorted sets."""
    return [(c.id, sorted(c.cpuset), sorted(c.pcpuset), c.memory)
            for c in topology.cells]


# --- no NUMA request ---------------------------------------------------------

@pytest.mark.parametrize("specs", [
    {},
    {"hw:cpu_policy": "shared"},
    {"hw:cpu_policy": "shared", "unrelated": "x"},
    {"hw:mem_page_size": ""},
])
def test_no_request_gives_none(specs):
    assert hw.get_constraints(flavor(**specs)) is None
    assert hw.get_constraints(flavor(**specs), image()) is None


# --- layouts -----------------------------------------------------------------

@pytest.mark.parametrize("specs,expected", [
    # 4 vCPUs, 2048 MiB, 2 cells: 4/2 = 2 vCPUs and 2048/2 = 1024 MiB each,
    # vCPUs numbered in order; shared (no policy) so all in cpuset.
    ({"hw:numa_nodes": "2"},
     [(0, [0, 1], [], 1024), (1, [2, 3], [], 1024)]),
    # A shared policy with an explicit node count still gets cells.
    ({"hw:numa_nodes": "1", "hw:cpu_policy": "shared"},
     [(0, [0, 1, 2, 3], [], 2048)]),
    # dedicated alone implies one cell, every vCPU to pin.
    ({"hw:cpu_policy": "dedicated"}, [(0, [], [0, 1, 2, 3], 2048)]),
    ({"hw:cpu_policy": "DEDICATED", "hw:numa_nodes": "2"},
     [(0, [], [0, 1], 1024), (1, [], [2, 3], 1024)]),
    # mixed: "^0-1" = all but 0-1 = {2, 3} dedicated, {0, 1} shared.
    ({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0-1"},
     [(0, [0, 1], [2, 3], 2048)]),
    ({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "2-3",
      "hw:numa_nodes": "2"},
     [(0, [0, 1], [], 1024), (1, [], [2, 3], 1024)]),
    # a page size alone implies one cell.
    ({"hw:mem_page_size": "large"}, [(0, [0, 1, 2, 3], [], 2048)]),
    # manual layout: cell 0 vCPU 0 and 512 MiB, cell 1 vCPUs 1-3 and
    # 2048 - 512 = 1536 MiB.
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0", "hw:numa_cpus.1": "1-3",
      "hw:numa_mem.0": "512", "hw:numa_mem.1": "1536"},
     [(0, [0], [], 512), (1, [1, 2, 3], [], 1536)]),
    # "0-3,^1" is {0, 2, 3}; the other cell gets the remaining vCPU 1.
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-3,^1",
      "hw:numa_cpus.1": "1", "hw:numa_mem.0": "1024",
      "hw:numa_mem.1": "1024", "hw:cpu_policy": "dedicated"},
     [(0, [], [0, 2, 3], 1024), (1, [], [1], 1024)]),
])
def test_layouts(specs, expected):
    topology = hw.get_constraints(flavor(**specs))
    assert layout(topology) == expected
    policy = fields.CPUAllocationPolicy.canonicalize(
        specs.get("hw:cpu_policy"))
    for cell in topology.cells:
        assert cell.cpu_policy == policy
        assert cell.cpu_pinning is None


def test_every_cell_carries_policies_and_page_size():
    topology = hw.get_constraints(flavor(**{
        "hw:numa_nodes": "2", "hw:cpu_policy": "dedicated",
        "hw:cpu_thread_policy": "isolate", "hw:mem_page_size": "2MB",
        "hw:emulator_threads_policy": "isolate"}))
    assert [(c.cpu_policy, c.cpu_thread_policy, c.pagesize)
            for c in topology.cells] == [(DEDICATED, ISOLATE, 2048)] * 2
    assert topology.emulator_threads_policy == EMU_ISOLATE
    assert topology.emulator_threads_isolated


@pytest.mark.parametrize("value,expected", [
    ("small", hw.PAGESIZE_SMALL), ("LARGE", hw.PAGESIZE_LARGE),
    ("any", hw.PAGESIZE_ANY),
    ("4", 4), ("2048", 2048),             # bare numbers are KiB
    ("2M", 2048), ("2MB", 2048), ("2MiB", 2048), ("2048KB", 2048),
    ("1G", 1048576), ("1GB", 1048576), ("1GiB", 1048576),   # 1024 * 1024
    ("4096B", 4),                           # bytes: 4096 / 1024
])
def test_page_sizes(value, expected):
    assert hw.parse_page_size(value) == expected
    topology = hw.get_constraints(flavor(**{"hw:mem_page_size": value}))
    assert topology.cells[0].pagesize == expected


@pytest.mark.parametrize("value", ["huge", "2XB", "1", "3", "1000B", "-4"])
def test_bad_page_sizes(value):
    with pytest.raises(hw.InvalidNUMARequest) as err:
        hw.get_constraints(flavor(**{"hw:mem_page_size": value}))
    assert err.value.key == "hw:mem_page_size"
    assert err.value.value == value


# --- flavor and image together -----------------------------------------------

@pytest.mark.parametrize("specs,props,expected", [
    # image alone may ask for anything
    ({}, {"hw_numa_nodes": "2"}, "2 cells"),
    ({}, {"hw_cpu_policy": "dedicated"}, DEDICATED),
    ({}, {"hw_mem_page_size": "large", "hw_numa_nodes": "1"},
     "invalid hw_mem_page_size"),      # no flavor page size: forbidden
    # cpu policy precedence (Nova): a dedicated flavor wins
    ({"hw:cpu_policy": "dedicated"}, {"hw_cpu_policy": "shared"}, DEDICATED),
    ({"hw:cpu_policy": "shared"}, {"hw_cpu_policy": "dedicated"},
     "invalid hw_cpu_policy"),
    ({"hw:cpu_policy": "shared"}, {"hw_cpu_policy": "mixed"},
     "invalid hw_cpu_policy"),
    ({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "0"},
     {"hw_cpu_policy": "dedicated"}, "invalid hw_cpu_policy"),
    # node counts: equal is fine, different is a conflict
    ({"hw:numa_nodes": "2"}, {"hw_numa_nodes": "2"}, "2 cells"),
    ({"hw:numa_nodes": "2"}, {"hw_numa_nodes": "4"},
     "invalid hw_numa_nodes"),
    # thread policy: a prefer flavor is not overridden; require/isolate
    # flavors refuse another image value
    ({"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "prefer"},
     {"hw_cpu_thread_policy": "require"}, PREFER),
    ({"hw:cpu_policy": "dedicated"}, {"hw_cpu_thread_policy": "require"},
     REQUIRE),
    ({"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "isolate"},
     {"hw_cpu_thread_policy": "require"}, "invalid hw_cpu_thread_policy"),
    ({"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "isolate"},
     {"hw_cpu_thread_policy": "isolate"}, ISOLATE),
    # page size: the image refines large/any, else must agree
    ({"hw:mem_page_size": "large"}, {"hw_mem_page_size": "1GB"}, 1048576),
    ({"hw:mem_page_size": "any"}, {"hw_mem_page_size": "small"},
     hw.PAGESIZE_SMALL),
    ({"hw:mem_page_size": "2048"}, {"hw_mem_page_size": "2MB"}, 2048),
    ({"hw:mem_page_size": "2048"}, {"hw_mem_page_size": "1GB"},
     "invalid hw_mem_page_size"),
    ({"hw:mem_page_size": "small"}, {"hw_mem_page_size": "large"},
     "invalid hw_mem_page_size"),
    # per-cell layout from the image; from both only when they agree
    ({"hw:numa_nodes": "2"},
     {"hw_numa_cpus.0": "0", "hw_numa_cpus.1": "1-3",
      "hw_numa_mem.0": "1024", "hw_numa_mem.1": "1024"}, "manual"),
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0", "hw:numa_cpus.1": "1-3",
      "hw:numa_mem.0": "1024", "hw:numa_mem.1": "1024"},
     {"hw_numa_cpus.0": "0", "hw_numa_cpus.1": "1-3",
      "hw_numa_mem.0": "1024", "hw_numa_mem.1": "1024"}, "manual"),
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-1", "hw:numa_cpus.1": "2-3",
      "hw:numa_mem.0": "1024", "hw:numa_mem.1": "1024"},
     {"hw_numa_cpus.0": "0", "hw_numa_cpus.1": "1-3",
      "hw_numa_mem.0": "1024", "hw_numa_mem.1": "1024"},
     "invalid hw_numa_cpus"),
])
def test_flavor_and_image(specs, props, expected):
    if isinstance(expected, str) and expected.startswith("invalid "):
        with pytest.raises(hw.InvalidNUMARequest) as err:
            hw.get_constraints(flavor(**specs), image(**props))
        assert err.value.key == expected[len("invalid "):]
        return
    topology = hw.get_constraints(flavor(**specs), image(**props))
    cell = topology.cells[0]
    if expected == "2 cells":
        assert layout(topology) == [(0, [0, 1], [], 1024),
                                    (1, [2, 3], [], 1024)]
    elif expected == "manual":
        assert layout(topology) == [(0, [0], [], 1024),
                                    (1, [1, 2, 3], [], 1024)]
    elif expected in fields.CPUAllocationPolicy.ALL:
        assert cell.cpu_policy == expected
    elif expected in fields.CPUThreadAllocationPolicy.ALL:
        assert cell.cpu_thread_policy == expected
    else:
        assert cell.pagesize == expected


def test_image_meta_may_be_props_or_dict():
    props = {"hw_numa_nodes": "2"}
    for meta in (image(**props), image(**props).properties, props):
        assert len(hw.get_constraints(flavor(), meta).cells) == 2


# --- invalid requests --------------------------------------------------------

@pytest.mark.parametrize("specs,key,value", [
    ({"hw:cpu_policy": "exclusive"}, "hw:cpu_policy", "exclusive"),
    ({"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "sometimes"},
     "hw:cpu_thread_policy", "sometimes"),
    ({"hw:numa_nodes": "two"}, "hw:numa_nodes", "two"),
    ({"hw:numa_nodes": "0"}, "hw:numa_nodes", "0"),
    # 5 cells for 4 vCPUs
    ({"hw:numa_nodes": "5"}, "hw:numa_nodes", 5),
    # 4 vCPUs over 3 cells is not even (4 % 3 = 1)
    ({"hw:numa_nodes": "3"}, "hw:numa_nodes", 3),
    # thread policy / isolated emulator threads need pinning
    ({"hw:cpu_thread_policy": "isolate"}, "hw:cpu_thread_policy", ISOLATE),
    ({"hw:cpu_policy": "shared", "hw:cpu_thread_policy": "prefer"},
     "hw:cpu_thread_policy", PREFER),
    ({"hw:emulator_threads_policy": "isolate", "hw:numa_nodes": "1"},
     "hw:emulator_threads_policy", EMU_ISOLATE),
    # mixed needs a mask with both kinds of vCPU
    ({"hw:cpu_policy": "mixed"}, "hw:cpu_policy", MIXED),
    ({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "0-3"},
     "hw:cpu_dedicated_mask", "0-3"),
    ({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "4"},
     "hw:cpu_dedicated_mask", "4"),
    ({"hw:cpu_policy": "dedicated", "hw:cpu_dedicated_mask": "1"},
     "hw:cpu_dedicated_mask", "1"),
    # per-cell keys: vCPUs 2 and 3 are in no cell
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0", "hw:numa_cpus.1": "1",
      "hw:numa_mem.0": "1024", "hw:numa_mem.1": "1024"},
     "hw:numa_cpus.N", [[0], [1]]),
    # vCPU 4 does not exist (0-3): refused as written, before expanding
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0", "hw:numa_cpus.1": "1-4",
      "hw:numa_mem.0": "1024", "hw:numa_mem.1": "1024"},
     "hw:numa_cpus.1", "1-4"),
    # a range of two billion vCPUs is refused without being built
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0",
      "hw:numa_cpus.1": "1-2147483647", "hw:numa_mem.0": "1024",
      "hw:numa_mem.1": "1024"}, "hw:numa_cpus.1", "1-2147483647"),
    ({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0-2147483647"},
     "hw:cpu_dedicated_mask", "^0-2147483647"),
    # vCPU 1 twice
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-1",
      "hw:numa_cpus.1": "1-3", "hw:numa_mem.0": "1024",
      "hw:numa_mem.1": "1024"}, "hw:numa_cpus.1", [1, 2, 3]),
    # 512 + 512 = 1024 MiB, not the flavor's 2048
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-1", "hw:numa_cpus.1": "2-3",
      "hw:numa_mem.0": "512", "hw:numa_mem.1": "512"},
     "hw:numa_mem.N", [512, 512]),
    # cpus without mem
    ({"hw:numa_nodes": "1", "hw:numa_cpus.0": "0-3"},
     "hw:numa_cpus.0", "0-3"),
    # cells 0 and 2 but no 1
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-1", "hw:numa_cpus.2": "2-3",
      "hw:numa_mem.0": "1024", "hw:numa_mem.2": "1024"},
     "hw:numa_cpus.2", "2-3"),
    # 3 cells given for 2 nodes
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0", "hw:numa_cpus.1": "1",
      "hw:numa_cpus.2": "2-3", "hw:numa_mem.0": "1024",
      "hw:numa_mem.1": "512", "hw:numa_mem.2": "512"}, "hw:numa_nodes", 2),
    # per-cell keys without a node count
    ({"hw:numa_cpus.0": "0-3", "hw:numa_mem.0": "2048"},
     "hw:numa_cpus.0", [0, 1, 2, 3]),
    ({"hw:numa_nodes": "1", "hw:numa_cpus.0": "0-3",
      "hw:numa_mem.0": "lots"}, "hw:numa_mem.0", "lots"),
    ({"hw:numa_nodes": "1", "hw:numa_cpus.0": "0-x",
      "hw:numa_mem.0": "2048"}, "hw:numa_cpus.0", "0-x"),
])
def test_invalid_requests_name_key_and_value(specs, key, value):
    with pytest.raises(hw.InvalidNUMARequest) as err:
        hw.get_constraints(flavor(**specs))
    assert (err.value.key, err.value.value) == (key, value)
    assert key in str(err.value) and repr(value) in str(err.value)
    assert isinstance(err.value, exception.HoststateError)
    assert isinstance(err.value, ValueError)


def test_image_thread_policy_without_pinning_is_refused():
    with pytest.raises(hw.InvalidNUMARequest) as err:
        hw.get_constraints(flavor(), image(hw_cpu_thread_policy="require"))
    assert err.value.key == "hw:cpu_thread_policy"


def test_constraints_do_not_change_the_flavor():
    f = flavor(**{"hw:numa_nodes": "2", "hw:cpu_policy": "dedicated"})
    before = f.obj_to_primitive()
    hw.get_constraints(f)
    assert f.obj_to_primitive() == before


def test_shared_policy_flavor_keeps_no_cpu_policy_on_cells_by_default():
    topology = hw.get_constraints(flavor(**{"hw:numa_nodes": "1"}))
    assert topology.cells[0].cpu_policy is None
    assert topology.cells[0].pagesize is None
    assert not topology.cpu_pinning_requested
    assert SHARED not in [c.cpu_policy for c in topology.cells]


# --- the work is bounded by the hosts, not by the flavor ---------------------

HUGE = 2 ** 31 - 1          # Nova's API accepts vcpus up to this


def test_a_huge_flavor_that_asks_for_no_topology_costs_nothing():
    # no CPU set is built at all (it used to be set(range(vcpus)): 2**31
    # ints, tens of GB)
    assert hw.get_constraints(flavor(vcpus=HUGE, memory_mb=HUGE)) is None


@pytest.mark.parametrize("specs", [
    {"hw:cpu_policy": "dedicated"},
    {"hw:numa_nodes": "2"},
    {"hw:mem_page_size": "large"},
    {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "0"},
])
def test_a_huge_topology_is_refused_before_its_cpu_sets_are_built(specs):
    with pytest.raises(hw.NUMARequestTooLarge) as err:
        hw.get_constraints(flavor(vcpus=HUGE, memory_mb=HUGE, **specs))
    assert (err.value.vcpus, err.value.limit) == (HUGE, 65536)
    assert str(err.value) == (
        "vcpus: a NUMA guest of 2147483647 vCPUs is larger than the "
        "largest host (65536 CPUs)")


def test_the_caller_bounds_the_guest_by_its_hosts():
    specs = {"hw:cpu_policy": "dedicated"}
    with pytest.raises(hw.NUMARequestTooLarge) as err:
        hw.get_constraints(flavor(vcpus=65, **specs), max_vcpus=64,
                           where="node-1")
    assert str(err.value) == ("vcpus: a NUMA guest of 65 vCPUs is larger "
                              "than node-1 (64 CPUs)")
    topology = hw.get_constraints(flavor(vcpus=64, **specs), max_vcpus=64)
    assert topology.cells[0].pcpuset == set(range(64))
