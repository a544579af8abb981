"""Cell scheduling, the pure part: the unit count, each cell filter's
verdict and reason, the weighers' sums worked out by hand, tie order,
configuration errors and bad input (no database here)."""
import math
import uuid

import pytest
from oslo_config import cfg

from hoststate import conf as hconf
from hoststate import exception
from hoststate.cells import capabilities
from hoststate.cells import cell_filters
from hoststate.cells import cell_weighers
from hoststate.cells import scheduling
from hoststate.cells.capacity import CapacityReport
from hoststate.hardware.capacity import Wanted
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec

KVM = {"hypervisor": frozenset({"xenserver", "kvm"})}
#: the default capacity flavors: m1.medium is 2 vCPUs, 4096 MiB, 40 GiB
FLAVORS = tuple(capabilities.parse_flavors(
    ["m1.tiny:1:512:1", "m1.small:1:2048:20", "m1.medium:2:4096:40"]))
MEDIUM = Wanted(2, 4096, 40)


def conf_with(**cells):
    conf = hconf.load(conf=cfg.ConfigOpts(), use_env=False)
    for name, value in cells.items():
        conf.set_override(name, value, group="cells")
    return conf


def spec(vcpus=2, memory_mb=4096, root_gb=40, ephemeral_gb=0, swap=0,
         extra_specs=None, hints=None, num_instances=1, image=True):
    flavor = flavor_obj.Flavor(
        id=1, flavorid="f", name="f", vcpus=vcpus, memory_mb=memory_mb,
        root_gb=root_gb, ephemeral_gb=ephemeral_gb, swap=swap,
        extra_specs=extra_specs or {})
    return request_spec.RequestSpec.from_components(
        str(uuid.uuid4()), flavor,
        image={"id": str(uuid.uuid4())} if image else None,
        project_id="p1", scheduler_hints=hints or {},
        num_instances=num_instances)


def report(nodes=2, vcpus=64.0, memory_mb=262144.0, disk_gb=4000.0,
           units=None, **named_units):
    """A report counting ``units`` (default 50 m1.medium), or the
    flavors named as keywords (``**{"m1.tiny": 5}``)."""
    if units is None:
        units = named_units or {"m1.medium": 50}
    return CapacityReport(nodes=nodes, free_vcpus=vcpus,
                          free_memory_mb=memory_mb, free_disk_gb=disk_gb,
                          units=units)


def cell(path, up=True, caps=KVM, capacity=None, offset=0.0, scale=1.0,
         is_self=False):
    return scheduling.CellCandidate(
        path=path, name=path.split("!")[-1], is_self=is_self, up=up,
        capabilities=caps, capacity=capacity or report(),
        weight_offset=offset, weight_scale=scale)


def reasons(choice):
    return {path: str(why) for path, why in choice.rejected.items()}


def paths(choice):
    return [c.path for c in choice.ranked]


# --- units_for ------------------------------------------------------------------

@pytest.mark.parametrize("capacity, wanted, expected", [
    # a reported flavor of exactly these sizes: its units, whatever the sums
    (report(units={"m1.medium": 7}), MEDIUM, 7),
    (report(units={"m1.medium": 0}), MEDIUM, 0),
    # no such flavor: min(10 // 3, 8192 // 2048, 100 // 30) = min(3, 4, 3)
    (report(vcpus=10, memory_mb=8192, disk_gb=100), Wanted(3, 2048, 30), 3),
    # the flavor's name is known but the report does not count it: bound
    # min(10 // 2, 8192 // 4096, 100 // 40) = min(5, 2, 2)
    (report(vcpus=10, memory_mb=8192, disk_gb=100, **{"m1.tiny": 9}),
     MEDIUM, 2),
    # disk wanted 0 does not limit: min(8 // 1, 4096 // 1024) = 4
    (report(vcpus=8, memory_mb=4096, disk_gb=0), Wanted(1, 1024, 0), 4),
    # over-committed (negative free) is none, not fewer than none
    (report(vcpus=-4, memory_mb=8192, disk_gb=100), Wanted(1, 512, 1), 0),
    # a request taking nothing is not limited at all
    (report(), Wanted(0, 0, 0), math.inf),
])
def test_units_for(capacity, wanted, expected):
    assert cell_filters.units_for(capacity, wanted, FLAVORS) == expected
    assert scheduling.units_for is cell_filters.units_for


@pytest.mark.parametrize("kwargs, wanted", [
    # what the claim takes: 40 GiB root + 512 MiB swap, rounded up to 41
    (dict(root_gb=40, swap=512), Wanted(2, 4096, 41)),
    (dict(root_gb=20, ephemeral_gb=10), Wanted(2, 4096, 30)),
    # no image: the root disk is a volume, as the host scheduler counts it
    (dict(root_gb=40, image=False), Wanted(2, 4096, 0)),
])
def test_the_request_takes_what_the_claim_takes(kwargs, wanted):
    request = scheduling.CellRequest(spec(**kwargs), FLAVORS)
    assert request.wanted == wanted


