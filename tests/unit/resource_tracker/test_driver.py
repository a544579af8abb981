"""The virt-driver protocol: defaults, errors, and resource validation."""
import pytest

from hoststate import exception as base_exception
from hoststate.resource_tracker import driver
from hoststate.resource_tracker import exception


class MinimalDriver(driver.VirtDriver):
    """Only the two abstract methods."""

    def __init__(self, nodes=("n1", "n2")):
        self.nodes = list(nodes)

    def get_available_nodes(self):
        return list(self.nodes)

    def get_available_resource(self, nodename):
        if nodename not in self.nodes:
            raise self._node_not_found(nodename)
        return full_resources(hypervisor_hostname=nodename)


def full_resources(**changes):
    resources = {
        "vcpus": 4, "memory_mb": 2048, "local_gb": 20, "vcpus_used": 0,
        "memory_mb_used": 0, "local_gb_used": 0, "hypervisor_type": "fake",
        "hypervisor_version": 1000, "hypervisor_hostname": "n1",
        "cpu_info": "{}", "numa_topology": None,
        "pci_passthrough_devices": [], "supported_instances": [],
        "disk_available_least": None, "uuid": None, "traits": [],
    }
    resources.update(changes)
    return resources


# --- the abstract base -------------------------------------------------------

def test_virt_driver_is_abstract():
    with pytest.raises(TypeError):
        driver.VirtDriver()


def test_defaults():
    drv = MinimalDriver()
    assert drv.rebalances_nodes is False
    assert drv.name == "MinimalDriver"
    # node_is_available defaults to "is one of the available nodes"
    assert drv.node_is_available("n1") is True
    assert drv.node_is_available("n3") is False
    # a node is never deleted unless a driver knows better
    assert drv.is_node_deleted("n1") is False
    assert drv.is_node_deleted("gone") is False


def test_node_is_available_follows_the_node_list():
    drv = MinimalDriver()
    drv.nodes.remove("n2")
    assert drv.node_is_available("n2") is False


@pytest.mark.parametrize("operation, args", [
    ("host_power_action", ("reboot",)),
    ("host_maintenance_mode", ("host1", True)),
    ("set_host_enabled", (False,)),
])
def test_host_operations_are_not_supported_by_default(operation, args):
    with pytest.raises(exception.NotSupportedByDriver) as err:
        getattr(MinimalDriver(), operation)(*args)
    assert err.value.driver == "MinimalDriver"
    assert err.value.operation == operation
    assert str(err.value) == (
        "Virt driver MinimalDriver does not support %s" % operation)
    # callers that know Nova's convention catch NotImplementedError
    assert isinstance(err.value, NotImplementedError)
    assert isinstance(err.value, base_exception.HoststateError)


def test_unknown_node_is_a_typed_not_found():
    with pytest.raises(exception.VirtNodeNotFound) as err:
        MinimalDriver().get_available_resource("nope")
    assert (err.value.driver, err.value.nodename) == ("MinimalDriver", "nope")
    assert str(err.value) == "Virt driver MinimalDriver has no node nope"
    assert isinstance(err.value, base_exception.NotFound)
    assert isinstance(err.value, LookupError)


def test_errors_are_exported_from_driver():
    assert driver.NotSupportedByDriver is exception.NotSupportedByDriver
    assert driver.DriverResourcesInvalid is exception.DriverResourcesInvalid


# --- the protocol ------------------------------------------------------------

def test_base_class_satisfies_the_protocol():
    assert isinstance(MinimalDriver(), driver.DriverProtocol)


def test_duck_typed_driver_satisfies_the_protocol():
    class Duck:
        rebalances_nodes = True

        def get_available_nodes(self):
            return []

        def get_available_resource(self, nodename):
            return {}

        def node_is_available(self, nodename):
            return False

        def is_node_deleted(self, nodename):
            return False

        def host_power_action(self, action):
            return action

        def host_maintenance_mode(self, host, mode):
            return "off_maintenance"

        def set_host_enabled(self, enabled):
            return "enabled"

    assert isinstance(Duck(), driver.DriverProtocol)


def test_object_missing_members_is_not_a_driver():
    class Half:
        rebalances_nodes = False

        def get_available_nodes(self):
            return []

    assert not isinstance(Half(), driver.DriverProtocol)


# --- validate_resources ------------------------------------------------------

def test_validate_resources_accepts_a_full_dict_and_returns_it():
    resources = full_resources()
    assert driver.validate_resources(resources, "n1") is resources


def test_validate_resources_accepts_only_the_required_keys():
    resources = {key: 0 for key in driver.REQUIRED_RESOURCE_KEYS}
    assert driver.validate_resources(resources) is resources


def test_validate_resources_allows_none_values():
    # Nova checks presence only: cpu_info and numa_topology may be None
    driver.validate_resources(full_resources(cpu_info=None,
                                             numa_topology=None))


def test_validate_resources_names_missing_keys_in_order():
    resources = full_resources()
    for key in ("numa_topology", "vcpus", "local_gb_used"):
        del resources[key]
    with pytest.raises(exception.DriverResourcesInvalid) as err:
        driver.validate_resources(resources, "n1")
    # in REQUIRED_RESOURCE_KEYS order, not deletion order
    assert err.value.missing == ["vcpus", "local_gb_used", "numa_topology"]
    assert err.value.nodename == "n1"
    assert str(err.value) == (
        "Virt driver resources of node n1 are missing required keys: "
        "vcpus, local_gb_used, numa_topology")
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("key", driver.REQUIRED_RESOURCE_KEYS)
def test_validate_resources_requires_each_key(key):
    resources = full_resources()
    del resources[key]
    with pytest.raises(exception.DriverResourcesInvalid) as err:
        driver.validate_resources(resources)
    assert err.value.missing == [key]


def test_validate_resources_ignores_optional_keys():
    resources = full_resources()
    for key in set(driver.RESOURCE_KEYS) - set(driver.REQUIRED_RESOURCE_KEYS):
        del resources[key]
    driver.validate_resources(resources)


def test_validate_resources_rejects_a_non_dict():
    with pytest.raises(exception.DriverResourcesInvalid) as err:
        driver.validate_resources(None, "n1")
    assert err.value.missing == list(driver.REQUIRED_RESOURCE_KEYS)
    assert "NoneType" in str(err.value)


def test_required_keys_are_nova_verify_resources_keys():
    assert set(driver.REQUIRED_RESOURCE_KEYS) == {
        "vcpus", "memory_mb", "local_gb", "cpu_info", "vcpus_used",
        "memory_mb_used", "local_gb_used", "numa_topology"}
    assert set(driver.REQUIRED_RESOURCE_KEYS) <= set(driver.RESOURCE_KEYS)
