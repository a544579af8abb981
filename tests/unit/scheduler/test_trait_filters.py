"""Traits in scheduling (issue 13): flavor trait specs and image
``trait:NAME=required`` properties, the trait mask over the table, and the
image-type and isolated-aggregate request filters, with their NoValidHost
explanations."""
import pytest

from hoststate import exception
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec
from hoststate.scheduler import request as request_mod
from hoststate.scheduler import traits
from support.host_tables import all_rows, hosts_at, make_table

from .test_manager import (INSTANCE, hosts_of, load_conf, make_scheduler,
                           select)

IMAGE_ID = "6a0c4b1e-8a49-4a8e-9c02-33a7f0f3c1d2"
AVX, AVX2, SSE = "HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_CPU_X86_SSE"
QCOW2 = "COMPUTE_IMAGE_TYPE_QCOW2"

NOT_STANDARD = ("not a standard trait (os-traits) nor a custom one "
                "(CUSTOM_...)")


def spec(extra_specs=None, image=None, memory_mb=512):
    flavor = flavor_obj.Flavor(flavorid="m1", name="m1", vcpus=1,
                               memory_mb=memory_mb, root_gb=1,
                               extra_specs=extra_specs or {})
    return request_spec.RequestSpec.from_components(INSTANCE, flavor,
                                                    image=image)


# --- parsing -------------------------------------------------------------------

@pytest.mark.parametrize("extra_specs, required, forbidden", [
    ({}, set(), set()),
    ({f"trait:{AVX}": "required"}, {AVX}, set()),
    ({f"trait:{AVX}": "forbidden"}, set(), {AVX}),
    # group suffixes are Nova's pattern; a node is one provider, so every
    # group's traits are the node's
    ({f"trait1:{AVX}": "required", f"traitgpu-a_1:{SSE}": "forbidden",
      "trait:CUSTOM_X": "required"}, {AVX, "CUSTOM_X"}, {SSE}),
    # not trait specs: other namespaces, no colon, a suffix too long
    ({"hw:cpu_policy": "dedicated", "traits": "x", "trait_x": "y",
      "trait" + "1" * 65 + ":NOPE": "required",
      "capabilities:trait:NOPE": "required"}, set(), set()),
])
def test_flavor_trait_specs(extra_specs, required, forbidden):
    assert traits.from_extra_specs(extra_specs) == traits.TraitRequest(
        frozenset(required), frozenset(forbidden))


@pytest.mark.parametrize("key, value, reason", [
    ("trait:NOT_A_TRAIT", "required", NOT_STANDARD),
    ("trait:HW_CPU_X86_AVX", "maybe", "the value is 'required' or "
                                      "'forbidden'"),
    ("trait:HW_CPU_X86_AVX", "Required", "the value is 'required' or "
                                         "'forbidden'"),
    ("trait2:CUSTOM_lower", "forbidden",
     "a custom trait is CUSTOM_ followed by upper-case letters, digits "
     "and _ only"),
    ("trait:", "required", NOT_STANDARD),
])
def test_a_bad_trait_spec_is_refused_naming_it(key, value, reason):
    with pytest.raises(exception.InvalidSchedulerRequest) as refused:
        traits.from_extra_specs({"trait:CUSTOM_OK": "required", key: value})
    assert (refused.value.field, refused.value.value) == (key, value)
    assert str(refused.value) == (f"Invalid scheduling request: "
                                  f"{key}={value!r}: {reason}")


def test_the_image_adds_required_traits():
    request = request_mod.RequestVector(spec(
        {f"trait:{AVX}": "required", f"trait:{SSE}": "forbidden"},
        image={"id": IMAGE_ID, "properties": {
            f"trait:{AVX2}": "required", "trait:CUSTOM_Y": "required"}}))
    assert request.traits == traits.TraitRequest(
        frozenset({AVX, AVX2, "CUSTOM_Y"}), frozenset({SSE}))


def test_a_bad_spec_is_refused_before_any_host_is_looked_at():
    scheduler = make_scheduler([dict(host="host1")])
    with pytest.raises(exception.InvalidSchedulerRequest,
                       match="trait:HW_CPU_X86_AVX='maybe'"):
        select(scheduler, spec({"trait:HW_CPU_X86_AVX": "maybe"}))
    assert scheduler.table.free_ram_mb[0] == 8192.0


# --- the mask, per distinct trait set --------------------------------------------

NODES = [
    dict(host="host1", driver_traits=[AVX, AVX2]),
    dict(host="host2", driver_traits=[AVX], operator_traits=["CUSTOM_SSD"]),
    dict(host="host3"),
    dict(host="host4", operator_traits=[AVX, AVX2]),   # host1's set again
]


