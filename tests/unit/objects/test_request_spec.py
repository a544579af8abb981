"""Tests of RequestSpec and its parts (Destination, SchedulerRetries,
SchedulerLimits): construction from components, hints, defaults, strict
input and round trips, including children at older versions."""
import pytest

from hoststate import exception
from hoststate.objects import flavor
from hoststate.objects import image_meta
from hoststate.objects import numa
from hoststate.objects import pci
from hoststate.objects import request_spec

NS = "hoststate_object."
INSTANCE = "f3c1a8a4-2b7e-4f3b-9e0c-8d1b6a5c4e21"
IMAGE = "9c4b2a0e-7d8f-4d0e-8a6a-0c2f5b1e9d31"


def small_flavor(**kw):
    values = dict(flavorid="m1.small", name="m1.small", memory_mb=2048,
                  vcpus=2, root_gb=20, ephemeral_gb=1, swap=256,
                  description="small")
    values.update(kw)
    return flavor.Flavor(**values)


def spec(**kw):
    values = dict(instance_uuid=INSTANCE, flavor=small_flavor(),
                  image={"id": IMAGE, "min_ram": 64,
                         "properties": {"hw_architecture": "x86_64"}},
                  scheduler_hints={"group": "g-1",
                                   "same_host": ["a", "b"]},
                  project_id="p1", user_id="u1", availability_zone="az1")
    values.update(kw)
    return request_spec.RequestSpec.from_components(**values)


# --- construction and helpers ------------------------------------------------

def test_from_components_builds_image_from_a_glance_dict():
    s = spec()
    assert isinstance(s.image, image_meta.ImageMeta)
    assert s.image.properties.hw_architecture == "x86_64"


def test_from_components_keeps_an_image_object():
    image = image_meta.ImageMeta(id=IMAGE)
    assert spec(image=image).image is image


def test_from_components_makes_every_hint_a_list():
    assert spec(scheduler_hints={"group": "g-1", "n": 3, "l": ["x"]}) \
        .scheduler_hints == {"group": ["g-1"], "n": ["3"], "l": ["x"]}


def test_get_scheduler_hint_returns_a_lone_value_unwrapped():
    s = spec()
    assert s.get_scheduler_hint("group") == "g-1"
    assert s.get_scheduler_hint("same_host") == ["a", "b"]
    assert s.get_scheduler_hint("query") is None
    assert s.get_scheduler_hint("query", "[]") == "[]"


def test_defaults():
    s = request_spec.RequestSpec(instance_uuid=INSTANCE,
                                 flavor=small_flavor())
    assert (s.num_instances, s.force_hosts, s.force_nodes, s.ignore_hosts,
            s.scheduler_hints, s.image, s.instance_group,
            s.requested_destination, s.numa_topology, s.pci_requests,
            s.retry, s.limits) == (1, [], [], [], {}, None, None, None,
                                   None, None, None, None)


def test_flavor_sizes_read_through_the_spec():
    s = spec()
    assert (s.vcpus, s.memory_mb, s.root_gb, s.ephemeral_gb, s.swap) == \
        (2, 2048, 20, 1, 256)


def test_forced_and_ignored_hosts_are_copied():
    hosts = ["h1"]
    s = spec(force_hosts=hosts, force_nodes=("n1",), ignore_hosts=["h9"])
    hosts.append("h2")
    assert (s.force_hosts, s.force_nodes, s.ignore_hosts) == \
        (["h1"], ["n1"], ["h9"])


# --- strict input ------------------------------------------------------------

@pytest.mark.parametrize("field,value", [
    ("num_instances", 0), ("num_instances", "many"),
    ("instance_uuid", "instance-1"), ("flavor", {"vcpus": 1}),
    ("force_hosts", [["h1"]]), ("numa_topology", small_flavor()),
    ("instance_group", small_flavor()),
])
def test_bad_values_raise_naming_the_field(field, value):
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        spec(**{field: value})
    assert (err.value.objname, err.value.field) == ("RequestSpec", field)


def test_a_single_forced_host_name_is_a_list_of_one():
    assert spec(force_hosts="h1", ignore_hosts="h2").force_hosts == ["h1"]
    assert spec(ignore_hosts="h2").ignore_hosts == ["h2"]


def test_force_hosts_must_be_a_list_when_set_directly():
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        spec().force_hosts = "h1"
    assert err.value.field == "force_hosts"


def test_bad_hint_raises():
    s = spec()
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        s.scheduler_hints = {"group": [["nested"]]}
    assert err.value.field == "scheduler_hints"


def test_unknown_field_raises():
    with pytest.raises(exception.UnknownObjectField) as err:
        request_spec.RequestSpec(instance_uuid=INSTANCE, flavour=None)
    assert err.value.field == "flavour"


# --- parts -------------------------------------------------------------------

def test_destination_require_aggregates_adds_an_any_of_entry():
    dest = request_spec.Destination(host="h1")
    dest.require_aggregates(["agg-a", "agg-b"])
    dest.require_aggregates(["agg-c"])
    assert dest.aggregates == ["agg-a,agg-b", "agg-c"]
    assert (dest.node, dest.cell) == (None, None)


def test_destination_allow_cross_cell_move_defaults_to_false():
    assert request_spec.Destination(host="h1").allow_cross_cell_move is False


