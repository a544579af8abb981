"""Tests of Flavor: defaults, non-negative sizes, disk in MiB, the 1.0
backport and round trips."""
import pytest

from hoststate import exception
from hoststate.objects import fields
from hoststate.objects import flavor

NS = "hoststate_object."


def make(**kw):
    values = dict(flavorid="m1.small", name="m1.small", memory_mb=2048,
                  vcpus=2, root_gb=20, ephemeral_gb=5, swap=512,
                  extra_specs={"hw:cpu_policy": "dedicated"},
                  description="two cpus")
    values.update(kw)
    obj = flavor.Flavor(**values)
    obj.obj_reset_changes()
    return obj


DATA_1_1 = {"id": None, "flavorid": "m1.small", "name": "m1.small",
            "memory_mb": 2048, "vcpus": 2, "root_gb": 20, "ephemeral_gb": 5,
            "swap": 512, "rxtx_factor": 1.0, "vcpu_weight": None,
            "disabled": False, "is_public": True,
            "extra_specs": {"hw:cpu_policy": "dedicated"},
            "description": "two cpus"}


def test_defaults():
    f = flavor.Flavor(flavorid="tiny", name="tiny", memory_mb=64, vcpus=1)
    assert (f.id, f.root_gb, f.ephemeral_gb, f.swap, f.rxtx_factor,
            f.vcpu_weight, f.disabled, f.is_public, f.extra_specs,
            f.description) == (None, 0, 0, 0, 1.0, None, False, True, {},
                               None)


def test_disk_mb_adds_root_ephemeral_and_swap():
    # (20 GiB root + 5 GiB ephemeral) * 1024 + 512 MiB swap = 26112 MiB
    assert make().disk_mb == 26112


@pytest.mark.parametrize("version,data", [
    ("1.1", DATA_1_1),
    ("1.0", {k: v for k, v in DATA_1_1.items() if k != "description"}),
])
def test_backport_at_each_version(version, data):
    assert make().obj_to_primitive(version) == {
        NS + "name": "Flavor", NS + "namespace": "hoststate",
        NS + "version": version, NS + "data": data}


def test_round_trip_through_primitive():
    f = make(id=7, vcpu_weight=10)
    assert flavor.Flavor.obj_from_primitive(f.obj_to_primitive()) == f


@pytest.mark.parametrize("value", ["false", "no", 2])
def test_booleans_must_be_booleans(value):
    # ovo alone would make "false" true.
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        make(disabled=value)
    assert err.value.field == "disabled"


@pytest.mark.parametrize("field", ["disabled", "swap", "extra_specs"])
def test_none_for_a_field_with_a_default_is_refused_not_replaced(field):
    # ovo alone would quietly store the default instead of the caller's None.
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        make(**{field: None})
    assert (err.value.field, err.value.value) == (field, None)


@pytest.mark.parametrize("field,value", [
    ("memory_mb", -1), ("vcpus", -2), ("root_gb", -1), ("ephemeral_gb", -1),
    ("swap", -512), ("rxtx_factor", -0.5), ("memory_mb", "big"),
    ("memory_mb", None), ("extra_specs", ["hw:cpu_policy"]),
    ("extra_specs", {"hw:numa_nodes": None}), ("disabled", "maybe"),
    ("id", -1), ("vcpu_weight", "heavy"),
    ("name", ["m1"]),
])
def test_bad_values_raise_naming_the_field(field, value):
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        make(**{field: value})
    assert (err.value.objname, err.value.field) == ("Flavor", field)


def test_bad_assignment_leaves_the_value():
    f = make()
    with pytest.raises(exception.ObjectFieldInvalid):
        f.memory_mb = -1
    assert f.memory_mb == 2048


def test_unknown_field_raises():
    with pytest.raises(exception.UnknownObjectField) as err:
        make(disk_gb=10)
    assert err.value.field == "disk_gb"


# --- the stored text, made once per distinct flavor ---------------------------

def _m1(**changes):
    values = dict(flavorid="m1", name="m1.small", memory_mb=2048, vcpus=1,
                  root_gb=20, extra_specs={"hw:cpu_policy": "shared"})
    values.update(changes)
    return flavor.Flavor(**values)


@pytest.mark.parametrize("changes", [
    {}, {"extra_specs": {"hw:cpu_policy": "dedicated"}},
    {"extra_specs": {}}, {"description": "big"}, {"description": None},
    {"id": 7}, {"rxtx_factor": 2.0}, {"disabled": True},
])
def test_the_stored_text_is_the_flavor_as_json(changes):
    flavor = _m1(**changes)
    assert flavor.stored_text() == fields.dump_json(flavor)


def test_flavors_that_differ_in_one_value_have_their_own_text():
    texts = {_m1(extra_specs={"hw:cpu_policy": policy}).stored_text()
             for policy in ("shared", "dedicated", "mixed")}
    texts.add(_m1(description="x").stored_text())
    texts.add(_m1(root_gb=40).stored_text())
    assert len(texts) == 5
    # equal flavors, distinct objects: one text
    assert _m1(id=3).stored_text() is _m1(id=3).stored_text()