# --- the filters, one at a time ----------------------------------------------

def only(*filters, **cells):
    return conf_with(scheduler_filters=list(filters),
                     scheduler_weighers=[], **cells)


def test_target_cell_keeps_the_child_on_the_way():
    candidates = [cell("api", is_self=True), cell("api!c1"),
                  cell("api!c10"), cell("api!c2")]
    choice = scheduling.choose(
        candidates, spec(hints={"target_cell": ["api!c1!g1"]}),
        only("TargetCellFilter"))
    assert paths(choice) == ["api!c1"]
    # api!c10 starts with the text "api!c1" but is another cell
    assert reasons(choice) == {
        "api": "TargetCellFilter: this cell's own nodes are not target "
               "cell api!c1!g1",
        "api!c10": "TargetCellFilter: api!c10 is neither target cell "
                   "api!c1!g1 nor on the way to it",
        "api!c2": "TargetCellFilter: api!c2 is neither target cell "
                  "api!c1!g1 nor on the way to it"}
    why = choice.rejected["api!c2"]
    assert (why.filter, why.asked, why.has) == (
        "TargetCellFilter", "api!c1!g1", "api!c2")


@pytest.mark.parametrize("target, kept", [
    ("api!c1", ["api!c1"]),          # the child itself
    ("API!C1", ["api!c1"]),          # names compare ignoring case
    ("api", ["api"]),                # this cell: its own nodes only
    ("other!c1", []),                # not in this tree
])
def test_target_cell_paths(target, kept):
    candidates = [cell("api", is_self=True), cell("api!c1")]
    choice = scheduling.choose(candidates,
                               spec(hints={"target_cell": [target]}),
                               only("TargetCellFilter"))
    assert paths(choice) == kept


def test_no_target_keeps_every_cell():
    choice = scheduling.choose([cell("api!c1"), cell("api!c2")], spec(),
                               only("TargetCellFilter"))
    assert paths(choice) == ["api!c1", "api!c2"]
    assert choice.rejected == {}


def test_a_malformed_target_is_a_typed_error():
    with pytest.raises(exception.InvalidCellPath) as refused:
        scheduling.choose([cell("api!c1")],
                          spec(hints={"target_cell": ["api!!c1"]}),
                          only("TargetCellFilter"))
    assert "'api!!c1'" in str(refused.value)


def test_two_targets_are_a_typed_error():
    with pytest.raises(exception.InvalidSchedulerRequest) as refused:
        scheduling.choose([cell("api!c1")],
                          spec(hints={"target_cell": ["api!c1", "api!c2"]}),
                          only("TargetCellFilter"))
    assert str(refused.value) == (
        "Invalid scheduling request: scheduler_hints.target_cell="
        "['api!c1', 'api!c2']: a build has one target cell path")


def test_down_cell_filter():
    choice = scheduling.choose([cell("api!c1", up=False), cell("api!c2")],
                               spec(), only("DownCellFilter"))
    assert paths(choice) == ["api!c2"]
    assert reasons(choice) == {"api!c1": "DownCellFilter: down"}


@pytest.mark.parametrize("caps, extra_specs, reason", [
    (KVM, {"cells:hypervisor": "kvm"}, None),
    (KVM, {"cells:hypervisor": "<in> kv"}, None),
    (KVM, {"cells:hypervisor": "<or> hyperv <or> kvm"}, None),
    (KVM, {"cells:hypervisor": "hyperv"},
     "CapabilitiesFilter: cells:hypervisor='hyperv' asked, advertises "
     "hypervisor=kvm;xenserver"),
    (KVM, {"cells:arch": "x86_64"},
     "CapabilitiesFilter: cells:arch='x86_64' asked, arch not advertised"),
    ({}, {"cells:hypervisor": "kvm"},
     "CapabilitiesFilter: cells:hypervisor='kvm' asked, hypervisor not "
     "advertised"),
    # numeric operators on advertised values: 8 >= 4
    ({"gpus": frozenset({"8"})}, {"cells:gpus": ">= 4"}, None),
    # other scopes and unscoped specs are for the hosts
    (KVM, {"hypervisor": "hyperv", "capabilities:hypervisor": "hyperv",
           "hw:cpu_policy": "dedicated"}, None),
])
def test_capabilities_filter(caps, extra_specs, reason):
    choice = scheduling.choose([cell("api!c1", caps=caps)],
                               spec(extra_specs=extra_specs),
                               only("CapabilitiesFilter"))
    if reason is None:
        assert paths(choice) == ["api!c1"]
    else:
        assert paths(choice) == []
        assert reasons(choice) == {"api!c1": reason}


