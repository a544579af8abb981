"""What one instance takes from a node, and the arithmetic on a node.

A ``Consumption`` is everything a claim took: cpus, memory, disk, the NUMA
cells and pinned cpus it was fitted to, and the PCI devices it was given.
``fit`` decides whether a consumption fits a node (listing every reason it
does not), ``apply`` adds or removes one on a ComputeNode. The claim path
and the periodic update both use these, so a claim and the next recount
agree to the unit. The cpu, memory and disk check is the capacity rule of
``hardware.capacity``; a "does not fit" answer is a list of its
Shortfalls (resource "numa" or "pci" for the NUMA and PCI fits).
"""
import dataclasses

from oslo_serialization import jsonutils

from hoststate.hardware import capacity
from hoststate.hardware import numa as hw_numa
from hoststate.hardware import pci as hw_pci
from hoststate.hardware import usage as hw_usage
from hoststate.objects import allocation as allocation_obj
from hoststate.objects import fields as obj_fields
from hoststate.objects import numa as numa_obj


@dataclasses.dataclass(frozen=True)
class Consumption:
    vcpus: int
    memory_mb: int
    disk_gb: int
    numa_topology: object = None      # fitted InstanceNUMATopology, or None
    pci_requests: object = None       # InstancePCIRequests, or None
    pci_allocation: object = None     # hw_pci allocation taken, or None

    @classmethod
    def of(cls, flavor, is_bfv=False, numa_topology=None, pci_requests=None,
           pci_allocation=None):
        """What ``flavor`` takes. Disk counts whole GiB, swap rounded up.

        Nova adds swap as a fraction of a GiB and truncates the node's
        total; rounding each instance up instead keeps claims (which add
        one instance at a time) and the periodic recount (which adds them
        all) exactly equal, and never under-counts.
        """
        wanted = capacity.Wanted.of_usage(
            hw_usage.usage_from_flavor(flavor, is_bfv=is_bfv))
        return cls(vcpus=wanted.vcpus, memory_mb=wanted.memory_mb,
                   disk_gb=wanted.disk_gb,
                   numa_topology=numa_topology, pci_requests=pci_requests,
                   pci_allocation=pci_allocation)

    def with_fit(self, numa_topology, pci_allocation):
        return dataclasses.replace(self, numa_topology=numa_topology,
                                   pci_allocation=pci_allocation)

    def with_requests(self, pci_requests):
        return dataclasses.replace(self, pci_requests=pci_requests)

    @classmethod
    def held(cls, allocation):
        """What a ledger row (an Allocation, or an allocations row
        mapping) holds: exactly what giving it back returns."""
        if isinstance(allocation, allocation_obj.Allocation):
            numa = allocation.obj_get("numa_topology")
            pci = allocation.pci_allocation_dict()
        else:
            numa = None if allocation["numa_topology"] is None else \
                obj_fields.load_json(numa_obj.InstanceNUMATopology,
                                     allocation["numa_topology"])
            pci = None if allocation["pci_allocation"] is None else \
                jsonutils.loads(allocation["pci_allocation"])
        return cls(
            vcpus=_value(allocation, "vcpus"),
            memory_mb=_value(allocation, "memory_mb"),
            disk_gb=_value(allocation, "disk_gb"), numa_topology=numa,
            pci_allocation=None if not pci else
            hw_pci.Allocation.from_dict(pci))

    def ledger_row(self, consumer_uuid, instance_uuid, node_id):
        """The allocations row that records this consumption (column
        values, without id and timestamps)."""
        return {
            "consumer_uuid": consumer_uuid, "instance_uuid": instance_uuid,
            "compute_node_id": node_id, "vcpus": int(self.vcpus),
            "memory_mb": int(self.memory_mb), "disk_gb": int(self.disk_gb),
            "numa_topology": None if self.numa_topology is None else
            obj_fields.dump_json(self.numa_topology),
            "pci_allocation": allocation_obj.pci_text(
                None if self.pci_allocation is None
                else self.pci_allocation.to_dict()),
        }


def _value(allocation, name):
    """A column of a ledger row: an Allocation's field, else the mapping's
    key (asked in that order: ``hasattr(row, "obj_get")`` on a SQLAlchemy
    row mapping takes its slow missing-key path)."""
    if isinstance(allocation, allocation_obj.Allocation):
        return getattr(allocation, name)
    return allocation[name]


def fit(node, wanted, requested_numa, conf=None):
    """Check ``wanted`` against ``node``: (fitted consumption, shortfalls).

    ``requested_numa`` is the instance's NUMA request (None for none).
    ``conf`` resolves a ratio the node leaves unset (see
    ``capacity.node_ratios``). The fitted consumption carries the NUMA
    cells and pinning chosen and the PCI devices that would be taken
    (chosen together, see :func:`fit_devices`); nothing on ``node``
    changes.
    """
    shortfalls = capacity.node_shortfalls(node, wanted, conf)
    name = node.obj_get("hypervisor_hostname")
    host_topology = node.obj_get("numa_topology")
    if requested_numa is not None and host_topology is None:
        shortfalls.append(capacity.Shortfall(
            "numa", node=name, detail="the instance needs a NUMA "
            "topology and the node has none"))
        requested_numa = None
    limits = None if requested_numa is None else _numa_limits(node, conf)
    devices = fit_devices(host_topology, requested_numa, limits,
                          wanted.pci_requests,
                          node.obj_get("pci_device_pools"))
    shortfalls.extend(capacity.Shortfall("numa", node=name, detail=r)
                      for r in devices.numa_reasons)
    if devices.pci_refused:
        shortfalls.append(capacity.Shortfall(
            "pci", node=name, detail="no free devices match "
            f"{_describe(wanted.pci_requests)}"))
    return wanted.with_fit(devices.numa_topology,
                           devices.allocation), shortfalls