@pytest.mark.parametrize("required, forbidden, hosts", [
    (set(), set(), ["host1", "host2", "host3", "host4"]),
    ({AVX}, set(), ["host1", "host2", "host4"]),
    ({AVX, AVX2}, set(), ["host1", "host4"]),
    ({"CUSTOM_SSD"}, set(), ["host2"]),           # an operator's trait
    (set(), {AVX2}, ["host2", "host3"]),
    ({AVX}, {"CUSTOM_SSD"}, ["host1", "host4"]),
    ({AVX}, {AVX}, []),                           # cannot be both
])
def test_mask(required, forbidden, hosts):
    table = make_table(NODES)
    rows = all_rows(table)
    kept = rows[traits.mask(table, rows, frozenset(required),
                            frozenset(forbidden))]
    assert hosts_at(table, kept) == hosts


def test_the_table_interns_one_set_per_distinct_union():
    """host1 (driver) and host4 (operator) have the same union but
    different stored pairs; host3 has none: four keys, three sets."""
    table = make_table(NODES)
    column = table.interned["traits"]
    assert sorted(sorted(column.value(c)) for c in range(len(column))) == [
        [], ["CUSTOM_SSD", AVX], [AVX, AVX2], [AVX, AVX2]]


# --- flavor and image traits as a request filter ----------------------------------

def test_required_traits_choose_among_hosts():
    """host3 has the most free RAM but not AVX2."""
    scheduler = make_scheduler([
        dict(host="host1", memory_mb=4096, driver_traits=[AVX2]),
        dict(host="host2", memory_mb=8192, operator_traits=[AVX2]),
        dict(host="host3", memory_mb=16384)])
    assert hosts_of(select(scheduler, spec({f"trait:{AVX2}": "required"}),
                           return_alternates=True)) == [["host2", "host1"]]


def test_image_traits_are_required_too():
    scheduler = make_scheduler([
        dict(host="host1", memory_mb=4096, driver_traits=[AVX2]),
        dict(host="host2", memory_mb=8192)])
    chosen = select(scheduler, spec(image={
        "id": IMAGE_ID, "properties": {f"trait:{AVX2}": "required"}}))
    assert hosts_of(chosen) == [["host1"]]


def test_no_host_with_the_traits_is_explained():
    """Counted per trait: AVX2 is missing on host2 and host3, SSE is on
    host1."""
    scheduler = make_scheduler([
        dict(host="host1", driver_traits=[AVX2, SSE]),
        dict(host="host2", driver_traits=[AVX]),
        dict(host="host3")])
    with pytest.raises(exception.NoValidHost) as refused:
        select(scheduler, spec({f"trait:{AVX2}": "required",
                                f"trait:{SSE}": "forbidden"}))
    assert [str(r) for r in refused.value.reasons] == [
        "flavor and image traits (request filter) removed 3 of 3 hosts "
        "(required trait HW_CPU_X86_AVX2 missing on 2 host(s); forbidden "
        "trait HW_CPU_X86_SSE present on 1 host(s))"]


# --- [scheduler] query_placement_for_image_type_support ---------------------------

def _conf(**scheduler):
    conf = load_conf()
    for name, value in scheduler.items():
        conf.set_override(name, value, group="scheduler")
    return conf


IMAGE_TYPE_NODES = [
    dict(host="host1", memory_mb=4096, driver_traits=[QCOW2]),
    dict(host="host2", memory_mb=16384,
         driver_traits=["COMPUTE_IMAGE_TYPE_RAW"])]


@pytest.mark.parametrize("enabled, image, chosen", [
    (True, {"id": IMAGE_ID, "disk_format": "qcow2"}, "host1"),
    (True, {"id": IMAGE_ID, "disk_format": "raw"}, "host2"),
    (False, {"id": IMAGE_ID, "disk_format": "qcow2"}, "host2"),   # default
    (True, {"disk_format": "qcow2"}, "host2"),    # from a volume: no image
    (True, {"id": IMAGE_ID, "disk_format": "floppy"}, "host2"),  # no trait
    (True, {"id": IMAGE_ID}, "host2"),             # no disk format
])
def test_image_type_support(enabled, image, chosen):
    scheduler = make_scheduler(IMAGE_TYPE_NODES, conf=_conf(
        query_placement_for_image_type_support=enabled))
    assert hosts_of(select(scheduler, spec(image=image)))[0][0] == chosen


def test_no_host_for_the_image_type_is_explained():
    scheduler = make_scheduler(IMAGE_TYPE_NODES, conf=_conf(
        query_placement_for_image_type_support=True))
    with pytest.raises(exception.NoValidHost) as refused:
        select(scheduler, spec(image={"id": IMAGE_ID, "disk_format": "vmdk"}))
    assert [str(r) for r in refused.value.reasons] == [
        "image type support (request filter) removed 2 of 2 hosts (required "
        "trait COMPUTE_IMAGE_TYPE_VMDK missing on 2 host(s))"]


