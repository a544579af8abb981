"""FakeDriver: nodes, mutators, host operations, copies, threads; numa_host."""
import threading
import uuid

import pytest

from hoststate.objects import compute_node
from hoststate.objects import hv_spec
from hoststate.objects import numa
from hoststate.resource_tracker import driver
from hoststate.resource_tracker import exception
from hoststate.resource_tracker import fake_driver
from hoststate.resource_tracker.fake_driver import FakeDriver
from hoststate.resource_tracker.fake_driver import NodeInventory


def two_nodes():
    return FakeDriver({
        "n1": NodeInventory(vcpus=4, memory_mb=4096, local_gb=40),
        "n2": NodeInventory(vcpus=8, memory_mb=8192, local_gb=80,
                            uuid="6f7c4f5e-9d1b-4a57-9a43-1c3f5a1d2e01"),
    })


# --- reporting -------------------------------------------------------------

def test_reports_every_key_of_the_protocol():
    resources = two_nodes().get_available_resource("n1")
    assert set(resources) == set(driver.RESOURCE_KEYS)
    assert driver.validate_resources(resources, "n1") is resources
    assert resources == {
        "vcpus": 4, "memory_mb": 4096, "local_gb": 40,
        "vcpus_used": 0, "memory_mb_used": 0, "local_gb_used": 0,
        "hypervisor_type": "fake", "hypervisor_version": 1000,
        "hypervisor_hostname": "n1", "cpu_info": "{}",
        "numa_topology": None, "pci_passthrough_devices": [],
        "supported_instances": [["x86_64", "fake", "hvm"]],
        "disk_available_least": None, "uuid": None, "traits": [],
    }


def test_reports_the_uuid_it_was_given():
    resources = two_nodes().get_available_resource("n2")
    assert resources["uuid"] == "6f7c4f5e-9d1b-4a57-9a43-1c3f5a1d2e01"
    assert resources["hypervisor_hostname"] == "n2"


def test_nodes_and_availability():
    drv = two_nodes()
    assert drv.get_available_nodes() == ["n1", "n2"]
    assert drv.node_is_available("n1") and drv.node_is_available("n2")
    assert not drv.node_is_available("n3")
    assert not drv.is_node_deleted("n1")
    assert drv.rebalances_nodes is False


def test_unknown_node():
    with pytest.raises(exception.VirtNodeNotFound) as err:
        two_nodes().get_available_resource("n3")
    assert str(err.value) == "Virt driver FakeDriver has no node n3"


def test_nodes_may_be_given_as_dicts():
    drv = FakeDriver({"n1": {"vcpus": 2, "memory_mb": 512, "local_gb": 1,
                             "hypervisor_type": "kvm"}})
    assert drv.get_available_resource("n1")["hypervisor_type"] == "kvm"


def test_empty_driver():
    drv = FakeDriver()
    assert drv.get_available_nodes() == []


# --- uniform -----------------------------------------------------------------

def test_uniform_names_and_inventory():
    drv = FakeDriver.uniform(3, vcpus=16, memory_mb=65536, local_gb=500)
    assert drv.get_available_nodes() == ["node1", "node2", "node3"]
    for name in drv.get_available_nodes():
        resources = drv.get_available_resource(name)
        assert (resources["vcpus"], resources["memory_mb"],
                resources["local_gb"]) == (16, 65536, 500)


def test_uniform_uuids_are_distinct_and_reproducible():
    first = FakeDriver.uniform(3, prefix="hostA-n", vcpus=1, memory_mb=1,
                               local_gb=1)
    again = FakeDriver.uniform(3, prefix="hostA-n", vcpus=1, memory_mb=1,
                               local_gb=1)
    other = FakeDriver.uniform(3, prefix="hostB-n", vcpus=1, memory_mb=1,
                               local_gb=1)

    def uuids(drv):
        return [drv.get_available_resource(n)["uuid"]
                for n in drv.get_available_nodes()]

    assert uuids(first) == uuids(again)
    assert len(set(uuids(first)) | set(uuids(other))) == 6
    assert uuids(first)[0] == str(uuid.uuid5(
        fake_driver.FAKE_NODE_NAMESPACE, "hostA-n1"))


