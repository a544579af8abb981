"""A virt driver with made-up nodes, for tests and simulations.

Each node is a :class:`NodeInventory`; tests change them while trackers run
(``add_node``, ``remove_node``, ``set_available``, ``set_inventory``). A
node reports the ``traits`` its inventory names (none by default; e.g.
``set_inventory(name, traits=["HW_CPU_X86_AVX2"])``).
Every call takes one lock, so trackers of many nodes may call the driver
from many threads, and every returned value is a copy: a caller changing
the NUMA topology it got does not change the driver's.

Host operations are all supported, as in Nova's fake driver: the state is
recorded in :attr:`FakeDriver.host_enabled`,
:attr:`FakeDriver.maintenance_mode` and :attr:`FakeDriver.power_actions`.
(The linux driver supports none of them, which is the unsupported path.)
"""
import copy
import dataclasses
import logging
import os
import threading
import time
import uuid as uuidlib

from hoststate import exception
from hoststate.objects import numa
from hoststate.resource_tracker import driver

__all__ = ["NodeInventory", "FakeDriver", "numa_host"]

LOG = logging.getLogger(__name__)

#: Namespace of the node uuids :meth:`FakeDriver.uniform` derives from names.
FAKE_NODE_NAMESPACE = uuidlib.UUID("2b3c6d0e-8f4a-5e21-9c7d-0a1b2c3d4e5f")
#: seconds each spawn takes (a float, default 0), read at each spawn: how
#: the fault tests hold an agent process mid-build (tests/functional/
#: conductor/test_faults.py)
SPAWN_SECONDS_ENV = "HOSTSTATE_FAKE_SPAWN_SECONDS"


@dataclasses.dataclass
class NodeInventory:
    """What a fake node reports. Units: MiB, GiB, CPU count."""

    vcpus: int
    memory_mb: int
    local_gb: int
    vcpus_used: int = 0
    memory_mb_used: int = 0
    local_gb_used: int = 0
    hypervisor_type: str = "fake"
    hypervisor_version: int = 1000
    cpu_info: str = "{}"
    numa_topology: numa.NUMATopology | None = None
    pci_devices: list = dataclasses.field(default_factory=list)
    supported_instances: list = dataclasses.field(
        default_factory=lambda: [["x86_64", "fake", "hvm"]])
    uuid: str | None = None
    disk_available_least: int | None = None
    traits: list = dataclasses.field(default_factory=list)

    def copy(self):
        """A deep copy (NUMA topology and PCI dicts included)."""
        return NodeInventory(**{
            f.name: _copy_value(getattr(self, f.name))
            for f in dataclasses.fields(self)})


def _copy_value(value):
    if isinstance(value, numa.NUMATopology):
        return value.obj_clone()
    return copy.deepcopy(value)


def _as_inventory(value):
    if isinstance(value, NodeInventory):
        return value.copy()
    return NodeInventory(**value).copy()


