"""Tests of Selection: construction from plain values, the legacy dict,
the 1.0 backport and round trips."""
import pytest
from oslo_serialization import jsonutils

from hoststate import exception
from hoststate.objects import numa
from hoststate.objects import request_spec
from hoststate.objects import selection

NS = "hoststate_object."
NODE = "2f0b8e6c-9a1d-4c3e-b5f7-6d8e9a0b1c2d"
CELL = "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"


def prim(name, version, data):
    return {NS + "name": name, NS + "namespace": "hoststate",
            NS + "version": version, NS + "data": data}


def make(**kw):
    values = dict(service_host="host1", nodename="node1",
                  compute_node_uuid=NODE, cell_uuid=CELL,
                  limits=request_spec.SchedulerLimits(vcpu=16,
                                                      memory_mb=4096),
                  allocation_request={"node": NODE, "vcpus": 2},
                  allocation_request_version="1.0",
                  availability_zone="az1")
    values.update(kw)
    sel = selection.Selection.from_node(**values)
    sel.obj_reset_changes(recursive=True)
    return sel


LIMITS_1_0 = prim("SchedulerLimits", "1.0", {
    "numa_topology": None, "vcpu": 16, "memory_mb": 4096, "disk_gb": None})
DATA_1_1 = {"service_host": "host1", "nodename": "node1",
            "compute_node_uuid": NODE, "cell_uuid": CELL,
            "limits": LIMITS_1_0,
            "allocation_request": '{"node": "%s", "vcpus": 2}' % NODE,
            "allocation_request_version": "1.0",
            "availability_zone": "az1"}


def test_from_node_stores_a_dict_allocation_request_as_json():
    sel = make()
    assert jsonutils.loads(sel.allocation_request) == {"node": NODE,
                                                       "vcpus": 2}


def test_from_node_defaults():
    sel = selection.Selection.from_node("h", "n", NODE, CELL)
    assert (sel.limits, sel.allocation_request,
            sel.allocation_request_version, sel.availability_zone) == \
        (None, None, None, None)


@pytest.mark.parametrize("version,data", [
    ("1.1", DATA_1_1),
    ("1.0", {k: v for k, v in DATA_1_1.items() if k != "availability_zone"}),
])
def test_backport_at_each_version(version, data):
    assert make().obj_to_primitive(version) == prim("Selection", version,
                                                    data)


def test_round_trip_through_primitive_and_json():
    sel = make(limits=request_spec.SchedulerLimits(
        numa_topology=numa.NUMATopologyLimits(cpu_allocation_ratio=4.0,
                                              ram_allocation_ratio=1.0)))
    again = selection.Selection.obj_from_primitive(
        jsonutils.loads(jsonutils.dumps(sel.obj_to_primitive())))
    assert again == sel
    assert again.limits.numa_topology.cpu_allocation_ratio == 4.0


def test_legacy_dict():
    assert make().to_dict() == {"host": "host1", "nodename": "node1",
                                "limits": {"vcpu": 16, "memory_mb": 4096}}
    assert make(limits=None).to_dict()["limits"] == {}


@pytest.mark.parametrize("field,value", [
    ("compute_node_uuid", "node1"), ("cell_uuid", None),
    ("service_host", None), ("limits", {"vcpu": 1}),
    ("allocation_request", ["claim"]),
])
def test_bad_values_raise_naming_the_field(field, value):
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        make(**{field: value})
    assert (err.value.objname, err.value.field) == ("Selection", field)


def test_unknown_field_raises():
    with pytest.raises(exception.UnknownObjectField) as err:
        selection.Selection(host="h1")
    assert err.value.field == "host"