@pytest.mark.parametrize("version,expected", [
    ("1.1", {"host": "h1", "node": None, "cell": None, "aggregates": None,
             "allow_cross_cell_move": True}),
    # 1.0 predates cross-cell moves: the flag is dropped, not sent as False
    ("1.0", {"host": "h1", "node": None, "cell": None, "aggregates": None}),
])
def test_destination_backport_drops_allow_cross_cell_move_before_1_1(
        version, expected):
    dest = request_spec.Destination(host="h1", allow_cross_cell_move=True)
    primitive = dest.obj_to_primitive(version)
    assert primitive[NS + "version"] == version
    assert primitive[NS + "data"] == expected


def test_destination_from_a_1_0_primitive_does_not_allow_cross_cell():
    old = request_spec.Destination(host="h1").obj_to_primitive("1.0")
    loaded = request_spec.Destination.obj_from_primitive(old)
    assert loaded.allow_cross_cell_move is False


def test_destination_cell_must_be_a_cell_mapping():
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        request_spec.Destination(cell="cell1")
    assert err.value.field == "cell"


def test_retries_record_attempts():
    retry = request_spec.SchedulerRetries()
    retry.record_attempt("h1", "n1")
    retry.record_attempt("h2", "n2")
    assert (retry.num_attempts, retry.hosts) == (2, [["h1", "n1"],
                                                     ["h2", "n2"]])


def test_limits_dict_round_trip_keeps_only_set_limits():
    numa_limits = numa.NUMATopologyLimits(cpu_allocation_ratio=16.0,
                                          ram_allocation_ratio=1.5)
    limits = request_spec.SchedulerLimits.from_dict(
        {"vcpu": 32, "memory_mb": 6144, "numa_topology": numa_limits})
    assert limits.disk_gb is None
    assert limits.to_dict() == {"vcpu": 32, "memory_mb": 6144,
                                "numa_topology": numa_limits}


@pytest.mark.parametrize("limits,field", [
    ({"vcpu": -1}, "vcpu"), ({"disk_gb": "lots"}, "disk_gb"),
])
def test_bad_limits_raise_naming_the_field(limits, field):
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        request_spec.SchedulerLimits.from_dict(limits)
    assert err.value.field == field


def test_unknown_limit_raises():
    with pytest.raises(exception.UnknownObjectField) as err:
        request_spec.SchedulerLimits.from_dict({"vcpus": 1})
    assert err.value.field == "vcpus"


# --- round trips -------------------------------------------------------------

def full_spec():
    s = spec(
        numa_topology=numa.InstanceNUMATopology(
            instance_uuid=INSTANCE, cells=[numa.InstanceNUMACell(
                id=0, pcpuset={0, 1}, memory=2048, cpu_policy="dedicated",
                cpu_pinning={0: 4, 1: 5})]),
        pci_requests=pci.InstancePCIRequests(
            instance_uuid=INSTANCE, requests=[pci.InstancePCIRequest(
                count=1, spec=[{"vendor_id": "8086"}])]),
        requested_destination=request_spec.Destination(host="h1",
                                                       node="n1"))
    s.retry = request_spec.SchedulerRetries(num_attempts=1,
                                            hosts=[["h0", "n0"]])
    s.limits = request_spec.SchedulerLimits(vcpu=8)
    s.obj_reset_changes(recursive=True)
    return s


def test_round_trip_through_primitive():
    s = full_spec()
    again = request_spec.RequestSpec.obj_from_primitive(s.obj_to_primitive())
    assert again == s
    assert again.numa_topology.cells[0].cpu_pinning == {0: 4, 1: 5}
    assert again.get_scheduler_hint("group") == "g-1"


def test_round_trip_through_json_text():
    from oslo_serialization import jsonutils
    s = full_spec()
    again = request_spec.RequestSpec.obj_from_primitive(
        jsonutils.loads(jsonutils.dumps(s.obj_to_primitive())))
    assert again == s


def test_target_version_sends_children_at_known_versions():
    data = full_spec().obj_to_primitive("1.0")[NS + "data"]
    assert data["flavor"][NS + "version"] == "1.1"
    assert data["flavor"][NS + "data"]["description"] == "small"


def test_manifest_backports_the_flavor_inside():
    data = full_spec().obj_to_primitive(
        "1.0", {"RequestSpec": "1.0", "Flavor": "1.0"})[NS + "data"]
    assert data["flavor"][NS + "version"] == "1.0"
    assert "description" not in data["flavor"][NS + "data"]
    assert data["flavor"][NS + "data"]["memory_mb"] == 2048


def test_manifest_walk_skips_classes_not_registered():
    assert request_spec._registered_tree_versions("NoSuchObject") == {}
    tree = request_spec._registered_tree_versions("SchedulerLimits")
    assert tree == {"SchedulerLimits": "1.0", "NUMATopologyLimits": "1.0"}


def _registered(name):
    from hoststate.objects import base
    versions = base.HoststateObjectRegistry.hoststate_classes.get(name)
    if not versions:
        pytest.skip("%s is not registered in this process" % name)
    return versions[0]


def test_instance_group_accepts_the_registered_class_by_name():
    group = _registered("InstanceGroup")()
    s = spec(instance_group=group)
    assert s.instance_group is group
    data = s.obj_to_primitive("1.0")[NS + "data"]
    assert data["instance_group"][NS + "name"] == "InstanceGroup"


def test_destination_cell_accepts_the_registered_class_by_name():
    cell = _registered("CellMapping")()
    assert request_spec.Destination(cell=cell).cell is cell