def test_uniform_without_uuids():
    drv = FakeDriver.uniform(2, uuids=False, vcpus=1, memory_mb=1,
                             local_gb=1)
    assert drv.get_available_resource("node1")["uuid"] is None


def test_uniform_refuses_one_shared_uuid():
    with pytest.raises(TypeError):
        FakeDriver.uniform(2, vcpus=1, memory_mb=1, local_gb=1,
                           uuid="6f7c4f5e-9d1b-4a57-9a43-1c3f5a1d2e01")


def test_uniform_nodes_do_not_share_a_numa_topology():
    template = fake_driver.numa_host()
    drv = FakeDriver.uniform(2, vcpus=16, memory_mb=16384, local_gb=1,
                             numa_topology=template)
    stored = [drv._nodes[n].numa_topology for n in ("node1", "node2")]
    assert stored[0] is not stored[1]
    assert all(topology is not template for topology in stored)
    template.cells[0].memory_usage = 5
    assert drv.inventory("node1").numa_topology.cells[0].memory_usage == 0


# --- copies ------------------------------------------------------------------

def test_returned_values_are_copies():
    pci = [{"address": "0000:00:01.0", "vendor_id": "8086",
            "product_id": "1521", "numa_node": 0, "dev_type": "type-PCI"}]
    drv = FakeDriver({"n1": NodeInventory(
        vcpus=16, memory_mb=16384, local_gb=1,
        numa_topology=fake_driver.numa_host(dedicated_per_cell=2),
        pci_devices=pci)})
    pci[0]["numa_node"] = 1  # the caller's list was copied at construction
    got = drv.get_available_resource("n1")
    got["numa_topology"].cells[0].pin_cpus({6, 7})
    got["pci_passthrough_devices"].append({"address": "x"})
    got["supported_instances"].clear()
    fresh = drv.get_available_resource("n1")
    assert fresh["numa_topology"].cells[0].pinned_cpus == set()
    assert fresh["pci_passthrough_devices"] == [
        {"address": "0000:00:01.0", "vendor_id": "8086",
         "product_id": "1521", "numa_node": 0, "dev_type": "type-PCI"}]
    assert fresh["supported_instances"] == [["x86_64", "fake", "hvm"]]


# --- mutators ----------------------------------------------------------------

def test_add_node():
    drv = two_nodes()
    drv.add_node("n3", NodeInventory(vcpus=1, memory_mb=512, local_gb=1))
    assert drv.get_available_nodes() == ["n1", "n2", "n3"]
    assert drv.get_available_resource("n3")["vcpus"] == 1


def test_remove_node_deleted_for_good():
    drv = two_nodes()
    drv.remove_node("n1")
    assert drv.get_available_nodes() == ["n2"]
    assert drv.is_node_deleted("n1")
    assert not drv.node_is_available("n1")
    with pytest.raises(exception.VirtNodeNotFound):
        drv.get_available_resource("n1")


def test_remove_node_not_deleted_just_gone():
    # a rebalanced node disappears but is not deleted
    drv = two_nodes()
    drv.remove_node("n1", deleted=False)
    assert drv.get_available_nodes() == ["n2"]
    assert not drv.is_node_deleted("n1")


def test_a_deleted_node_added_again_is_no_longer_deleted():
    drv = two_nodes()
    drv.remove_node("n1")
    drv.add_node("n1", {"vcpus": 2, "memory_mb": 1, "local_gb": 1})
    assert not drv.is_node_deleted("n1")
    assert drv.node_is_available("n1")


def test_remove_unknown_node():
    with pytest.raises(exception.VirtNodeNotFound):
        two_nodes().remove_node("n9")