class FakeDriver(driver.VirtDriver):
    """Nodes from a dict ``nodename -> NodeInventory`` (or kwargs dict)."""

    def __init__(self, nodes=None):
        self._lock = threading.RLock()
        self._nodes = {name: _as_inventory(inv)
                       for name, inv in (nodes or {}).items()}
        self._unavailable = set()
        self._deleted = set()
        self._failing_builds = set()
        #: (instance uuid, nodename) of each spawn, in order, and of each
        #: spawn that failed (fail_builds)
        self.spawned = []
        self.failed_spawns = []
        self.host_enabled = True
        self.maintenance_mode = False
        #: host_power_action calls, in order
        self.power_actions = []

    @classmethod
    def uniform(cls, n, prefix="node", uuids=True, **inventory):
        """``n`` identical nodes ``<prefix>1`` .. ``<prefix><n>``.

        ``inventory`` holds :class:`NodeInventory` fields (each node gets
        its own copy). With ``uuids`` (the default) every node reports a
        uuid derived from its name (uuid5), so runs are reproducible: give
        each simulated host its own ``prefix`` so names, and so uuids, stay
        unique. With ``uuids=False`` nodes report ``uuid`` None.
        """
        if "uuid" in inventory:
            raise TypeError("uniform() nodes cannot share one uuid")
        template = NodeInventory(**inventory)
        nodes = {}
        for index in range(1, n + 1):
            name = "%s%d" % (prefix, index)
            node = template.copy()
            if uuids:
                node.uuid = str(uuidlib.uuid5(FAKE_NODE_NAMESPACE, name))
            nodes[name] = node
        return cls(nodes)

    # -- protocol -----------------------------------------------------------

    def get_available_nodes(self):
        with self._lock:
            return list(self._nodes)

    def get_available_resource(self, nodename):
        with self._lock:
            try:
                node = self._nodes[nodename]
            except KeyError:
                raise self._node_not_found(nodename) from None
            node = node.copy()
        return {
            "vcpus": node.vcpus,
            "memory_mb": node.memory_mb,
            "local_gb": node.local_gb,
            "vcpus_used": node.vcpus_used,
            "memory_mb_used": node.memory_mb_used,
            "local_gb_used": node.local_gb_used,
            "hypervisor_type": node.hypervisor_type,
            "hypervisor_version": node.hypervisor_version,
            "hypervisor_hostname": nodename,
            "cpu_info": node.cpu_info,
            "numa_topology": node.numa_topology,
            "pci_passthrough_devices": node.pci_devices,
            "supported_instances": node.supported_instances,
            "disk_available_least": node.disk_available_least,
            "uuid": node.uuid,
            "traits": sorted(set(node.traits)),
        }

    def node_is_available(self, nodename):
        with self._lock:
            return (nodename in self._nodes
                    and nodename not in self._unavailable)

    def is_node_deleted(self, nodename):
        with self._lock:
            return nodename in self._deleted

    def host_power_action(self, action):
        """Record the action (nothing to power here); returns it."""
        if action not in driver.HOST_POWER_ACTIONS:
            raise ValueError(f"host power action must be one of "
                             f"{', '.join(driver.HOST_POWER_ACTIONS)}, not "
                             f"{action!r}")
        with self._lock:
            self.power_actions.append(action)
        return action

    def host_maintenance_mode(self, host, mode):
        with self._lock:
            self.maintenance_mode = bool(mode)
        return "on_maintenance" if mode else "off_maintenance"

    def set_host_enabled(self, enabled):
        with self._lock:
            self.host_enabled = bool(enabled)
        return "enabled" if enabled else "disabled"

    def spawn(self, instance, nodename):
        """Start ``instance`` on ``nodename``: nothing to start here, unless
        the node was told to fail its builds (``fail_builds``); it takes
        ``$HOSTSTATE_FAKE_SPAWN_SECONDS`` seconds, outside the lock."""
        seconds = float(os.environ.get(SPAWN_SECONDS_ENV) or 0)
        if seconds:
            LOG.info("fake spawn of instance %s on node %s: %s s",
                     instance.uuid, nodename, seconds)
            time.sleep(seconds)
        with self._lock:
            if nodename in self._failing_builds:
                self.failed_spawns.append((instance.uuid, nodename))
                raise exception.BuildFailed(
                    instance=instance.uuid, node=nodename,
                    reason="the fake driver was told to fail builds here")
            self.spawned.append((instance.uuid, nodename))

    # -- test mutators ----------------------------------------------------

    def fail_builds(self, nodename, failing=True):
        """Make every spawn on ``nodename`` fail (or succeed again)."""
        with self._lock:
            (self._failing_builds.add if failing
             else self._failing_builds.discard)(nodename)

    def add_node(self, nodename, inventory):
        """Add (or replace) a node; a node once deleted comes back."""
        inventory = _as_inventory(inventory)
        with self._lock:
            self._nodes[nodename] = inventory
            self._deleted.discard(nodename)
            self._unavailable.discard(nodename)

    def remove_node(self, nodename, deleted=True):
        """Stop reporting ``nodename``.

        With ``deleted`` (the default) the node is gone for good and
        :meth:`is_node_deleted` says so; without, it merely disappeared
        (as a node rebalanced to another host does).
        """
        with self._lock:
            if nodename not in self._nodes:
                raise self._node_not_found(nodename)
            del self._nodes[nodename]
            self._unavailable.discard(nodename)
            if deleted:
                self._deleted.add(nodename)

    def set_available(self, nodename, available):
        """Make :meth:`node_is_available` answer ``available``; the node
        stays in :meth:`get_available_nodes` either way."""
        with self._lock:
            if nodename not in self._nodes:
                raise self._node_not_found(nodename)
            if available:
                self._unavailable.discard(nodename)
            else:
                self._unavailable.add(nodename)

    def set_inventory(self, nodename, **changes):
        """Change fields of a node's inventory (TypeError if one is not a
        NodeInventory field)."""
        with self._lock:
            if nodename not in self._nodes:
                raise self._node_not_found(nodename)
            changes = {k: _copy_value(v) for k, v in changes.items()}
            self._nodes[nodename] = dataclasses.replace(
                self._nodes[nodename], **changes)

    def inventory(self, nodename):
        """A copy of a node's current inventory."""
        with self._lock:
            if nodename not in self._nodes:
                raise self._node_not_found(nodename)
            return self._nodes[nodename].copy()