def test_the_image_type_is_off_by_default():
    assert load_conf().scheduler.query_placement_for_image_type_support \
        is False
    assert load_conf().scheduler.enable_isolated_aggregate_filtering is False


# --- [scheduler] enable_isolated_aggregate_filtering ------------------------------

#: host3 (the most RAM) is in an aggregate for AVX2 guests, host2 in one
#: for guests needing both AVX2 and a GPU; host1 is in an aggregate whose
#: trait is only forbidden (that isolates nothing)
ISOLATED_HOSTS = [
    dict(host="host1", memory_mb=4096, driver_traits=[AVX2]),
    dict(host="host2", memory_mb=8192, driver_traits=[AVX2, "CUSTOM_GPU"]),
    dict(host="host3", memory_mb=16384, driver_traits=[AVX2])]
ISOLATED_AGGREGATES = [
    ("avx2-only", ["host3"], {f"trait:{AVX2}": "required"}),
    ("gpu-only", ["host2"], {f"trait:{AVX2}": "required",
                             "trait:CUSTOM_GPU": "required"}),
    ("not-isolating", ["host1"], {"trait:CUSTOM_GPU": "forbidden",
                                  "ssd": "true"}),
]


def _isolating(enabled=True):
    return make_scheduler(ISOLATED_HOSTS, aggregates=ISOLATED_AGGREGATES,
                          conf=_conf(
                              enable_isolated_aggregate_filtering=enabled))


@pytest.mark.parametrize("extra_specs, image_props, hosts", [
    # nothing required: both isolated aggregates keep their hosts
    ({}, {}, ["host1"]),
    # AVX2 opens avx2-only; gpu-only also wants CUSTOM_GPU
    ({f"trait:{AVX2}": "required"}, {}, ["host3", "host1"]),
    # from the image, the same
    ({}, {f"trait:{AVX2}": "required"}, ["host3", "host1"]),
    # both (flavor and image together) open both
    ({"trait:CUSTOM_GPU": "required"}, {f"trait:{AVX2}": "required"},
     ["host2"]),
    # a forbidden trait opens nothing
    ({f"trait:{AVX2}": "forbidden"}, {}, []),
])
def test_isolated_aggregates(extra_specs, image_props, hosts):
    request = spec(extra_specs, image={"id": IMAGE_ID,
                                       "properties": image_props})
    scheduler = _isolating()
    if not hosts:
        with pytest.raises(exception.NoValidHost):
            select(scheduler, request)
        return
    assert hosts_of(select(scheduler, request, return_alternates=True)) == \
        [hosts]


def test_isolation_is_off_by_default():
    assert hosts_of(select(_isolating(enabled=False), spec()))[0][0] == \
        "host3"


def test_hosts_all_isolated_are_explained():
    scheduler = make_scheduler(ISOLATED_HOSTS[1:],
                               aggregates=ISOLATED_AGGREGATES,
                               conf=_conf(
                                   enable_isolated_aggregate_filtering=True))
    with pytest.raises(exception.NoValidHost) as refused:
        select(scheduler, spec())
    assert [str(r) for r in refused.value.reasons] == [
        "isolated aggregates (request filter) removed 2 of 2 hosts (every "
        "candidate host is in an aggregate that requires traits the flavor "
        "and image do not (avx2-only, gpu-only))"]


@pytest.mark.parametrize("required, isolated", [
    (set(), {"avx2-only", "gpu-only"}),
    ({AVX2}, {"gpu-only"}),
    ({AVX2, "CUSTOM_GPU"}, set()),
    ({"CUSTOM_GPU"}, {"avx2-only", "gpu-only"}),
])
def test_which_aggregates_are_isolated(required, isolated):
    table = make_table(ISOLATED_HOSTS, aggregates=ISOLATED_AGGREGATES)
    ids = traits.isolated_from(table.aggregates.values(), frozenset(required))
    assert {table.aggregates[i].name for i in ids} == isolated


def test_a_rebuild_runs_no_trait_filter():
    """Nova 34 runs no request filter (and asks Placement nothing) for a
    rebuild: the instance holds its resources where it is."""
    scheduler = make_scheduler([dict(host="host1")])
    request = spec({f"trait:{AVX2}": "required"})
    request.scheduler_hints = {"_nova_check_type": ["rebuild"]}
    vector = scheduler.request_vector(request)
    rows, reasons = scheduler.candidates(vector)
    assert (hosts_at(scheduler.table, rows), reasons) == (["host1"], [])