def test_set_available():
    drv = two_nodes()
    drv.set_available("n1", False)
    assert not drv.node_is_available("n1")
    # still reported: unavailable is not removed
    assert drv.get_available_nodes() == ["n1", "n2"]
    drv.set_available("n1", True)
    assert drv.node_is_available("n1")
    with pytest.raises(exception.VirtNodeNotFound):
        drv.set_available("n9", True)


def test_set_inventory():
    drv = two_nodes()
    drv.set_inventory("n1", vcpus=32, memory_mb_used=1024,
                      disk_available_least=12)
    resources = drv.get_available_resource("n1")
    assert (resources["vcpus"], resources["memory_mb_used"],
            resources["disk_available_least"], resources["memory_mb"]) == (
        32, 1024, 12, 4096)


def test_set_inventory_rejects_unknown_fields_and_nodes():
    drv = two_nodes()
    with pytest.raises(TypeError):
        drv.set_inventory("n1", vcpu=3)
    with pytest.raises(exception.VirtNodeNotFound):
        drv.set_inventory("n9", vcpus=3)
    assert drv.get_available_resource("n1")["vcpus"] == 4


def test_set_inventory_copies_the_topology():
    drv = two_nodes()
    topology = fake_driver.numa_host(cells=1)
    drv.set_inventory("n1", numa_topology=topology)
    topology.cells[0].memory_usage = 100
    assert drv.inventory("n1").numa_topology.cells[0].memory_usage == 0


# --- host operations ---------------------------------------------------------

def test_set_host_enabled_is_recorded():
    drv = two_nodes()
    assert drv.host_enabled is True
    assert drv.set_host_enabled(False) == "disabled"
    assert drv.host_enabled is False
    assert drv.set_host_enabled(True) == "enabled"
    assert drv.host_enabled is True


def test_maintenance_mode_is_recorded():
    drv = two_nodes()
    assert drv.maintenance_mode is False
    assert drv.host_maintenance_mode("host1", True) == "on_maintenance"
    assert drv.maintenance_mode is True
    assert drv.host_maintenance_mode("host1", False) == "off_maintenance"
    assert drv.maintenance_mode is False


def test_power_actions_are_recorded_and_returned():
    drv = two_nodes()
    assert [drv.host_power_action(a) for a in ("shutdown", "startup",
                                               "reboot")] == [
        "shutdown", "startup", "reboot"]
    assert drv.power_actions == ["shutdown", "startup", "reboot"]


def test_unknown_power_action_is_refused_naming_it():
    drv = two_nodes()
    with pytest.raises(ValueError) as err:
        drv.host_power_action("hibernate")
    assert str(err.value) == ("host power action must be one of startup, "
                              "shutdown, reboot, not 'hibernate'")
    assert drv.power_actions == []


def test_is_a_driver():
    assert isinstance(two_nodes(), driver.DriverProtocol)


# --- what a node record makes of it ------------------------------------------

def test_node_record_takes_the_report():
    drv = FakeDriver.uniform(1, vcpus=16, memory_mb=16384, local_gb=100,
                             numa_topology=fake_driver.numa_host())
    resources = drv.get_available_resource("node1")
    node = compute_node.ComputeNode()
    node.update_from_virt_driver(resources)
    assert (node.vcpus, node.memory_mb, node.local_gb,
            node.hypervisor_hostname, node.uuid) == (
        16, 16384, 100, "node1", resources["uuid"])
    specs = [hv_spec.HVSpec.from_list(t)
             for t in resources["supported_instances"]]
    assert specs[0].to_list() == ["x86_64", "fake", "hvm"]


# --- threads -----------------------------------------------------------------