def numa_host(cells=2, cores_per_cell=4, threads_per_core=2,
              memory_mb_per_cell=8192, dedicated_per_cell=0,
              hugepages_2m_per_cell=0):
    """A NUMATopology shaped like a real host's.

    CPUs are numbered cell by cell and core by core: cell ``c``, core
    ``k``, thread ``t`` is CPU ``(c * cores_per_cell + k) *
    threads_per_core + t``, so a core's threads are consecutive
    (``siblings``). The last ``dedicated_per_cell`` CPUs of each cell are
    dedicated (``pcpuset``), the others shared (``cpuset``): a multiple of
    ``threads_per_core`` dedicates whole cores. Cell ``c`` sits on socket
    ``c``. Each cell has ``memory_mb_per_cell`` MiB, of which
    ``hugepages_2m_per_cell`` 2 MiB pages; the rest are 4 KiB pages (both
    sizes are always listed, as hosts report them).
    """
    cpus_per_cell = cores_per_cell * threads_per_core
    if not 0 <= dedicated_per_cell <= cpus_per_cell:
        raise ValueError("dedicated_per_cell must be within 0..%d, not %d"
                         % (cpus_per_cell, dedicated_per_cell))
    huge_kb = hugepages_2m_per_cell * 2048
    memory_kb = memory_mb_per_cell * 1024
    if huge_kb > memory_kb:
        raise ValueError("%d 2 MiB pages do not fit in %d MiB"
                         % (hugepages_2m_per_cell, memory_mb_per_cell))
    result = []
    for cell_id in range(cells):
        first = cell_id * cpus_per_cell
        cpus = list(range(first, first + cpus_per_cell))
        split = cpus_per_cell - dedicated_per_cell
        siblings = [set(cpus[i:i + threads_per_core])
                    for i in range(0, cpus_per_cell, threads_per_core)]
        result.append(numa.NUMACell(
            id=cell_id, socket=cell_id,
            cpuset=set(cpus[:split]), pcpuset=set(cpus[split:]),
            memory=memory_mb_per_cell, siblings=siblings,
            mempages=[
                numa.NUMAPagesTopology(size_kb=4,
                                       total=(memory_kb - huge_kb) // 4),
                numa.NUMAPagesTopology(size_kb=2048,
                                       total=hugepages_2m_per_cell),
            ]))
    topology = numa.NUMATopology(cells=result)
    topology.obj_reset_changes(recursive=True)
    return topology
