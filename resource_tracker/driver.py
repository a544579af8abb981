"""The virt-driver protocol: what a resource tracker asks of a hypervisor.

A driver manages one or more *nodes* (a node is a ``compute_nodes`` row,
named by its ``hypervisor_hostname``; one libvirt host is one node, one
Ironic conductor many). Every update period the tracker calls
:meth:`VirtDriver.get_available_nodes` and, for each node,
:meth:`VirtDriver.get_available_resource`, whose dict it checks with
:func:`validate_resources` before copying it into the node
(``ComputeNode.update_from_virt_driver``).

The resource dict a driver returns (units: MiB, GiB, CPU count)::

    vcpus                    int   CPUs of the node
    memory_mb                int   MiB of memory
    local_gb                 int   GiB of local instance storage
    vcpus_used               int   as the hypervisor sees them
    memory_mb_used           int
    local_gb_used            int
    hypervisor_type          str   e.g. "fake", "linux"
    hypervisor_version       int   major*1000000 + minor*1000 + patch
    hypervisor_hostname      str   the node name
    cpu_info                 str   JSON: arch, model, vendor, topology,
                                   features
    numa_topology            NUMATopology or None
    pci_passthrough_devices  list of dicts {address, vendor_id, product_id,
                                            numa_node, dev_type, ...}
    supported_instances      list of [arch, hv_type, vm_mode]
    disk_available_least     int or None   GiB still free on disk
    uuid                     str or None   the node uuid, when the driver
                                           knows it (else the tracker uses
                                           the local node uuid)
    traits                   list of str   the node's traits: CPU flags
                                           (HW_CPU_X86_*) and what the
                                           driver supports (COMPUTE_*);
                                           optional, absent means none

Trait names are standard (os-traits) or ``CUSTOM_*``
(``hoststate.objects.traits``); the tracker stores them as the node's
``driver_traits``, beside the traits operators add.

The ``*_used`` values are what the hypervisor says; the tracker recomputes
usage from the instances it tracks, so they only seed a new node.

Host operations (power, maintenance, enable) are optional: the defaults
raise :class:`NotSupportedByDriver`, which is also a ``NotImplementedError``.
"""
import abc
import typing

from hoststate.objects import traits as traits_mod
from hoststate.resource_tracker.exception import DriverResourcesInvalid
from hoststate.resource_tracker.exception import NotSupportedByDriver
from hoststate.resource_tracker.exception import VirtNodeNotFound

__all__ = [
    "HOST_POWER_ACTIONS", "REQUIRED_RESOURCE_KEYS", "RESOURCE_KEYS",
    "DriverProtocol", "VirtDriver", "validate_resources",
    "NotSupportedByDriver", "DriverResourcesInvalid", "VirtNodeNotFound",
]

#: Keys the tracker cannot work without (Nova's ``_verify_resources``).
REQUIRED_RESOURCE_KEYS = (
    "vcpus", "memory_mb", "local_gb", "cpu_info", "vcpus_used",
    "memory_mb_used", "local_gb_used", "numa_topology",
)

#: Every key a driver of this package returns from get_available_resource.
RESOURCE_KEYS = (
    "vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used",
    "local_gb_used", "hypervisor_type", "hypervisor_version",
    "hypervisor_hostname", "cpu_info", "numa_topology",
    "pci_passthrough_devices", "supported_instances",
    "disk_available_least", "uuid", "traits",
)

#: Actions of ``host_power_action`` (os-hosts startup/shutdown/reboot).
HOST_POWER_ACTIONS = ("startup", "shutdown", "reboot")


