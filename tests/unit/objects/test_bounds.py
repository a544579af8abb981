"""Bounded object fields: whole numbers, finite floats, storable text, sized
containers; each violation an ObjectFieldInvalid naming the object, the
field and the value, raised on assignment (see objects/bounded.py)."""
import decimal
import fractions
import uuid

import numpy as np
import pytest

import hoststate.objects  # noqa: F401  (registers every object)
from hoststate import exception
from hoststate.conf import limits
from hoststate.db import schema
from hoststate.objects import aggregate
from hoststate.objects import base
from hoststate.objects import bounded
from hoststate.objects import compute_node
from hoststate.objects import flavor
from hoststate.objects import image_meta
from hoststate.objects import instance
from hoststate.objects import numa
from hoststate.objects import request_spec
from hoststate.objects import service

UUID = str(uuid.UUID(int=1))


def make_flavor(**kw):
    values = dict(flavorid="m1", name="m1", memory_mb=512, vcpus=1)
    values.update(kw)
    return flavor.Flavor(**values)


def refused(make, field, value, as_given=True):
    """The error ``make(field=value)`` raises; ``as_given``: the error's
    value is the one given (from_components makes a hint or a host name
    a list first)."""
    with pytest.raises(exception.ObjectFieldInvalid) as info:
        make(**{field: value})
    err = info.value
    assert err.field == field
    if as_given:
        assert err.value is value or err.value == value
    assert "\n" not in str(err) and len(str(err)) < 1000
    return err


# --- the scalar conversions --------------------------------------------------

@pytest.mark.parametrize("value,expected", [
    (3, 3), ("3", 3), (" 3 ", 3), (3.0, 3), (decimal.Decimal("3"), 3),
    (fractions.Fraction(6, 2), 3), (np.int64(3), 3), (np.float64(3.0), 3),
])
def test_whole_numbers_are_taken(value, expected):
    number = bounded.whole_number(value)
    assert number == expected and type(number) is int


@pytest.mark.parametrize("value", [
    2.7, "2.7", "1e3", "0x10", "nan", float("nan"), float("inf"),
    -float("inf"), decimal.Decimal("2.5"), decimal.Decimal("NaN"),
    fractions.Fraction(1, 3), True, False, b"3", None, [3], {"a": 3},
    "9" * 5000, np.float64(2.5), complex(3, 0),
])
def test_what_is_not_a_whole_number_is_refused(value):
    with pytest.raises((ValueError, TypeError)):
        bounded.whole_number(value)


@pytest.mark.parametrize("value", [
    float("nan"), float("inf"), "inf", "-Infinity", "nan", 10 ** 400,
    decimal.Decimal("Infinity"), True, None, "x", [1.0],
])
def test_what_is_not_a_finite_number_is_refused(value):
    with pytest.raises((ValueError, TypeError)):
        bounded.finite_number(value)


@pytest.mark.parametrize("value", [True, None, b"host", ["h"], {"h": 1},
                                   float("nan"), object()])
def test_what_is_not_text_is_refused(value):
    with pytest.raises((ValueError, TypeError)):
        bounded.text(value)


@pytest.mark.parametrize("value,reason", [
    ("a\x00b", "contains a NUL character"),
    ("\ud800", "is not valid Unicode (a lone surrogate)"),
    ("x" * 256, "longer than 255 characters (256)"),
])
def test_text_that_no_database_stores_is_refused(value, reason):
    with pytest.raises(ValueError, match=reason.replace("(", r"\(")
                       .replace(")", r"\)")):
        bounded.String().coerce(None, "name", value)


def test_any_character_a_database_stores_is_taken():
    name = "ホスト-é-🚀" * 25        # 250 characters, 4-byte ones too
    assert bounded.String().coerce(None, "name", name) == name


# --- the defaults follow the column types ------------------------------------

INTEGER_COLUMNS = [
    (t.name, c.name) for t in schema.metadata.sorted_tables for c in t.c
    if type(c.type).__name__ == "Integer"]


def test_every_integer_column_is_32_bits_and_every_big_one_64():
    # the bounds below are those of these two column types, nothing else
    kinds = {type(c.type).__name__ for t in schema.metadata.sorted_tables
             for c in t.c}
    assert {"Integer", "BigInteger"} <= kinds
    assert len(INTEGER_COLUMNS) > 20