def test_concurrent_use():
    """Trackers of many nodes call one driver while a test mutates it."""
    drv = FakeDriver.uniform(8, vcpus=4, memory_mb=4096, local_gb=10,
                             numa_topology=fake_driver.numa_host(cells=1))
    errors = []
    start = threading.Barrier(9)

    def tracker(name):
        try:
            start.wait()
            for _ in range(200):
                resources = drv.get_available_resource(name)
                assert resources["vcpus"] in range(4, 400)
                assert drv.node_is_available(name)
                drv.get_available_nodes()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def mutator():
        try:
            start.wait()
            for i in range(200):
                drv.set_inventory("node%d" % (i % 8 + 1), vcpus=4 + i)
                drv.add_node("extra", {"vcpus": 1, "memory_mb": 1,
                                       "local_gb": 1})
                drv.remove_node("extra")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=tracker, args=("node%d" % i,))
               for i in range(1, 9)] + [threading.Thread(target=mutator)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert drv.is_node_deleted("extra")
    # the last write to node8 was i=199
    assert drv.get_available_resource("node8")["vcpus"] == 4 + 199


# --- numa_host ---------------------------------------------------------------

def test_numa_host_defaults():
    topology = fake_driver.numa_host()
    # 2 cells x 4 cores x 2 threads = 8 CPUs a cell, consecutive threads
    assert [c.id for c in topology.cells] == [0, 1]
    cell0, cell1 = topology.cells
    assert cell0.cpuset == set(range(0, 8))
    assert cell1.cpuset == set(range(8, 16))
    assert cell0.pcpuset == cell1.pcpuset == set()
    assert cell0.siblings == [{0, 1}, {2, 3}, {4, 5}, {6, 7}]
    assert cell1.siblings == [{8, 9}, {10, 11}, {12, 13}, {14, 15}]
    assert (cell0.socket, cell1.socket) == (0, 1)
    assert cell0.memory == 8192
    # 8192 MiB = 8388608 KiB = 2097152 pages of 4 KiB; no 2 MiB pages
    assert [(p.size_kb, p.total, p.used, p.reserved)
            for p in cell0.mempages] == [(4, 2097152, 0, 0), (2048, 0, 0, 0)]
    assert topology.has_threads
    assert topology.obj_what_changed() == set()


def test_numa_host_dedicated_and_hugepages():
    topology = fake_driver.numa_host(cells=2, cores_per_cell=2,
                                     threads_per_core=2,
                                     memory_mb_per_cell=4096,
                                     dedicated_per_cell=2,
                                     hugepages_2m_per_cell=512)
    cell0, cell1 = topology.cells
    # 4 CPUs a cell; the last 2 (one whole core) are dedicated
    assert (cell0.cpuset, cell0.pcpuset) == ({0, 1}, {2, 3})
    assert (cell1.cpuset, cell1.pcpuset) == ({4, 5}, {6, 7})
    # 512 pages of 2 MiB = 1024 MiB; the other 3072 MiB = 786432 x 4 KiB
    assert [(p.size_kb, p.total) for p in cell1.mempages] == [
        (4, 786432), (2048, 512)]
    assert cell0.memory == 4096
    assert cell0.can_fit_pagesize(2048, 1024 * 1024)


def test_numa_host_without_smt():
    topology = fake_driver.numa_host(cells=1, cores_per_cell=3,
                                     threads_per_core=1)
    assert topology.cells[0].siblings == [{0}, {1}, {2}]
    assert not topology.has_threads


@pytest.mark.parametrize("kwargs", [
    {"dedicated_per_cell": 9},
    {"dedicated_per_cell": -1},
    {"memory_mb_per_cell": 1024, "hugepages_2m_per_cell": 513},
])
def test_numa_host_rejects_impossible_shapes(kwargs):
    with pytest.raises(ValueError):
        fake_driver.numa_host(**kwargs)


def test_numa_host_round_trips_through_json():
    topology = fake_driver.numa_host(dedicated_per_cell=4,
                                     hugepages_2m_per_cell=10)
    again = numa.NUMATopology.from_json(topology.to_json())
    assert again.to_json() == topology.to_json()
    assert again.cells[1].pcpuset == {12, 13, 14, 15}