@typing.runtime_checkable
class DriverProtocol(typing.Protocol):
    """What the resource tracker and compute loop call on a driver.

    Any object with these members is a driver; :class:`VirtDriver` is a
    base class that supplies the optional ones.
    """

    #: True when nodes may move between compute services (Ironic's hash
    #: ring); the compute loop then expects nodes to come and go.
    rebalances_nodes: bool

    def get_available_nodes(self) -> list[str]:
        ...

    def get_available_resource(self, nodename: str) -> dict:
        ...

    def node_is_available(self, nodename: str) -> bool:
        ...

    def is_node_deleted(self, nodename: str) -> bool:
        ...

    def host_power_action(self, action: str) -> str:
        ...

    def host_maintenance_mode(self, host: str, mode: bool) -> str:
        ...

    def set_host_enabled(self, enabled: bool) -> str:
        ...


class VirtDriver(abc.ABC):
    """Base of hoststate's drivers: two abstract methods, sane defaults."""

    rebalances_nodes = False

    @property
    def name(self) -> str:
        """How errors name this driver (its class name)."""
        return type(self).__name__

    @abc.abstractmethod
    def get_available_nodes(self) -> list[str]:
        """Names of the nodes this driver manages now."""

    @abc.abstractmethod
    def get_available_resource(self, nodename: str) -> dict:
        """The resource dict of ``nodename`` (see the module docstring).

        Raises :class:`VirtNodeNotFound` for a node it does not manage.
        """

    def node_is_available(self, nodename: str) -> bool:
        """Whether ``nodename`` may take new instances (Nova's default:
        it is one of the available nodes)."""
        return nodename in self.get_available_nodes()

    def is_node_deleted(self, nodename: str) -> bool:
        """True only when the driver knows ``nodename`` is gone for good.

        A node that is merely missing from :meth:`get_available_nodes` (a
        rebalance, a hiccup) must not be reported deleted: the compute loop
        destroys the node record of a deleted node.
        """
        return False

    # -- optional host operations ------------------------------------------

    def host_power_action(self, action: str) -> str:
        """Start up, shut down or reboot the host; returns ``action``."""
        raise NotSupportedByDriver(driver=self.name,
                                   operation="host_power_action")

    def host_maintenance_mode(self, host: str, mode: bool) -> str:
        """Put the host in or out of maintenance; returns
        ``"on_maintenance"`` or ``"off_maintenance"``."""
        raise NotSupportedByDriver(driver=self.name,
                                   operation="host_maintenance_mode")

    def set_host_enabled(self, enabled: bool) -> str:
        """Let the host take instances or not; returns ``"enabled"`` or
        ``"disabled"``."""
        raise NotSupportedByDriver(driver=self.name,
                                   operation="set_host_enabled")

    # -- helpers for subclasses -------------------------------------------

    def _node_not_found(self, nodename):
        return VirtNodeNotFound(driver=self.name, nodename=nodename)


def validate_resources(resources, nodename=None):
    """Check that ``resources`` has every required key; return it.

    Only presence is checked, as Nova does (``cpu_info`` and
    ``numa_topology`` may be None). Raises :class:`DriverResourcesInvalid`
    whose ``missing`` attribute lists the absent keys in
    :data:`REQUIRED_RESOURCE_KEYS` order. Reported ``traits`` must be
    trait names (``InvalidTrait`` naming the node and the first that is
    not), so a bad one is refused before the node is written.
    """
    if not isinstance(resources, typing.Mapping):
        raise DriverResourcesInvalid(
            nodename=nodename, missing=list(REQUIRED_RESOURCE_KEYS),
            message="Virt driver resources of node %s are a %s, not a dict"
                    % (nodename, type(resources).__name__))
    missing = [key for key in REQUIRED_RESOURCE_KEYS if key not in resources]
    if missing:
        raise DriverResourcesInvalid(nodename=nodename, missing=missing)
    traits = resources.get("traits")
    if traits:
        field = "traits of node %s" % (
            nodename or resources.get("hypervisor_hostname"))
        if isinstance(traits, (str, bytes, typing.Mapping)):
            raise traits_mod.InvalidTrait(
                field=field, value=traits,
                reason="a list of trait names is required")
        traits_mod.check(traits, field)
    return resources
