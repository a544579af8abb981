"""Tests of PCI device pools (flat dicts, backports, the pci_stats JSON)
and instance PCI requests."""
import pytest
from oslo_serialization import jsonutils

from hoststate import exception
from hoststate.objects import pci

NS = "hoststate_object."
UUID = "0b6f3c4e-5a8e-4d55-9d36-1f2bbd1c1e70"


def prim(name, version, data):
    return {NS + "name": name, NS + "namespace": "hoststate",
            NS + "version": version, NS + "data": data}


FLAT_VF = {"vendor_id": "8086", "product_id": "154c", "numa_node": 1,
           "count": 4, "dev_type": "type-VF", "physical_network": "physnet1"}
FLAT_PCI = {"vendor_id": "10de", "product_id": "1db4", "count": 2,
            "dev_type": "type-PCI"}


def pool_list():
    pools = pci.PciDevicePoolList.from_dicts([FLAT_VF, FLAT_PCI])
    pools.obj_reset_changes(recursive=True)
    return pools


# --- flat dicts --------------------------------------------------------------

def test_from_dict_puts_unknown_keys_in_tags():
    pool = pci.PciDevicePool.from_dict(FLAT_VF)
    assert (pool.vendor_id, pool.product_id, pool.numa_node, pool.count) == \
        ("8086", "154c", 1, 4)
    assert pool.tags == {"dev_type": "type-VF", "physical_network": "physnet1"}
    assert pool.dev_type == "type-VF"


def test_from_dict_does_not_change_its_argument():
    flat = dict(FLAT_VF)
    pci.PciDevicePool.from_dict(flat)
    assert flat == FLAT_VF


def test_to_dict_flattens_tags_back():
    assert pci.PciDevicePool.from_dict(FLAT_VF).to_dict() == FLAT_VF


def test_pool_without_numa_node_has_none():
    pool = pci.PciDevicePool.from_dict(FLAT_PCI)
    assert pool.numa_node is None
    assert pool.to_dict() == dict(FLAT_PCI, numa_node=None)


def test_tag_values_become_strings():
    pool = pci.PciDevicePool.from_dict(dict(FLAT_PCI, remote_managed=1))
    assert pool.tags["remote_managed"] == "1"


def test_pool_without_dev_type_tag_has_none():
    pool = pci.PciDevicePool(vendor_id="8086", product_id="1", count=1)
    assert pool.dev_type is None


@pytest.mark.parametrize("missing", ["vendor_id", "product_id", "count"])
def test_from_dict_requires_the_identity_keys(missing):
    flat = {k: v for k, v in FLAT_VF.items() if k != missing}
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        pci.PciDevicePool.from_dict(flat)
    assert err.value.field == missing


@pytest.mark.parametrize("key,value,field", [
    ("count", -1, "count"), ("count", "many", "count"),
    ("numa_node", -1, "numa_node"), ("physical_network", None, "tags"),
    ("physical_network", ["a"], "tags"),
])
def test_bad_pool_values_raise_naming_the_field(key, value, field):
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        pci.PciDevicePool.from_dict(dict(FLAT_VF, **{key: value}))
    assert (err.value.objname, err.value.field) == ("PciDevicePool", field)


def test_unknown_pool_field_raises():
    with pytest.raises(exception.UnknownObjectField) as err:
        pci.PciDevicePool(vendor_id="1", product_id="2", count=1,
                          dev_type="type-PF")
    assert err.value.field == "dev_type"


# --- versions ----------------------------------------------------------------

VF_DATA_1_1 = {"vendor_id": "8086", "product_id": "154c", "numa_node": 1,
               "count": 4, "tags": {"dev_type": "type-VF",
                                    "physical_network": "physnet1"}}
PCI_DATA_1_1 = {"vendor_id": "10de", "product_id": "1db4", "numa_node": None,
                "count": 2, "tags": {"dev_type": "type-PCI"}}


def without_numa(data):
    return {k: v for k, v in data.items() if k != "numa_node"}


def test_pool_backport_to_1_0_drops_numa_node():
    pool = pci.PciDevicePool.from_dict(FLAT_VF)
    pool.obj_reset_changes()
    assert pool.obj_to_primitive("1.0") == prim(
        "PciDevicePool", "1.0", without_numa(VF_DATA_1_1))
    assert pool.obj_to_primitive("1.1") == prim(
        "PciDevicePool", "1.1", VF_DATA_1_1)