@pytest.mark.parametrize("cls,field,largest", [
    (compute_node.ComputeNode, "vcpus", limits.INT32_MAX),
    (compute_node.ComputeNode, "memory_mb", limits.INT32_MAX),
    (compute_node.ComputeNode, "free_ram_mb", limits.INT32_MAX),
    (compute_node.ComputeNode, "hypervisor_version", limits.INT64_MAX),
    (instance.Instance, "memory_mb", limits.INT32_MAX),
    (service.Service, "report_count", limits.INT32_MAX),
    (request_spec.SchedulerLimits, "memory_mb", limits.INT64_MAX),
    (image_meta.ImageMeta, "size", limits.INT64_MAX),
    (numa.NUMAPagesTopology, "total", limits.INT64_MAX),
])
def test_integer_fields_take_their_largest_value_and_refuse_one_more(
        cls, field, largest):
    obj = cls()
    setattr(obj, field, largest)
    assert getattr(obj, field) == largest
    with pytest.raises(exception.ObjectFieldInvalid) as info:
        setattr(obj, field, largest + 1)
    assert (info.value.objname, info.value.field, info.value.value) == (
        cls.obj_name(), field, largest + 1)
    assert getattr(obj, field) == largest


def test_signed_integer_fields_refuse_below_32_bits():
    node = compute_node.ComputeNode()
    node.free_ram_mb = limits.INT32_MIN
    with pytest.raises(exception.ObjectFieldInvalid):
        node.free_ram_mb = limits.INT32_MIN - 1


@pytest.mark.parametrize("value", [2.7, True, float("nan"), float("inf"),
                                   "1e3", b"1"])
def test_integer_fields_never_truncate(value):
    refused(lambda **kw: compute_node.ComputeNode(**kw), "vcpus", value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "nan", True,
                                   limits.MAX_ALLOCATION_RATIO * 2])
def test_ratios_are_finite_and_bounded(value):
    refused(lambda **kw: compute_node.ComputeNode(**kw),
            "cpu_allocation_ratio", value)


def test_integral_floats_and_numerals_are_stored_as_ints():
    node = compute_node.ComputeNode(vcpus=8.0, memory_mb="1024")
    assert (node.vcpus, node.memory_mb) == (8, 1024)
    assert type(node.vcpus) is int


@pytest.mark.parametrize("cls,field,length", [
    (compute_node.ComputeNode, "host", 255),
    (compute_node.ComputeNode, "cpu_info", limits.DOCUMENT_LENGTH),
    (instance.Instance, "display_name", 255),
    (service.Service, "disabled_reason", 255),
    (aggregate.Aggregate, "name", 255),
    (flavor.Flavor, "description", 65535),
])
def test_string_fields_are_bounded_by_their_columns(cls, field, length):
    obj = cls()
    setattr(obj, field, "a" * length)
    with pytest.raises(exception.ObjectFieldInvalid) as info:
        setattr(obj, field, "a" * (length + 1))
    assert info.value.field == field


def test_a_long_value_is_quoted_short_in_the_message():
    err = refused(lambda **kw: compute_node.ComputeNode(**kw), "host",
                  "h" * 1000000)
    assert "longer than 255 characters (1000000)" in str(err)
    assert len(err.value) == 1000000


# --- Flavor: Nova's API limits -----------------------------------------------

@pytest.mark.parametrize("field,low,high", [
    ("vcpus", 1, 2 ** 31 - 1), ("memory_mb", 1, 2 ** 31 - 1),
    ("root_gb", 0, 2 ** 31 - 1), ("ephemeral_gb", 0, 2 ** 31 - 1),
    ("swap", 0, 2 ** 31 - 1),
])
def test_flavor_sizes_follow_novas_api(field, low, high):
    assert getattr(make_flavor(**{field: low}), field) == low
    assert getattr(make_flavor(**{field: high}), field) == high
    for beyond in (low - 1, high + 1, 2 ** 64, 2.5, True, float("nan")):
        refused(make_flavor, field, beyond)


@pytest.mark.parametrize("field", ["name", "flavorid"])
def test_flavor_names_are_1_to_255_characters(field):
    assert getattr(make_flavor(**{field: "n" * 255}), field) == "n" * 255
    refused(make_flavor, field, "")
    refused(make_flavor, field, "n" * 256)


@pytest.mark.parametrize("specs", [
    {"": "x"}, {"k" * 256: "x"}, {"hw:cpu_policy": "v" * 256},
    {"hw/cpu": "x"}, {"hw:cpu\n": "x"}, {1: "x"}, {"hw:x": True},
    {"hw:x": None}, {"hw:x": ["a"]}, {"hw:x": float("nan")},
])
def test_flavor_extra_specs_follow_the_columns_and_novas_key_rule(specs):
    refused(make_flavor, "extra_specs", specs)


def test_flavor_extra_specs_at_their_bounds_and_numbers_as_text():
    specs = {"k" * 255: "v" * 255, "hw:numa_nodes": 2, "a-b_c:d. e": "1"}
    assert make_flavor(extra_specs=specs).extra_specs == dict(
        specs, **{"hw:numa_nodes": "2"})