def _numa_limits(node, conf):
    """The per-cell limits of ``node``: its cpu and ram ratios."""
    ratios = capacity.node_ratios(node, conf)
    return numa_obj.NUMATopologyLimits(
        cpu_allocation_ratio=ratios["cpu_allocation_ratio"],
        ram_allocation_ratio=ratios["ram_allocation_ratio"])


@dataclasses.dataclass(frozen=True)
class DeviceFit:
    """The NUMA cells and PCI devices one instance would take on a node.

    ``numa_topology`` is the placed InstanceNUMATopology (None without a
    NUMA request or when it does not fit: ``numa_reasons`` say why);
    ``allocation`` the devices taken (None without PCI requests or when
    they cannot be met: ``pci_refused``); ``stats`` the node's pools with
    the allocation taken out (None when nothing was asked for)."""

    numa_topology: object
    numa_reasons: list
    allocation: object
    pci_refused: bool
    stats: object


def fit_devices(host_topology, requested_numa, limits, pci_requests, pools):
    """Fit the NUMA request and the PCI requests to a node together.

    ``host_topology`` is the node's NUMATopology (None: no NUMA request
    may be given), ``pools`` its free PCI pools (a PciDevicePoolList, a
    list or None). The NUMA fit sees the PCI requests and the pools
    (``numa_fit``: cells with devices first, a placement taken only if
    its cells serve the devices), then the devices are taken on the
    cells it chose - or, when the guest asks for no NUMA placement or
    does not fit, with no cells. The tracker's claim and the scheduler's
    claim and in-memory consumption all fit through here."""
    wants_pci = _has_pci(pci_requests)
    if requested_numa is None and not wants_pci:
        return DeviceFit(None, [], None, False, None)
    stats = hw_pci.PciDeviceStats.from_pools(pools)
    placed, reasons = None, []
    if requested_numa is not None:
        placed, reasons = hw_numa.fit_instance_to_host(
            host_topology, requested_numa, limits,
            pci_requests=pci_requests, pci_stats=stats)
    allocation, refused = None, False
    if wants_pci:
        try:
            allocation = stats.apply_requests(
                pci_requests, _cell_ids(placed), host_topology)
        except hw_pci.PciDeviceRequestFailed:
            refused = True
    return DeviceFit(placed, reasons, allocation, refused, stats)


def apply(node, consumption, sign):
    """Add (sign +1) or remove (sign -1) ``consumption`` on ``node``."""
    add_scalars(node, consumption.vcpus * sign, consumption.memory_mb * sign,
                consumption.disk_gb * sign)
    apply_devices(node, consumption, sign)


def add_scalars(node, vcpus, memory_mb, disk_gb):
    """Add to the node's used cpus, memory and disk (never below zero)."""
    for name, value in counters_after(node, vcpus, memory_mb,
                                      disk_gb).items():
        setattr(node, name, value)


def counters_after(node, vcpus, memory_mb, disk_gb):
    """{column: value} of the used counters of ``node`` (a ComputeNode or
    a compute_nodes row mapping) after adding the amounts (negative to
    give back; never below zero), and the free ones that follow."""
    used = {name: max(0, capacity.node_field(node, name) + amount)
            for name, amount in (("vcpus_used", vcpus),
                                 ("memory_mb_used", memory_mb),
                                 ("local_gb_used", disk_gb))}
    return {**used, **_free_counters(node, used)}


def apply_devices(node, consumption, sign):
    """Add or remove the NUMA cells, pinned cpus and PCI devices taken."""
    if consumption.numa_topology is not None and \
            node.obj_get("numa_topology") is not None:
        node.numa_topology = hw_numa.usage_from_instance(
            node.numa_topology, consumption.numa_topology, free=sign < 0)
    if consumption.pci_allocation is not None:
        # Stored pools say only what is free: to give devices back, the
        # stats must first learn that this allocation holds them.
        pools = node.obj_get("pci_device_pools")
        if sign < 0:
            stats = hw_pci.PciDeviceStats.from_pools(
                pools, [consumption.pci_allocation])
            stats.free(consumption.pci_allocation)
        else:
            stats = hw_pci.PciDeviceStats.from_pools(pools)
            stats.take(consumption.pci_allocation)
        node.pci_device_pools = stats.to_pool_list()


def refresh_free(node):
    """free_ram_mb and free_disk_gb from totals and used (may go negative)."""
    used = {name: getattr(node, name) for name in ("memory_mb_used",
                                                   "local_gb_used")}
    for name, value in _free_counters(node, used).items():
        setattr(node, name, value)


def _free_counters(node, used):
    """free_ram_mb and free_disk_gb of ``node`` with ``used`` counters."""
    return {"free_ram_mb": capacity.node_field(node, "memory_mb")
            - used["memory_mb_used"],
            "free_disk_gb": capacity.node_field(node, "local_gb")
            - used["local_gb_used"]}


def _has_pci(requests):
    if requests is None:
        return False
    items = getattr(requests, "requests", requests)
    return bool(items)


def _cell_ids(instance_topology):
    if instance_topology is None:
        return None
    return [cell.id for cell in instance_topology.cells]


def _describe(requests):
    items = getattr(requests, "requests", requests)
    return ", ".join(f"{r.count} x {r.spec}" for r in items)