def test_pool_list_at_1_1_holds_pools_at_1_1():
    assert pool_list().obj_to_primitive() == prim(
        "PciDevicePoolList", "1.1", {"objects": [
            prim("PciDevicePool", "1.1", VF_DATA_1_1),
            prim("PciDevicePool", "1.1", PCI_DATA_1_1)]})


def test_pool_list_version_alone_sets_the_pool_version():
    assert pool_list().obj_to_primitive("1.0") == prim(
        "PciDevicePoolList", "1.0", {"objects": [
            prim("PciDevicePool", "1.0", without_numa(VF_DATA_1_1)),
            prim("PciDevicePool", "1.0", without_numa(PCI_DATA_1_1))]})


def test_pool_list_backport_follows_a_manifest():
    manifest = {"PciDevicePoolList": "1.1", "PciDevicePool": "1.0"}
    assert pool_list().obj_to_primitive("1.1", manifest) == prim(
        "PciDevicePoolList", "1.1", {"objects": [
            prim("PciDevicePool", "1.0", without_numa(VF_DATA_1_1)),
            prim("PciDevicePool", "1.0", without_numa(PCI_DATA_1_1))]})


# --- JSON --------------------------------------------------------------------

def test_pool_list_round_trips_through_primitive_and_json():
    pools = pool_list()
    assert pci.PciDevicePoolList.obj_from_primitive(
        pools.obj_to_primitive()) == pools
    again = pci.PciDevicePoolList.from_json(pools.to_json())
    assert again.to_dicts() == [FLAT_VF, dict(FLAT_PCI, numa_node=None)]


def test_pool_list_loads_a_legacy_list_of_flat_dicts():
    again = pci.PciDevicePoolList.from_json(jsonutils.dumps([FLAT_VF]))
    assert again.to_dicts() == [FLAT_VF]


def test_json_keeps_tags_that_look_like_primitive_keys():
    flat = dict(FLAT_PCI, **{"hoststate_object.changes": "x", "a.changes": "y"})
    again = pci.PciDevicePoolList.from_json(
        pci.PciDevicePoolList.from_dicts([flat]).to_json())
    assert again.to_dicts() == [dict(flat, numa_node=None)]


def test_empty_pool_list_round_trips():
    again = pci.PciDevicePoolList.from_json(
        pci.PciDevicePoolList(objects=[]).to_json())
    assert len(again) == 0


def test_pool_list_from_json_rejects_other_documents():
    with pytest.raises(exception.ObjectActionError):
        pci.PciDevicePoolList.from_json('{"objects": []}')


# --- requests ----------------------------------------------------------------

def requests():
    reqs = pci.InstancePCIRequests(instance_uuid=UUID, requests=[
        pci.InstancePCIRequest(count=2, spec=[{"vendor_id": "8086",
                                               "product_id": "154c"}],
                               alias_name="nic", numa_policy="PREFERRED"),
        pci.InstancePCIRequest(count=1, spec=[{"physical_network": "net1"}],
                               request_id=UUID),
    ])
    reqs.obj_reset_changes(recursive=True)
    return reqs


def test_request_defaults_and_canonical_values():
    first, second = requests().requests
    assert first.numa_policy == "preferred"
    assert first.request_id is None
    assert second.alias_name is None
    assert second.request_id == UUID


def test_requests_primitive_is_exact():
    assert requests().obj_to_primitive() == prim(
        "InstancePCIRequests", "1.0", {"instance_uuid": UUID, "requests": [
            prim("InstancePCIRequest", "1.0", {
                "count": 2, "spec": [{"vendor_id": "8086",
                                      "product_id": "154c"}],
                "alias_name": "nic", "request_id": None,
                "numa_policy": "preferred"}),
            prim("InstancePCIRequest", "1.0", {
                "count": 1, "spec": [{"physical_network": "net1"}],
                "alias_name": None, "request_id": UUID,
                "numa_policy": None})]})


def test_requests_round_trip_through_json():
    reqs = requests()
    again = pci.InstancePCIRequests.from_json(reqs.to_json())
    assert again == reqs


@pytest.mark.parametrize("field,value", [
    ("count", 0), ("count", -1), ("spec", {"vendor_id": "1"}),
    ("spec", [{"vendor_id": ["1"]}]), ("numa_policy", "strict"),
    ("request_id", "port-1"),
])
def test_bad_request_values_raise_naming_the_field(field, value):
    values = {"count": 1, "spec": []}
    values[field] = value
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        pci.InstancePCIRequest(**values)
    assert (err.value.objname, err.value.field) == ("InstancePCIRequest",
                                                    field)