def test_capabilities_rejection_is_structured():
    choice = scheduling.choose(
        [cell("api!c1")], spec(extra_specs={"cells:hypervisor": "hyperv"}),
        only("CapabilitiesFilter"))
    why = choice.rejected["api!c1"]
    assert why.asked == {"cells:hypervisor": "hyperv"}
    assert why.has == ("kvm", "xenserver")


@pytest.mark.parametrize("capacity, count, reason", [
    (report(units={"m1.medium": 3}), 3, None),
    (report(nodes=0), 1, "CapacityFilter: no compute nodes"),
    (report(units={"m1.medium": 2}), 3,
     "CapacityFilter: room for 2 of 3 instance(s) of 2 vCPUs, 4096 MiB, "
     "40 GiB (units of m1.medium)"),
    # no m1.medium counted: min(64 // 2, 4096 // 4096, 4000 // 40) = 1
    (report(memory_mb=4096, **{"m1.tiny": 5}), 2,
     "CapacityFilter: room for 1 of 2 instance(s) of 2 vCPUs, 4096 MiB, "
     "40 GiB (bound from free totals)"),
])
def test_capacity_filter(capacity, count, reason):
    conf = only("CapacityFilter", capacity_flavors=[
        "m1.tiny:1:512:1", "m1.medium:2:4096:40"])
    choice = scheduling.choose([cell("api!c1", capacity=capacity)],
                               spec(num_instances=count), conf)
    if reason is None:
        assert paths(choice) == ["api!c1"]
    else:
        assert reasons(choice) == {"api!c1": reason}


def test_a_cell_meets_only_the_filters_before_its_first_refusal():
    # down and without nodes: the default chain says "down" (it runs first)
    choice = scheduling.choose(
        [cell("api!c1", up=False, capacity=report(nodes=0))], spec(),
        conf_with())
    assert reasons(choice) == {"api!c1": "DownCellFilter: down"}


def test_nothing_passes_every_reason_is_given():
    candidates = [
        cell("api!c1", up=False),
        cell("api!c2", caps={}),
        cell("api!c3", capacity=report(nodes=0)),
        cell("api!c4", capacity=report(units={"m1.medium": 0})),
    ]
    choice = scheduling.choose(
        candidates, spec(extra_specs={"cells:hypervisor": "kvm"}),
        conf_with())
    assert choice.ranked == ()
    assert reasons(choice) == {
        "api!c1": "DownCellFilter: down",
        "api!c2": "CapabilitiesFilter: cells:hypervisor='kvm' asked, "
                  "hypervisor not advertised",
        "api!c3": "CapacityFilter: no compute nodes",
        "api!c4": "CapacityFilter: room for 0 of 1 instance(s) of 2 vCPUs, "
                  "4096 MiB, 40 GiB (units of m1.medium)"}


# --- configuration -----------------------------------------------------------------

@pytest.mark.parametrize("option, message", [
    ("scheduler_filters",
     "Invalid value 'NoSuchThing' for option [cells] scheduler_filters: "
     "no cell filter 'NoSuchThing'; known: CapabilitiesFilter, "
     "CapacityFilter, DownCellFilter, TargetCellFilter"),
    ("scheduler_weighers",
     "Invalid value 'NoSuchThing' for option [cells] scheduler_weighers: "
     "no cell weigher 'NoSuchThing'; known: RamByFreeUnitsWeigher, "
     "WeightOffsetWeigher"),
])
def test_an_unknown_plugin_name_is_a_config_error(option, message):
    conf = conf_with(**{option: ["DownCellFilter" if "filter" in option
                                 else "WeightOffsetWeigher", "NoSuchThing"]})
    with pytest.raises(exception.ConfigInvalid) as refused:
        scheduling.chain(conf)
    assert str(refused.value) == message
    assert (refused.value.group, refused.value.option,
            refused.value.value) == ("cells", option, "NoSuchThing")


def test_the_registry_refuses_a_second_class_of_a_known_name():
    other = type("DownCellFilter", (cell_filters.CellFilter,), {})
    with pytest.raises(exception.DuplicatePlugin):
        cell_filters.FILTERS.register(other)
    assert cell_filters.FILTERS.get("DownCellFilter") is \
        cell_filters.DownCellFilter


def test_the_chain_follows_the_configured_order():
    conf = conf_with(scheduler_filters=["CapacityFilter", "DownCellFilter"])
    assert [f.name for f in scheduling.chain(conf).filters] == [
        "CapacityFilter", "DownCellFilter"]
    choice = scheduling.choose(
        [cell("api!c1", up=False, capacity=report(nodes=0))], spec(), conf)
    assert reasons(choice) == {"api!c1": "CapacityFilter: no compute nodes"}