def test_flavor_extra_specs_are_checked_when_changed_in_place():
    f = make_flavor()
    f.extra_specs["hw:cpu_policy"] = "dedicated"
    with pytest.raises(ValueError):
        f.extra_specs["k" * 256] = "x"
    with pytest.raises(ValueError):
        f.extra_specs["hw:x"] = "v" * 256
    assert f.extra_specs == {"hw:cpu_policy": "dedicated"}


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf"), 1e39])
def test_flavor_rxtx_factor_is_a_finite_float(value):
    refused(make_flavor, "rxtx_factor", value)


# --- RequestSpec -------------------------------------------------------------

def spec(**kw):
    return request_spec.RequestSpec.from_components(UUID, make_flavor(), **kw)


def test_num_instances_from_1_to_the_documented_bound():
    assert spec(num_instances=limits.MAX_REQUEST_ITEMS).num_instances == 1000
    for value in (0, -1, 1001, 2 ** 31, 2.5, True, "many", None):
        refused(spec, "num_instances", value)


@pytest.mark.parametrize("hints", [
    ["group", "g"], "group=g", {"": "x"}, {"h" * 256: "x"},
    {"group": "g" * 256}, {"group": {"a": "b"}}, {"group": None},
    {"group": True}, {"same_host": [["nested"]]},
    {"different_host": ["u"] * 1001},
    {f"h{i}": "x" for i in range(1001)},
    {"a": ["x"] * 600, "b": ["x"] * 600},          # 1200 values in all
    {"query": "q" * 65536},
])
def test_scheduler_hints_shape_and_bounds(hints):
    refused(spec, "scheduler_hints", hints, as_given=False)


def test_scheduler_hints_at_their_bounds():
    hints = {"group": "g" * 255, "different_host": ["u"] * 998,
             "query": '["=", "$host", "' + "x" * 65000 + '"]'}
    assert spec(scheduler_hints=hints).scheduler_hints["different_host"] == (
        ["u"] * 998)


@pytest.mark.parametrize("field", ["force_hosts", "force_nodes",
                                   "ignore_hosts"])
@pytest.mark.parametrize("value", [
    5, 2.5, True, {"h": 1}, [""], ["h" * 256], [None], [["h"]],
    ["h"] * 1001, (name for name in ["h"]),
])
def test_forced_and_ignored_hosts_are_bounded_lists_of_names(field, value):
    refused(spec, field, value)


def test_forced_hosts_may_be_a_tuple_or_one_name():
    assert spec(force_hosts=("a", "b"), ignore_hosts="c").force_hosts == [
        "a", "b"]


def test_an_endless_generator_is_refused_without_being_drained():
    import itertools
    refused(spec, "ignore_hosts", itertools.count())


@pytest.mark.parametrize("field,value", [
    ("project_id", "p" * 256), ("user_id", ["u"]), ("availability_zone", True),
    ("instance_uuid", "not-a-uuid"), ("flavor", {"vcpus": 1}),
])
def test_other_request_fields_are_typed_and_bounded(field, value):
    if field == "instance_uuid":
        with pytest.raises(exception.ObjectFieldInvalid) as info:
            request_spec.RequestSpec.from_components(value, make_flavor())
        assert info.value.field == field
        return
    if field == "flavor":
        with pytest.raises(exception.ObjectFieldInvalid) as info:
            request_spec.RequestSpec.from_components(UUID, value)
        assert info.value.field == field
        return
    refused(spec, field, value)


# --- NUMA and images: hardware-sized bounds ----------------------------------

def test_cpu_ids_stay_below_the_documented_bound():
    cell = numa.NUMACell(id=0, cpuset={0, limits.MAX_CPU_IDS - 1}, memory=1)
    assert max(cell.cpuset) == 65535
    with pytest.raises(exception.ObjectFieldInvalid):
        cell.cpuset = {limits.MAX_CPU_IDS}
    with pytest.raises(exception.ObjectFieldInvalid):
        numa.InstanceNUMACell(id=0, memory=1, cpu_pinning={0: 70000})


def test_image_numa_nodes_are_bounded_by_qemu():
    props = image_meta.ImageMetaProps.from_dict({"hw_numa_nodes": "128"})
    assert props.hw_numa_nodes == 128
    with pytest.raises(exception.ObjectFieldInvalid) as info:
        image_meta.ImageMetaProps.from_dict({"hw_numa_nodes": "129"})
    assert info.value.field == "hw_numa_nodes"


# --- what is not checked: trusted() ------------------------------------------

def test_trusted_still_skips_the_checks_on_purpose():
    selection = hoststate.objects.Selection.trusted(service_host="h" * 300)
    assert len(selection.service_host) == 300


def test_field_invalid_keeps_the_value_and_quotes_it_short():
    err = base.field_invalid("Flavor", "name", "n" * 5000,
                             ValueError("longer than 255 characters"))
    assert err.value == "n" * 5000
    assert len(str(err)) < 300
