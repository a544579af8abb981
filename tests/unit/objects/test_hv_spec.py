"""Tests of HVSpec: triples, canonical names, the supported_instances JSON
and the 1.0 backport of the Virtuozzo hypervisor type."""
import pytest

from hoststate import exception
from hoststate.objects import hv_spec

NS = "hoststate_object."


def prim(version, data):
    return {NS + "name": "HVSpec", NS + "namespace": "hoststate",
            NS + "version": version, NS + "data": data}


def test_list_round_trip():
    spec = hv_spec.HVSpec.from_list(["x86_64", "kvm", "hvm"])
    assert spec.to_list() == ["x86_64", "kvm", "hvm"]
    assert hv_spec.HVSpec.from_list(("aarch64", "qemu", "hvm")).arch == \
        "aarch64"


@pytest.mark.parametrize("given,canonical", [
    (["AMD64", "KVM", "HVM"], ["x86_64", "kvm", "hvm"]),
    (["i386", "xapi", "pv"], ["i686", "xen", "xen"]),
    (["x86_32", "qemu", "hv"], ["i686", "qemu", "hvm"]),
    (["ppc64le", "lxc", "exe"], ["ppc64le", "lxc", "exe"]),
    (["s390x", "ironic", "baremetal"], ["s390x", "ironic", "hvm"]),
])
def test_names_are_canonicalized(given, canonical):
    assert hv_spec.HVSpec.from_list(given).to_list() == canonical


@pytest.mark.parametrize("triple,field", [
    (["z80", "kvm", "hvm"], "arch"),
    (["x86_64", "bochs", "hvm"], "hv_type"),
    (["x86_64", "kvm", "paravirt"], "vm_mode"),
    (["x86_64", "kvm", None], "vm_mode"),
])
def test_unknown_names_raise_naming_the_field(triple, field):
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        hv_spec.HVSpec.from_list(triple)
    assert (err.value.objname, err.value.field) == ("HVSpec", field)


@pytest.mark.parametrize("bad", [["x86_64", "kvm"], "x86_64,kvm,hvm", None])
def test_from_list_wants_a_triple(bad):
    with pytest.raises(exception.ObjectFieldInvalid):
        hv_spec.HVSpec.from_list(bad)


def test_supported_instances_json_round_trip():
    specs = [hv_spec.HVSpec.from_list(t)
             for t in (["x86_64", "kvm", "hvm"], ["i686", "kvm", "hvm"])]
    text = hv_spec.to_json(specs)
    assert text == '[["x86_64", "kvm", "hvm"], ["i686", "kvm", "hvm"]]'
    assert [s.to_list() for s in hv_spec.from_json(text)] == \
        [["x86_64", "kvm", "hvm"], ["i686", "kvm", "hvm"]]


@pytest.mark.parametrize("empty", [None, "", "[]"])
def test_empty_supported_instances_is_no_specs(empty):
    assert hv_spec.from_json(empty) == []


def test_supported_instances_must_be_a_list():
    with pytest.raises(exception.ObjectFieldInvalid):
        hv_spec.from_json('{"x86_64": "kvm"}')


def test_round_trip_through_primitive():
    spec = hv_spec.HVSpec.from_list(["x86_64", "kvm", "hvm"])
    spec.obj_reset_changes()
    assert hv_spec.HVSpec.obj_from_primitive(spec.obj_to_primitive()) == spec


@pytest.mark.parametrize("version,hv_type", [("1.1", "vz"),
                                             ("1.0", "parallels")])
def test_virtuozzo_backports_to_parallels(version, hv_type):
    spec = hv_spec.HVSpec.from_list(["x86_64", "vz", "hvm"])
    spec.obj_reset_changes()
    assert spec.obj_to_primitive(version) == prim(
        version, {"arch": "x86_64", "hv_type": hv_type, "vm_mode": "hvm"})


def test_other_types_are_unchanged_at_1_0():
    spec = hv_spec.HVSpec.from_list(["x86_64", "kvm", "hvm"])
    spec.obj_reset_changes()
    assert spec.obj_to_primitive("1.0") == prim(
        "1.0", {"arch": "x86_64", "hv_type": "kvm", "vm_mode": "hvm"})