# --- weighing -----------------------------------------------------------------------

def three_cells(scale_c=1.0):
    """A holds 10 m1.medium, B 4, C 6; offsets 0, 5, 10."""
    return [cell("api!a", capacity=report(units={"m1.medium": 10})),
            cell("api!b", capacity=report(units={"m1.medium": 4}),
                 offset=5.0),
            cell("api!c", capacity=report(units={"m1.medium": 6}),
                 offset=10.0, scale=scale_c)]


@pytest.mark.parametrize("cells, overrides, weights, order", [
    # ram: units 10, 4, 6 -> (u - 4) / 6 = 1, 0, 1/3; x 10 = 10, 0, 3.33
    # offset: 0, 5, 10 -> 0, 0.5, 1; x 1
    # sums: a 10, b 0.5, c 4.33
    (three_cells(), {}, [10.0, 0.5, 10 / 3 + 1], ["api!a", "api!c",
                                                  "api!b"]),
    # c's scale 3: c weighs 3 x 4.33 = 13 > a's 10
    (three_cells(3.0), {}, [10.0, 0.5, 13.0], ["api!c", "api!a", "api!b"]),
    # offset multiplier 100: a 10, b 50, c 3.33 + 100
    (three_cells(), {"offset_weight_multiplier": 100.0},
     [10.0, 50.0, 10 / 3 + 100], ["api!c", "api!b", "api!a"]),
    # ram multiplier -1 (pack): a -1, b 0 + 0.5, c -1/3 + 1
    (three_cells(), {"ram_weight_multiplier": -1.0},
     [-1.0, 0.5, 2 / 3], ["api!c", "api!b", "api!a"]),
    # one cell: every normalised weight is 0
    (three_cells()[:1], {}, [0.0], ["api!a"]),
])
def test_weights_worked_out_by_hand(cells, overrides, weights, order):
    conf = conf_with(**overrides)
    configured = scheduling.chain(conf)
    request = scheduling.CellRequest(spec(), configured.flavors)
    assert cell_weighers.weigh(configured.weighers, cells, request) == \
        pytest.approx(weights)
    assert paths(scheduling.choose(cells, spec(), conf)) == order


def test_units_from_free_totals_weigh_too():
    # no reported m1.medium: a min(64 // 2, 8192 // 4096, 4000 // 40) = 2,
    # b reports 6 units; (2 - 2) / 4 = 0 and (6 - 2) / 4 = 1: b first
    cells = [cell("api!a", capacity=report(memory_mb=8192,
                                           **{"m1.tiny": 99})),
             cell("api!b", capacity=report(units={"m1.medium": 6}))]
    assert paths(scheduling.choose(cells, spec(), conf_with())) == [
        "api!b", "api!a"]


def test_ties_are_broken_by_path_whatever_the_input_order():
    same = [cell(f"api!c{i}") for i in (3, 1, 2)]
    first = scheduling.choose(same, spec(), conf_with())
    again = scheduling.choose(list(reversed(same)), spec(), conf_with())
    assert paths(first) == paths(again) == ["api!c1", "api!c2", "api!c3"]


# --- bad input -------------------------------------------------------------------------

def test_a_path_given_twice_is_refused():
    with pytest.raises(exception.InvalidArgument) as refused:
        scheduling.choose([cell("api!c1"), cell("api!C1")], spec(),
                          conf_with())
    assert refused.value.value == "api!c1"


def test_a_candidate_of_another_kind_is_refused():
    with pytest.raises(exception.InvalidArgument) as refused:
        scheduling.choose([{"path": "api!c1"}], spec(), conf_with())
    assert str(refused.value) == (
        "candidates cannot be 'dict': each candidate is a CellCandidate")


@pytest.mark.parametrize("field, kwargs", [
    ("weight offset", dict(offset=math.nan)),
    ("weight scale", dict(scale=math.inf)),
])
def test_a_weight_that_is_not_finite_is_refused(field, kwargs):
    with pytest.raises(exception.InvalidCellWeight) as refused:
        scheduling.choose([cell("api!c1", **kwargs)], spec(), conf_with())
    assert refused.value.field == field


@pytest.mark.parametrize("path", ["api!!c1", "", None, ["api", "c1"]])
def test_a_malformed_candidate_path_is_refused(path):
    candidate = scheduling.CellCandidate(
        path=path, name="c1", is_self=False, up=True, capabilities=KVM,
        capacity=report())
    with pytest.raises(exception.InvalidCellPath):
        scheduling.choose([cell("api!c1"), candidate], spec(), conf_with())
